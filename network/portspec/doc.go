// Package portspec parses docker-style port publishing specs
// ("[ip:][hostPort:]containerPort[/tcp|udp]", with ranges like
// "8000-8001:80-81") into port mappings for the CNI portmap plugin. It is a
// pure parser of user input: it never opens sockets, checks whether a port is
// free, or talks to the kernel; every error names the spec it rejected.
package portspec
