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
// of every hierarchy. A relative one ("a/b") is taken relative to the cgroup of
// the calling runtime process as read from /proc/self/cgroup, as the
// runtime-spec says; an empty one means /berth/<id> (absolute). A path that
// climbs out with ".." is rejected naming linux.cgroupsPath.
package cgroups
