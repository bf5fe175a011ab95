// Package cgroups places a container's processes in Linux control groups and
// applies the runtime-spec linux.resources to them, on cgroup v1, hybrid (v1
// controllers plus a cgroup2 mount at <root>/unified) and pure cgroup v2 hosts.
// It creates, configures, freezes, reads statistics from and removes the
// container's cgroup directories, and on v2 builds and attaches the eBPF device
// filter. It never kills processes (Destroy only removes empty directories),
// never forks, and never touches anything outside the cgroup filesystem named
// by Config.Root; it writes only the control files for resources that are set.
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
// On cgroup v2, settings without a runtime-spec field (memory.high,
// memory.oom.group, cpu.weight.nice, ...) go through linux.resources.unified,
// written verbatim after the converted fields so they win.
package cgroups
