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
// The container log is one JSON object per line, as Docker's json-file
// driver writes it: {"log":"text\n","stream":"stdout"|"stderr","time":
// RFC3339Nano UTC}; lines over 16 KiB are split into entries without a
// trailing newline; the file is rotated by size to PATH.1, PATH.2, … (at
// most LogMaxFiles files in all) — see package shim/logs, whose Read the
// daemon uses for `logs --tail --since -f`. The daemon side is package
// shim/client; docs/shim.md describes the state directory and protocol. The shim knows one container only:
// never images, snapshots, networks or other containers, and it never touches
// namespaces or cgroup limits itself (the runtime does).
package shim
