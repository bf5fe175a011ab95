// Package network holds Berth's end-to-end networking tests: real network
// namespaces, Debian's CNI plugins, iptables and host connections, with leak
// checks after every detach. Tests need root; they use their own subnets in
// 10.232.0.0/16 and their own bridge names so they run beside other packages.
package network
