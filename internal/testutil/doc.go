// Package testutil holds helpers shared by Berth's tests: locating the built
// binaries, requiring root or a host tool loudly (never skipping silently), and
// building small busybox root filesystems and OCI bundles without the internet.
// It is imported only from _test.go files.
package testutil
