package metadata

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/gc"
	"github.com/berth-containers/berth/images"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/namespaces"
	"github.com/berth-containers/berth/leases"
	"github.com/berth-containers/berth/snapshot"
)

// Bucket layout (all under the top-level "v1" bucket):
//
//	v1/<namespace>/images/<name>                      → imageRecord (JSON)
//	v1/<namespace>/content/blob/<digest>             → blobRecord (JSON)
//	v1/<namespace>/content/ingest/<ref>              → ingestRecord (JSON)
//	v1/<namespace>/snapshots/<snapshotter>/<key>     → snapRecord (JSON)
//	v1/<namespace>/leases/<id>/meta                  → leaseRecord (JSON)
//	v1/<namespace>/leases/<id>/resources/<type>\n<id> → ""
//
// Other packages (containers) may keep buckets of their own under
// v1/<namespace>/<name> through View and Update.
var (
	bucketV1        = []byte("v1")
	bucketImages    = []byte("images")
	bucketContent   = []byte("content")
	bucketBlob      = []byte("blob")
	bucketIngest    = []byte("ingest")
	bucketSnapshots = []byte("snapshots")
	bucketLeases    = []byte("leases")
	bucketResources = []byte("resources")
	keyMeta         = []byte("meta")
)

// DB is the metadata database over the shared stores.
type DB struct {
	db           *bolt.DB
	cs           content.Store
	snapshotters map[string]snapshot.Snapshotter
	log          *slog.Logger

	// wlock orders reference-creating work (content commits, snapshot
	// creation: a backend change followed by a record) against garbage
	// collection, which holds it exclusively while it sweeps.
	wlock sync.RWMutex

	now func() time.Time // the clock leases expire by

	mu          sync.Mutex
	rootSources map[string]RootSource
	nsSnaps     map[string]*nsSnapshotter
}

// Option changes how NewDB opens the database.
type Option func(*DB)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(db *DB) { db.log = l } }

// NewDB opens (creating) the bbolt file at path over cs and snapshotters
// (by name, e.g. "overlayfs", "native"). Opening waits at most 5s for
// another process holding the file.
func NewDB(path string, cs content.Store, snapshotters map[string]snapshot.Snapshotter, opts ...Option) (*DB, error) {
	if cs == nil {
		return nil, fmt.Errorf("metadata: content store: nil: %w", errdefs.ErrInvalidArgument)
	}
	for name, sn := range snapshotters {
		if name == "" || sn == nil {
			return nil, fmt.Errorf("metadata: snapshotter %q: empty name or nil: %w", name, errdefs.ErrInvalidArgument)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("metadata %s: %w", path, err)
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("metadata %s: open: %w", path, err)
	}
	// Concurrent record writes (parallel layer downloads and unpacks) share
	// one commit and fsync; a lone caller waits at most this long.
	bdb.MaxBatchDelay = time.Millisecond
	if err := bdb.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketV1)
		return err
	}); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("metadata %s: %w", path, err)
	}
	db := &DB{
		db:           bdb,
		cs:           cs,
		snapshotters: snapshotters,
		log:          slog.Default(),
		now:          time.Now,
		rootSources:  map[string]RootSource{},
		nsSnaps:      map[string]*nsSnapshotter{},
	}
	for _, o := range opts {
		o(db)
	}
	return db, nil
}

// ContentStore returns the namespaced content store.
func (db *DB) ContentStore() content.Store { return &nsContent{db: db} }

// Snapshotter returns the namespaced view of the named snapshotter, nil if
// there is none by that name.
func (db *DB) Snapshotter(name string) snapshot.Snapshotter {
	db.mu.Lock()
	defer db.mu.Unlock()
	if s, ok := db.nsSnaps[name]; ok {
		return s
	}
	b, ok := db.snapshotters[name]
	if !ok {
		return nil
	}
	s := &nsSnapshotter{db: db, name: name, backend: b}
	db.nsSnaps[name] = s
	return s
}

// Images returns the image store.
func (db *DB) Images() images.Store { return &imageStore{db: db} }

// Leases returns the lease manager.
func (db *DB) Leases() leases.Manager { return &leaseManager{db: db} }

// RootSource adds GC roots for namespace ns (containers register one). It
// runs inside the collector's transaction (read-only for DiskUsage), must
// only read, and must not start another transaction.
type RootSource func(ctx context.Context, tx *bolt.Tx, ns string, emit func(gc.Node)) error

// RegisterRootSource adds (or, with the same name, replaces) a source of
// GC roots.
func (db *DB) RegisterRootSource(name string, src RootSource) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.rootSources[name] = src
}

// View runs fn in a read transaction (for packages keeping their own
// buckets in the same file, e.g. containers).
func (db *DB) View(fn func(*bolt.Tx) error) error { return db.db.View(fn) }

// Update runs fn in a write transaction.
func (db *DB) Update(fn func(*bolt.Tx) error) error { return db.db.Update(fn) }

// Namespaces lists the namespaces that have any record.
func (db *DB) Namespaces(ctx context.Context) ([]string, error) {
	var out []string
	err := db.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketV1).ForEachBucket(func(k []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}

// DeleteNamespace removes an empty namespace; one still holding images,
// content, snapshots or leases is refused (ErrFailedPrecondition).
func (db *DB) DeleteNamespace(ctx context.Context, ns string) error {
	if err := namespaces.Validate(ns); err != nil {
		return err
	}
	return db.db.Update(func(tx *bolt.Tx) error {
		nb := tx.Bucket(bucketV1).Bucket([]byte(ns))
		if nb == nil {
			return fmt.Errorf("namespace %q: %w", ns, errdefs.ErrNotFound)
		}
		var busy []string
		for _, path := range [][][]byte{{bucketImages}, {bucketContent, bucketBlob}, {bucketContent, bucketIngest}, {bucketLeases}} {
			if b := bucketPath(nb, path...); b != nil && !bucketEmpty(b) {
				busy = append(busy, string(path[len(path)-1]))
			}
		}
		if sb := nb.Bucket(bucketSnapshots); sb != nil {
			sb.ForEachBucket(func(k []byte) error {
				if !bucketEmpty(sb.Bucket(k)) {
					busy = append(busy, "snapshots/"+string(k))
				}
				return nil
			})
		}
		if len(busy) > 0 {
			return fmt.Errorf("namespace %q: still holds %v: %w", ns, busy, errdefs.ErrFailedPrecondition)
		}
		return tx.Bucket(bucketV1).DeleteBucket([]byte(ns))
	})
}

// Close closes the database (not the stores).
func (db *DB) Close() error { return db.db.Close() }

func bucketEmpty(b *bolt.Bucket) bool {
	k, _ := b.Cursor().First()
	return k == nil
}

// bucketPath returns the nested bucket at path below b, nil if absent.
func bucketPath(b *bolt.Bucket, path ...[]byte) *bolt.Bucket {
	for _, p := range path {
		if b == nil {
			return nil
		}
		b = b.Bucket(p)
	}
	return b
}

// nsBucket returns v1/<ns>/path…, nil if absent.
func nsBucket(tx *bolt.Tx, ns string, path ...[]byte) *bolt.Bucket {
	return bucketPath(tx.Bucket(bucketV1), append([][]byte{[]byte(ns)}, path...)...)
}

// createNSBucket returns v1/<ns>/path…, creating what is missing.
func createNSBucket(tx *bolt.Tx, ns string, path ...[]byte) (*bolt.Bucket, error) {
	b, err := tx.Bucket(bucketV1).CreateBucketIfNotExists([]byte(ns))
	if err != nil {
		return nil, err
	}
	for _, p := range path {
		if b, err = b.CreateBucketIfNotExists(p); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func putJSON(b *bolt.Bucket, key []byte, v interface{}) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

func getJSON(b *bolt.Bucket, key []byte, v interface{}) (bool, error) {
	if b == nil {
		return false, nil
	}
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("record %q: corrupt: %w", key, err)
	}
	return true, nil
}

func copyLabels(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// maxLabels bounds labels on any record: they come from API callers.
const (
	maxLabelsSize = 64 << 10
	maxKeyLen     = 4096
)

func validateLabels(what string, labels map[string]string) error {
	n := 0
	for k, v := range labels {
		if k == "" {
			return fmt.Errorf("%s: label with an empty key: %w", what, errdefs.ErrInvalidArgument)
		}
		n += len(k) + len(v)
	}
	if n > maxLabelsSize {
		return fmt.Errorf("%s: labels total %d bytes, more than %d: %w", what, n, maxLabelsSize, errdefs.ErrInvalidArgument)
	}
	return nil
}

func validateKey(what, key string) error {
	if key == "" || len(key) > maxKeyLen {
		return fmt.Errorf("%s %q: must be 1-%d bytes: %w", what, key, maxKeyLen, errdefs.ErrInvalidArgument)
	}
	return nil
}
