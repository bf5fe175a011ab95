package metadata

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/gc"
	"github.com/berth-containers/berth/images"
	"github.com/berth-containers/berth/leases"
	"github.com/berth-containers/berth/snapshot"
)

// Labels that make references for the garbage collector (see doc.go).
const (
	// LabelGCRoot on a blob or snapshot (any value) keeps it.
	LabelGCRoot = "berth.io/gc.root"
	// LabelGCRefContent prefixes labels whose value is a digest the
	// labelled blob or snapshot keeps ("berth.io/gc.ref.content.<any>").
	LabelGCRefContent = "berth.io/gc.ref.content."
	// LabelGCRefSnapshot prefixes labels whose value is a snapshot key the
	// labelled blob or snapshot keeps: "berth.io/gc.ref.snapshot.<snapshotter>"
	// optionally followed by ".<any>".
	LabelGCRefSnapshot = "berth.io/gc.ref.snapshot."
)

func contentNode(ns string, d digest.Digest) gc.Node {
	return gc.Node{Type: gc.ResourceContent, Namespace: ns, Key: d.String()}
}

func snapshotNode(ns, snapshotter, key string) gc.Node {
	return gc.Node{Type: gc.ResourceSnapshot, Namespace: ns, Key: snapshotter + "/" + key}
}

// labelRefs emits what a record's labels reference.
func labelRefs(ns string, labels map[string]string, emit func(gc.Node)) {
	for k, v := range labels {
		switch {
		case strings.HasPrefix(k, LabelGCRefContent):
			if d := digest.Digest(v); d.Validate() == nil {
				emit(contentNode(ns, d))
			}
		case strings.HasPrefix(k, LabelGCRefSnapshot):
			name := strings.TrimPrefix(k, LabelGCRefSnapshot)
			if i := strings.IndexByte(name, '.'); i >= 0 {
				name = name[:i]
			}
			if name != "" && v != "" {
				emit(snapshotNode(ns, name, v))
			}
		}
	}
}

// roots collects every GC root in tx and, when tx is writable, deletes
// expired leases.
func (db *DB) roots(ctx context.Context, tx *bolt.Tx, now time.Time, stats *gc.Stats) ([]gc.Node, error) {
	var roots []gc.Node
	emit := func(n gc.Node) { roots = append(roots, n) }
	var nss []string
	tx.Bucket(bucketV1).ForEachBucket(func(k []byte) error { nss = append(nss, string(k)); return nil })
	db.mu.Lock()
	sources := make([]RootSource, 0, len(db.rootSources))
	for _, s := range db.rootSources {
		sources = append(sources, s)
	}
	db.mu.Unlock()
	for _, ns := range nss {
		// Images: everything their graph reaches.
		if ib := nsBucket(tx, ns, bucketImages); ib != nil {
			var targets []ocispec.Descriptor
			ib.ForEach(func(k, v []byte) error {
				var rec imageRecord
				if _, err := getJSON(ib, k, &rec); err != nil {
					db.log.Warn("gc: skipping corrupt image record", "namespace", ns, "image", string(k), "err", err)
					return nil
				}
				targets = append(targets, rec.Target)
				return nil
			})
			for _, t := range targets {
				db.walkImage(ctx, tx, ns, t, emit)
			}
		}
		// Leases: what they hold, unless expired (then they go).
		if lb := nsBucket(tx, ns, bucketLeases); lb != nil {
			var expired [][]byte
			lb.ForEachBucket(func(k []byte) error {
				b := lb.Bucket(k)
				var rec leaseRecord
				getJSON(b, keyMeta, &rec)
				if leaseExpired(rec, now) {
					expired = append(expired, append([]byte(nil), k...))
					return nil
				}
				for _, r := range leaseResources(b) {
					switch {
					case r.Type == ResourceContent:
						emit(contentNode(ns, digest.Digest(r.ID)))
					case r.Type == ResourceIngest:
						emit(gc.Node{Type: gc.ResourceIngest, Namespace: ns, Key: r.ID})
					case strings.HasPrefix(r.Type, resourceSnapshots):
						emit(snapshotNode(ns, strings.TrimPrefix(r.Type, resourceSnapshots), r.ID))
					}
				}
				return nil
			})
			for _, k := range expired {
				if !tx.Writable() {
					break
				}
				if err := lb.DeleteBucket(k); err != nil {
					return nil, fmt.Errorf("gc: delete expired lease %q: %w", k, err)
				}
				stats.LeasesDeleted++
			}
		}
		// Records labelled as roots.
		if cb := nsBucket(tx, ns, bucketContent, bucketBlob); cb != nil {
			cb.ForEach(func(k, v []byte) error {
				var rec blobRecord
				if _, err := getJSON(cb, k, &rec); err == nil {
					if _, ok := rec.Labels[LabelGCRoot]; ok {
						emit(contentNode(ns, digest.Digest(k)))
					}
				}
				return nil
			})
		}
		if sb := nsBucket(tx, ns, bucketSnapshots); sb != nil {
			sb.ForEachBucket(func(name []byte) error {
				b := sb.Bucket(name)
				return b.ForEach(func(k, v []byte) error {
					var rec snapRecord
					if _, err := getJSON(b, k, &rec); err == nil {
						if _, ok := rec.Labels[LabelGCRoot]; ok {
							emit(snapshotNode(ns, string(name), string(k)))
						}
					}
					return nil
				})
			})
		}
		for _, src := range sources {
			if err := src(ctx, tx, ns, emit); err != nil {
				return nil, fmt.Errorf("gc: root source in namespace %q: %w", ns, err)
			}
		}
	}
	return roots, nil
}

// walkImage emits the content an image's graph reaches in ns: the target,
// and below indexes and manifests the namespace holds, their children (to
// images.MaxDepth). Unreadable or malformed blobs end the walk there.
func (db *DB) walkImage(ctx context.Context, tx *bolt.Tx, ns string, root ocispec.Descriptor, emit func(gc.Node)) {
	cb := nsBucket(tx, ns, bucketContent, bucketBlob)
	seen := map[digest.Digest]bool{}
	type item struct {
		desc  ocispec.Descriptor
		depth int
	}
	stack := []item{{root, 0}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[it.desc.Digest] || it.desc.Digest.Validate() != nil {
			continue
		}
		seen[it.desc.Digest] = true
		emit(contentNode(ns, it.desc.Digest))
		if !images.IsIndex(it.desc.MediaType) && !images.IsManifest(it.desc.MediaType) {
			continue
		}
		if cb == nil || cb.Get([]byte(it.desc.Digest)) == nil || it.depth >= images.MaxDepth {
			continue
		}
		data, err := content.ReadBlob(ctx, db.cs, it.desc)
		if err != nil {
			db.log.Warn("gc: cannot read image blob; its children are not marked", "namespace", ns, "digest", it.desc.Digest, "err", err)
			continue
		}
		children, err := images.Children(it.desc, data)
		if err != nil {
			db.log.Warn("gc: cannot parse image blob; its children are not marked", "namespace", ns, "digest", it.desc.Digest, "err", err)
			continue
		}
		for _, c := range children {
			stack = append(stack, item{c, it.depth + 1})
		}
	}
}

// refs returns the reference function over the records in tx.
func (db *DB) refs(tx *bolt.Tx) func(gc.Node, func(gc.Node)) error {
	return func(n gc.Node, emit func(gc.Node)) error {
		switch n.Type {
		case gc.ResourceContent:
			var rec blobRecord
			if ok, _ := getJSON(nsBucket(tx, n.Namespace, bucketContent, bucketBlob), []byte(n.Key), &rec); ok {
				labelRefs(n.Namespace, rec.Labels, emit)
			}
		case gc.ResourceSnapshot:
			name, key, ok := strings.Cut(n.Key, "/")
			if !ok {
				return nil
			}
			var rec snapRecord
			if ok, _ := getJSON(nsBucket(tx, n.Namespace, bucketSnapshots, []byte(name)), []byte(key), &rec); ok {
				if rec.Parent != "" {
					emit(snapshotNode(n.Namespace, name, rec.Parent))
				}
				labelRefs(n.Namespace, rec.Labels, emit)
			}
		}
		return nil
	}
}

// GarbageCollect marks from every root (images, leases, labelled records,
// registered root sources) in every namespace, deletes the records nothing
// references, then deletes from the shared stores the blobs and snapshots
// no namespace has a record of.
func (db *DB) GarbageCollect(ctx context.Context) (gc.Stats, error) {
	start := time.Now()
	var stats gc.Stats
	removals, errs, err := db.collectLocked(ctx, &stats)
	if err != nil {
		return stats, err
	}
	// Snapshot data goes outside the lock: backend keys are never reused
	// and a snapshot without a record can never gain one, so nothing can
	// start to use these while they are removed (which may take a while).
	for _, r := range removals {
		var size int64
		if u, err := r.sn.Usage(ctx, r.key); err == nil {
			size = u.Size
		}
		if err := r.sn.Remove(ctx, r.key); err != nil {
			errs = append(errs, fmt.Errorf("snapshotter %s: remove %q: %w", r.name, r.key, err))
			continue
		}
		stats.SnapshotsDeleted++
		stats.BytesFreed += size
	}
	stats.Duration = time.Since(start)
	db.log.Info("garbage collection", "blobs", stats.ContentDeleted, "snapshots", stats.SnapshotsDeleted,
		"leases", stats.LeasesDeleted, "bytes", stats.BytesFreed, "duration", stats.Duration)
	if len(errs) > 0 {
		return stats, fmt.Errorf("gc: %w", errors.Join(errs...))
	}
	return stats, nil
}

type snapRemoval struct {
	name, key string
	sn        snapshot.Snapshotter
}

// collectLocked marks and sweeps the records and deletes unreferenced
// blobs, holding wlock; it returns the backend snapshots to remove.
func (db *DB) collectLocked(ctx context.Context, stats *gc.Stats) ([]snapRemoval, []error, error) {
	db.wlock.Lock()
	defer db.wlock.Unlock()
	err := db.db.Update(func(tx *bolt.Tx) error {
		roots, err := db.roots(ctx, tx, db.now(), stats)
		if err != nil {
			return err
		}
		marked, err := gc.Mark(ctx, roots, db.refs(tx))
		if err != nil {
			return err
		}
		return sweepRecords(tx, marked)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("gc: %w", err)
	}
	// The shared stores: whatever no namespace has a record of.
	refd, err := db.referenced()
	if err != nil {
		return nil, nil, fmt.Errorf("gc: %w", err)
	}
	var errs []error
	blobs, err := db.unreferencedBlobs(ctx, refd)
	if err != nil {
		errs = append(errs, err)
	}
	for _, info := range blobs {
		if err := db.cs.Delete(ctx, info.Digest); err != nil {
			errs = append(errs, fmt.Errorf("delete blob %s: %w", info.Digest, err))
			continue
		}
		stats.ContentDeleted++
		stats.BytesFreed += info.Size
	}
	var removals []snapRemoval
	for name, sn := range db.snapshotters {
		ids, err := unreferencedSnapshots(ctx, sn, refd.snapshots[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("snapshotter %s: %w", name, err))
			continue
		}
		for _, id := range ids {
			removals = append(removals, snapRemoval{name: name, key: id.key, sn: sn})
		}
	}
	return removals, errs, nil
}

// sweepRecords deletes the content and snapshot records not in marked.
func sweepRecords(tx *bolt.Tx, marked map[gc.Node]struct{}) error {
	return tx.Bucket(bucketV1).ForEachBucket(func(nsk []byte) error {
		ns := string(nsk)
		if cb := nsBucket(tx, ns, bucketContent, bucketBlob); cb != nil {
			var dead [][]byte
			cb.ForEach(func(k, v []byte) error {
				if _, ok := marked[contentNode(ns, digest.Digest(k))]; !ok {
					dead = append(dead, append([]byte(nil), k...))
				}
				return nil
			})
			for _, k := range dead {
				if err := cb.Delete(k); err != nil {
					return err
				}
			}
		}
		if sb := nsBucket(tx, ns, bucketSnapshots); sb != nil {
			return sb.ForEachBucket(func(name []byte) error {
				b := sb.Bucket(name)
				var dead [][]byte
				b.ForEach(func(k, v []byte) error {
					if v == nil {
						return nil
					}
					if _, ok := marked[snapshotNode(ns, string(name), string(k))]; !ok {
						dead = append(dead, append([]byte(nil), k...))
					}
					return nil
				})
				for _, k := range dead {
					if err := b.Delete(k); err != nil {
						return err
					}
				}
				return nil
			})
		}
		return nil
	})
}

type referenced struct {
	blobs     map[digest.Digest]bool
	snapshots map[string]map[string]bool // snapshotter → backend id
	dangling  []string
	records   []recordRef
}

type recordRef struct {
	ns, snapshotter, key, id string
	dgst                     digest.Digest
}

// referenced collects what any namespace has a record of.
func (db *DB) referenced() (referenced, error) {
	r := referenced{blobs: map[digest.Digest]bool{}, snapshots: map[string]map[string]bool{}}
	err := db.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketV1).ForEachBucket(func(nsk []byte) error {
			ns := string(nsk)
			if cb := nsBucket(tx, ns, bucketContent, bucketBlob); cb != nil {
				cb.ForEach(func(k, v []byte) error {
					r.blobs[digest.Digest(k)] = true
					r.records = append(r.records, recordRef{ns: ns, dgst: digest.Digest(k)})
					return nil
				})
			}
			if sb := nsBucket(tx, ns, bucketSnapshots); sb != nil {
				sb.ForEachBucket(func(name []byte) error {
					b := sb.Bucket(name)
					m := r.snapshots[string(name)]
					if m == nil {
						m = map[string]bool{}
						r.snapshots[string(name)] = m
					}
					return b.ForEach(func(k, v []byte) error {
						var rec snapRecord
						if ok, err := getJSON(b, k, &rec); ok && err == nil {
							m[rec.ID] = true
							r.records = append(r.records, recordRef{ns: ns, snapshotter: string(name), key: string(k), id: rec.ID})
						}
						return nil
					})
				})
			}
			return nil
		})
	})
	return r, err
}

func (db *DB) unreferencedBlobs(ctx context.Context, refd referenced) ([]content.Info, error) {
	var out []content.Info
	err := db.cs.Walk(ctx, func(info content.Info) error {
		if !refd.blobs[info.Digest] {
			out = append(out, info)
		}
		return nil
	})
	return out, err
}

type backendSnap struct {
	key   string
	depth int
}

// unreferencedSnapshots lists the backend snapshots not in refd, children
// before parents.
func unreferencedSnapshots(ctx context.Context, sn snapshot.Snapshotter, refd map[string]bool) ([]backendSnap, error) {
	parents := map[string]string{}
	err := sn.Walk(ctx, func(_ context.Context, info snapshot.Info) error {
		parents[info.Name] = info.Parent
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []backendSnap
	for key := range parents {
		if refd[key] {
			continue
		}
		depth := 0
		for p := parents[key]; p != "" && depth <= len(parents); p = parents[p] {
			depth++
		}
		out = append(out, backendSnap{key: key, depth: depth})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].depth != out[j].depth {
			return out[i].depth > out[j].depth
		}
		return out[i].key < out[j].key
	})
	return out, nil
}

// leaseHolds reports whether a live lease in ns holds resource r.
func leaseHolds(tx *bolt.Tx, ns string, r leases.Resource, now time.Time) bool {
	lb := nsBucket(tx, ns, bucketLeases)
	if lb == nil {
		return false
	}
	held := false
	lb.ForEachBucket(func(k []byte) error {
		b := lb.Bucket(k)
		var rec leaseRecord
		getJSON(b, keyMeta, &rec)
		if leaseExpired(rec, now) {
			return nil
		}
		if rb := b.Bucket(bucketResources); rb != nil && rb.Get(resourceKey(r)) != nil {
			held = true
		}
		return nil
	})
	return held
}
