// Package linuxproc sets the in-container attributes of the process berth-runtime
// is about to exec: hostname, sysctls, rlimits, oom_score_adj, personality, I/O
// priority, scheduler, umask and user identity, plus safe opening of procfs files
// (OpenProc refuses anything that is not the real procfs). Its functions act on
// the calling thread or process only; it must not create namespaces, mounts or
// cgroups, and it never runs on the host side of the runtime.
package linuxproc
