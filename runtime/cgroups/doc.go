// Package cgroups places a container's processes in Linux control groups and
// applies the runtime-spec linux.resources to them, on cgroup v1, hybrid (v1
// controllers plus a cgroup2 mount at <root>/unified) and pure cgroup v2 hosts.
// It creates, configures, freezes, reads statistics from and removes the
// container's cgroup directories, and on v2 builds and attaches the eBPF device
// filter. It never kills processes on its own (Destroy only removes empty
// directories; Kill is an explicit cgroup.kill for the caller), never forks,
// and never touches anything outside the cgroup filesystem named by
// Config.Root; it writes only the control files for resources that are set.
//
// Hierarchies are found from one readdir of Config.Root (a directory with a
// cgroup.procs file is a v1 hierarchy; "a,b" names give both controllers), so
// mountinfo is never read; the result is cached per process. A resource whose
// controller is missing is an error naming the field, reported by New before
// anything is created; a missing controller nobody asks for is skipped.
//
// Paths: an absolute linux.cgroupsPath ("/a/b") is taken relative to the root
// of every hierarchy. A relative one ("a/b") is taken the same way, relative to
// the hierarchy roots, as runc does: the runtime-spec lets the runtime pick the
// base of a relative path, and the runtime's own cgroup is a poor base (it
// changes with whoever started the runtime). An empty one means /berth/<id>.
// A path that climbs out with ".." or names the root itself is rejected naming
// linux.cgroupsPath. Parent directories that Apply creates (like /berth) are
// left in place by Destroy, which removes only the container's own directory
// and anything below it.
//
// Devices: v1 gets "a" in devices.deny, then every rule in order (so an
// "allow all" rule switches the cgroup to default-allow, and later deny rules
// become exceptions, as the kernel defines). v2 gets an eBPF program (package
// ebpf) in which the last matching rule wins and nothing matching means deny;
// an allow rule must grant every access bit asked for, a deny rule matches if
// it names any of them. DefaultDeviceRules is the standard allowlist callers
// put around the spec's rules.
//
// Conversions on v2 (documented by runc and crun): cpu.weight = 1 +
// (shares−2)×9999/262142; io.weight = 1 + (blkio weight−10)×9999/990 (or the
// blkio weight itself into io.bfq.weight where that file exists);
// memory.swap.max = spec swap (memory+swap) − memory limit. Realtime CPU,
// net_cls/net_prio and leaf weights do not exist on v2: the first two are
// errors, leaf weights (and kernel-memory limits, swappiness,
// disableOOMKiller) are ignored with a warning. On v1 leaf weights are
// skipped with a warning where the kernel lacks CFQ, and a kernel-memory limit
// the kernel accepts but does not keep (5.16+) is reported the same way.
//
// On cgroup v2, settings without a runtime-spec field (memory.high,
// memory.oom.group, cpu.weight.nice, ...) go through linux.resources.unified,
// written verbatim after the converted fields so they win.
package cgroups
