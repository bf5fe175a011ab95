// Package store is the part every directory-based snapshotter shares: the
// backend's own bbolt records (key → id, kind, parent, labels, usage), the
// <root>/snapshots/<id> directories, crash-safe creation and removal, and
// the cleanup of directories no record names. A Driver supplies what differs
// between backends (how a new snapshot's directory is filled, which mounts it
// returns). It must not know about namespaces, images or content.
package store
