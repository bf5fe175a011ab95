package metadata

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/gc"
	"github.com/berth-containers/berth/images"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/leases"
	"github.com/berth-containers/berth/snapshot"
)

// DB is the metadata database over the shared stores.
type DB struct {
	db           *bolt.DB
	cs           content.Store
	snapshotters map[string]snapshot.Snapshotter
}

// NewDB opens (creating) the bbolt file at path over cs and snapshotters
// (by name, e.g. "overlayfs", "native").
func NewDB(path string, cs content.Store, snapshotters map[string]snapshot.Snapshotter) (*DB, error) {
	return nil, errdefs.ErrNotImplemented
}

// ContentStore returns the namespaced content store.
func (db *DB) ContentStore() content.Store { return nil }

// Snapshotter returns the namespaced view of the named snapshotter, nil if unknown.
func (db *DB) Snapshotter(name string) snapshot.Snapshotter { return nil }

// Images returns the image store.
func (db *DB) Images() images.Store { return nil }

// Leases returns the lease manager.
func (db *DB) Leases() leases.Manager { return nil }

// GarbageCollect marks from every root and sweeps what nothing references.
func (db *DB) GarbageCollect(ctx context.Context) (gc.Stats, error) {
	return gc.Stats{}, errdefs.ErrNotImplemented
}

// RootSource adds GC roots for namespace ns (containers register one).
// It runs inside the collector's read transaction.
type RootSource func(ctx context.Context, tx *bolt.Tx, ns string, emit func(gc.Node)) error

// RegisterRootSource adds a source of GC roots under name.
func (db *DB) RegisterRootSource(name string, src RootSource) {}

// View runs fn in a read transaction (for packages keeping their own
// buckets in the same file, e.g. containers).
func (db *DB) View(fn func(*bolt.Tx) error) error { return db.db.View(fn) }

// Update runs fn in a write transaction.
func (db *DB) Update(fn func(*bolt.Tx) error) error { return db.db.Update(fn) }

// Orphans is what is on disk but not in the metadata.
type Orphans struct {
	Blobs     []content.Info      // blobs no namespace references
	Snapshots map[string][]string // snapshotter → backend keys no namespace references
	Ingests   []content.Status    // ingests older than the cutoff held by no lease or writer
	Dangling  []string            // records whose blob or snapshot is gone (reported, not removed)
}

// CheckOptions tune Check.
type CheckOptions struct {
	// IngestAge: ingests not updated for this long are stale (default 24h).
	IngestAge time.Duration
}

// Check finds orphans without changing anything.
func (db *DB) Check(ctx context.Context, opts CheckOptions) (Orphans, error) {
	return Orphans{}, errdefs.ErrNotImplemented
}

// RemoveOrphans finds orphans and removes them, returning what it removed.
func (db *DB) RemoveOrphans(ctx context.Context, opts CheckOptions) (Orphans, error) {
	return Orphans{}, errdefs.ErrNotImplemented
}

// Close closes the database (not the stores).
func (db *DB) Close() error { return db.db.Close() }
