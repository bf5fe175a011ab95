// Package shim is berth-shim: the parent of one container's processes once
// the OCI runtime (berth-runtime, runc or crun) has exited. It runs the
// runtime's create/start/exec/kill/pause/resume/update/delete commands, is a
// child subreaper so it reaps the container's init and exec processes (and
// orphans), owns their stdio — stdout and stderr are pipes (or a pty master
// received through the console socket) copied to a log file in the JSON-lines
// format of package shim/logs and to attached clients, stdin a pipe kept open
// until CloseStdin — records each exit atomically in the state directory
// (exit.json, exec-<id>.exit.json) before reporting it, reads stats and OOM
// events from the container's cgroup, and serves a small length-prefixed JSON
// API (see proto.go) on a unix socket so the daemon can go away and reconnect.
// The daemon side is package shim/client. The shim knows one container only:
// never images, snapshots, networks or other containers, and it never touches
// namespaces or cgroup limits itself (the runtime does).
package shim
