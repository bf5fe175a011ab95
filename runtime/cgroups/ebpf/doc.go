// Package ebpf builds and attaches the cgroup v2 device filter: a
// BPF_PROG_TYPE_CGROUP_DEVICE program compiled in Go from the runtime-spec
// device rules, loaded and attached to a cgroup directory with the bpf(2)
// syscall directly. It knows nothing else of cgroups and never loads any other
// kind of program; it must not be given rules it has not validated.
package ebpf
