package metadata

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/leases"
	"github.com/berth-containers/berth/snapshot"
)

// Orphans is what is on disk but not in the metadata, and records whose
// data is gone.
type Orphans struct {
	// Blobs in the content store no namespace has a record of.
	Blobs []content.Info
	// Snapshots: snapshotter → backend keys no namespace has a record of.
	Snapshots map[string][]string
	// Ingests not updated for CheckOptions.IngestAge, held by no writer
	// and no live lease (backend refs, "<namespace>/<ref>").
	Ingests []content.Status
	// Files under the content store that are neither blobs nor ingests
	// (temp files and half-made directories left by a crash).
	Files []string
	// Dangling records whose data is gone: "<ns>/content/<digest>" and
	// "<ns>/snapshots/<snapshotter>/<key>". RemoveOrphans deletes the
	// content records (so a pull fetches the blob again); snapshot records
	// are reported only.
	Dangling []string
	// Cleaned lists snapshotters whose own Cleanup ran (RemoveOrphans).
	Cleaned []string
}

// Empty reports whether nothing was found.
func (o Orphans) Empty() bool {
	n := 0
	for _, v := range o.Snapshots {
		n += len(v)
	}
	return len(o.Blobs) == 0 && n == 0 && len(o.Ingests) == 0 && len(o.Files) == 0 && len(o.Dangling) == 0
}

// CheckOptions tune Check.
type CheckOptions struct {
	// IngestAge: ingests (and stray files) unchanged for this long are
	// stale. Zero means 24h; negative means any age.
	IngestAge time.Duration
}

func (o CheckOptions) age() time.Duration {
	switch {
	case o.IngestAge == 0:
		return 24 * time.Hour
	case o.IngestAge < 0:
		return 0
	}
	return o.IngestAge
}

// strayer is implemented by content stores that can list stray files
// (content/local).
type strayer interface {
	Strays(age time.Duration) ([]string, error)
	RemoveStray(path string) error
}

type lockReporter interface{ IsLocked(ref string) bool }

// Check finds orphans without changing anything.
func (db *DB) Check(ctx context.Context, opts CheckOptions) (Orphans, error) {
	db.wlock.RLock()
	defer db.wlock.RUnlock()
	return db.check(ctx, opts)
}

func (db *DB) check(ctx context.Context, opts CheckOptions) (Orphans, error) {
	o := Orphans{Snapshots: map[string][]string{}}
	refd, err := db.referenced()
	if err != nil {
		return o, err
	}
	if o.Blobs, err = db.unreferencedBlobs(ctx, refd); err != nil {
		return o, err
	}
	present := map[string]map[string]bool{}
	for name, sn := range db.snapshotters {
		present[name] = map[string]bool{}
		if err := sn.Walk(ctx, func(_ context.Context, info snapshot.Info) error {
			present[name][info.Name] = true
			return nil
		}); err != nil {
			return o, fmt.Errorf("snapshotter %s: %w", name, err)
		}
		ids, err := unreferencedSnapshots(ctx, sn, refd.snapshots[name])
		if err != nil {
			return o, fmt.Errorf("snapshotter %s: %w", name, err)
		}
		for _, id := range ids {
			o.Snapshots[name] = append(o.Snapshots[name], id.key)
		}
	}
	for _, r := range refd.records {
		if r.dgst != "" {
			if _, err := db.cs.Info(ctx, r.dgst); errdefs.IsNotFound(err) {
				o.Dangling = append(o.Dangling, r.ns+"/content/"+r.dgst.String())
			}
		} else if p, ok := present[r.snapshotter]; ok && !p[r.id] {
			o.Dangling = append(o.Dangling, r.ns+"/snapshots/"+r.snapshotter+"/"+r.key)
		}
	}
	sts, err := db.cs.ListStatuses(ctx)
	if err != nil {
		return o, err
	}
	cutoff := time.Now().Add(-opts.age())
	lr, _ := db.cs.(lockReporter)
	now := db.now()
	err = db.db.View(func(tx *bolt.Tx) error {
		for _, st := range sts {
			if st.UpdatedAt.After(cutoff) || (lr != nil && lr.IsLocked(st.Ref)) {
				continue
			}
			if ns, ref, ok := strings.Cut(st.Ref, "/"); ok && leaseHolds(tx, ns, leases.Resource{Type: ResourceIngest, ID: ref}, now) {
				continue
			}
			o.Ingests = append(o.Ingests, st)
		}
		return nil
	})
	if err != nil {
		return o, err
	}
	if s, ok := db.cs.(strayer); ok {
		if o.Files, err = s.Strays(opts.age()); err != nil {
			return o, err
		}
	}
	return o, nil
}

// RemoveOrphans finds orphans and removes them (see Orphans for what is
// removed), then lets each snapshotter that can clean up after itself do
// so. It returns what it found; errors of single removals are joined.
func (db *DB) RemoveOrphans(ctx context.Context, opts CheckOptions) (Orphans, error) {
	db.wlock.Lock()
	defer db.wlock.Unlock()
	o, err := db.check(ctx, opts)
	if err != nil {
		return o, err
	}
	var errs []error
	for _, info := range o.Blobs {
		if err := db.cs.Delete(ctx, info.Digest); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("blob %s: %w", info.Digest, err))
		}
	}
	for name, keys := range o.Snapshots {
		for _, k := range keys {
			if err := db.snapshotters[name].Remove(ctx, k); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("snapshot %s/%q: %w", name, k, err))
			}
		}
	}
	for _, st := range o.Ingests {
		if err := db.cs.Abort(ctx, st.Ref); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("ingest %q: %w", st.Ref, err))
			continue
		}
		if ns, ref, ok := strings.Cut(st.Ref, "/"); ok {
			db.db.Update(func(tx *bolt.Tx) error {
				if b := nsBucket(tx, ns, bucketContent, bucketIngest); b != nil {
					return b.Delete([]byte(ref))
				}
				return nil
			})
		}
	}
	if s, ok := db.cs.(strayer); ok {
		for _, p := range o.Files {
			if err := s.RemoveStray(p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := db.db.Update(func(tx *bolt.Tx) error {
		for _, d := range o.Dangling {
			parts := strings.SplitN(d, "/", 3)
			if len(parts) == 3 && parts[1] == "content" {
				if b := nsBucket(tx, parts[0], bucketContent, bucketBlob); b != nil {
					if err := b.Delete([]byte(parts[2])); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}); err != nil {
		errs = append(errs, err)
	}
	for name, sn := range db.snapshotters {
		if c, ok := sn.(snapshot.Cleaner); ok {
			if err := c.Cleanup(ctx); err != nil {
				errs = append(errs, fmt.Errorf("snapshotter %s cleanup: %w", name, err))
				continue
			}
			o.Cleaned = append(o.Cleaned, name)
		}
	}
	if len(errs) > 0 {
		return o, fmt.Errorf("remove orphans: %w", errors.Join(errs...))
	}
	return o, nil
}
