// Package initproc is the Go code that runs inside the container as berth-runtime's
// hidden `init` subcommand, after the C stage (runtime/nsexec) has put the process
// in its namespaces. For a new container it builds the root filesystem, runs the
// in-container hooks, sets up the terminal, process attributes, user, capabilities
// and seccomp, then blocks on the exec fifo until `start` and execs the user
// program; for `exec` it does the process part only. It talks to the parent over
// the sync socket with typed JSON messages. It must not touch cgroups, the state
// directory or anything outside the container beyond what the parent hands it.
package initproc
