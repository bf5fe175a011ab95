// Package snapshottest is the test suite every Snapshotter must pass:
// prepare/commit/view chains that really mount and show the right files,
// deletions and opaque directories across layers, removal rules, usage,
// labels and walk filters, error cases that leave nothing behind, and
// recovery from a crash half-way through. It is test support only.
package snapshottest
