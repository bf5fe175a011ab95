// Package shime2e holds berth-shim's end-to-end tests, run as root against
// the real kernel: the container lifecycle through shim/client with
// berth-runtime and with runc, logs and rotation, stdin, terminals, exec,
// reconnection after the client went away, recovery after the shim was
// killed, pause/resume, stats, OOM events, and many shims at once (with
// their memory). Each test uses unique ids and temp dirs and removes every
// process, cgroup and state directory it made, on failure paths too.
package shime2e
