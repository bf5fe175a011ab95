// Package metadata is Berth's transactional record of what exists: one bbolt
// file holding, per namespace, images, the blobs and snapshots the namespace
// references, and leases. It wraps the shared content store and the backend
// snapshotters in namespaced views (a blob or snapshot is visible in a
// namespace only if referenced there) and runs garbage collection and the
// orphan check over them. It never fetches, unpacks or mounts anything.
package metadata
