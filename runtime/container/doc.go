// Package container is berth-runtime's lifecycle library: create, start, run,
// state, kill, delete, exec, list, ps, pause, resume, update and events on OCI
// containers kept under a state root. It spawns init processes through the C
// stage (runtime/nsexec), drives them over the sync socket, runs the runtime-side
// hooks, manages cgroups through runtime/cgroups and records state with
// runtime/state. It must not parse command lines or print for humans (cmd does),
// and it must leave nothing behind when an operation fails.
package container
