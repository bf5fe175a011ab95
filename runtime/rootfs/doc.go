// Package rootfs builds a container's root filesystem inside its new mount
// namespace: it binds the bundle's rootfs onto itself, performs the spec's
// mounts in order (every target resolved inside the root, never through a
// symlink that leads out of it), creates devices, pivots into the new root and
// finally applies masked and read-only paths. Privileged calls go through the
// Sys seam so the mount plan can be tested without root. It must not touch
// the host's mount namespace, cgroups, processes or the runtime's state.
package rootfs
