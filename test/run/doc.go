// Package run holds Berth's end-to-end tests of `berth run`: each test
// starts its own berthd (own root, state, socket and bridge), loads a
// busybox image built from Debian's busybox-static, and drives containers
// through the berth CLI, berth-shim and berth-runtime on the real kernel.
// They need root; they leave no container, shim, mount, network namespace
// or state directory behind, on failure paths too.
package run
