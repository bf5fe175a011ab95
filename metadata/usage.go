package metadata

import (
	"context"

	digest "github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-containers/berth/gc"
	"github.com/berth-containers/berth/internal/namespaces"
)

// Usage is what one namespace holds, for `berth system df`: sizes of the
// blobs and snapshots it references, and how much of each a garbage
// collection would drop from it now (Reclaimable). Blobs shared with other
// namespaces count in each; their bytes are stored once.
type Usage struct {
	Images    int
	Content   ResourceUsage
	Snapshots ResourceUsage
}

// ResourceUsage counts one kind of resource.
type ResourceUsage struct {
	Count            int
	Size             int64
	Reclaimable      int64
	ReclaimableCount int
}

// DiskUsage reports the context namespace's usage. It changes nothing.
func (db *DB) DiskUsage(ctx context.Context) (Usage, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return Usage{}, err
	}
	var u Usage
	type snapRef struct {
		name, id string
		marked   bool
	}
	var snaps []snapRef
	err = db.db.View(func(tx *bolt.Tx) error {
		var stats gc.Stats
		roots, err := db.roots(ctx, tx, db.now(), &stats)
		if err != nil {
			return err
		}
		marked, err := gc.Mark(ctx, roots, db.refs(tx))
		if err != nil {
			return err
		}
		if ib := nsBucket(tx, ns, bucketImages); ib != nil {
			u.Images = ib.Stats().KeyN
		}
		if cb := nsBucket(tx, ns, bucketContent, bucketBlob); cb != nil {
			cb.ForEach(func(k, v []byte) error {
				var rec blobRecord
				if _, err := getJSON(cb, k, &rec); err != nil {
					return nil
				}
				u.Content.Count++
				u.Content.Size += rec.Size
				if _, ok := marked[contentNode(ns, digest.Digest(k))]; !ok {
					u.Content.Reclaimable += rec.Size
					u.Content.ReclaimableCount++
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
						_, ok := marked[snapshotNode(ns, string(name), string(k))]
						snaps = append(snaps, snapRef{name: string(name), id: rec.ID, marked: ok})
					}
					return nil
				})
			})
		}
		return nil
	})
	if err != nil {
		return Usage{}, err
	}
	for _, s := range snaps {
		sn, ok := db.snapshotters[s.name]
		if !ok {
			continue
		}
		su, err := sn.Usage(ctx, s.id)
		if err != nil {
			continue // removed meanwhile
		}
		u.Snapshots.Count++
		u.Snapshots.Size += su.Size
		if !s.marked {
			u.Snapshots.Reclaimable += su.Size
			u.Snapshots.ReclaimableCount++
		}
	}
	return u, nil
}
