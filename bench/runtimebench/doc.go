// Command runtimebench times OCI runtimes (berth-runtime, runc, crun) against each
// other on one busybox bundle in one run: `run` of /bin/true, create+start+wait+delete,
// 100 sequential runs, 10 parallel runs, and the peak RSS of each runtime invocation
// (the runtime's own memory, taken from wait4's rusage, not the container's). Samples
// of the runtimes are interleaved so that load from other work on the machine falls on
// all of them alike. It is a measuring tool only: it must not change the bundle between
// runtimes, must not touch containers other than its own, and leaves nothing behind.
package main
