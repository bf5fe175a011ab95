// Package metadata is Berth's transactional record of what exists: one bbolt
// file holding, per namespace, images, the blobs and snapshots the namespace
// references, and leases. It wraps the shared content store and the backend
// snapshotters in namespaced views (a blob or snapshot is visible in a
// namespace only if recorded there) and runs garbage collection and the
// orphan check over them. It never fetches, unpacks or mounts anything, and
// nothing else may write to the backend stores behind its back: what the
// backends hold without a record here is garbage.
//
// Content. A namespace gets a blob's record by committing it (the bytes are
// verified even when another namespace already stored them; they are kept
// once) or through DB.AddContent. Ingests are per namespace: the shared
// store sees the ref "<namespace>/<ref>".
//
// Snapshots. Keys are per namespace; the backend sees "<namespace>/<random id>/<key>".
// Labels live in the record, not the backend.
//
// Garbage collection (GarbageCollect) marks, in every namespace, from:
//   - images: the target and, through indexes and manifests (OCI and Docker
//     schema2, parsed from the blobs, at most images.MaxDepth deep and
//     images.MaxChildren wide), every manifest, config and layer;
//   - leases not expired (leases.LabelExpire): every blob, ingest and
//     snapshot created under them (leases.WithLease on the context);
//   - blobs and snapshots labelled "berth.io/gc.root" (any value);
//   - root sources registered with RegisterRootSource (containers).
//
// and follows these references:
//   - "berth.io/gc.ref.content.<any>" = <digest> on a blob or snapshot;
//   - "berth.io/gc.ref.snapshot.<snapshotter>[.<any>]" = <key> on a blob or
//     snapshot (the unpacker puts it on the image config, naming the chain ID
//     of the top layer's snapshot);
//   - a snapshot's parent.
//
// Then it deletes every unmarked content and snapshot record, and from the
// shared stores every blob and snapshot no namespace has a record of.
// Active snapshots are not special: one that no lease, label or root source
// holds is collected, so unpacking and container creation must run under a
// lease. Expired leases are deleted. Ingests are left alone; the orphan
// check (Check, RemoveOrphans) removes stale ones, together with blobs and
// snapshots the backends hold without a record, stray files a crash left in
// the content store, and content records whose blob has gone.
package metadata
