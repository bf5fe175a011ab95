// Package runtimee2e holds berth-runtime's end-to-end tests, run as root against the
// real kernel: the drop-in tests (Podman, dockerd and containerd from Debian's
// packages driving berth-runtime in place of runc), the security regression tests
// (one per known container-escape class) and the bad-input tests (a clear error naming
// the field, a non-zero exit and nothing left behind). It only drives the built
// binaries from the outside; it must not import the runtime's packages, and every
// daemon, mount, cgroup and process a test starts is removed on every path out.
package runtimee2e
