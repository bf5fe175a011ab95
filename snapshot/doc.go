// Package snapshot defines the Snapshotter interface: filesystem snapshots
// addressed by key, each active (writable), a view (read-only) or committed
// (immutable, usable as a parent), returned as mounts rather than mounted.
// Implementations live in sub-packages (overlay, native); the shared test
// suite every implementation must pass is in snapshottest. This package must
// not know about images, content or namespaces: the metadata layer maps
// namespaced keys onto a backend's keys.
package snapshot
