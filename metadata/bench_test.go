package metadata

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/images"
	"github.com/berth-containers/berth/leases"
)

// BenchmarkGC collects a store of 100 images (5 layers each, unpacked
// into the fake snapshotter) with nothing to remove: the cost of marking.
func BenchmarkGC(b *testing.B) {
	e := newEnvB(b)
	ctx := nsCtx("default")
	for i := 0; i < 100; i++ {
		im := buildImage(b, fmt.Sprintf("bench-%d", i), 5)
		im.pull(b, ctx, e.db, "fake")
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.db.GarbageCollect(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPullShape does the metadata work of pulling a 20-layer image
// (without the bytes' cost): 20 concurrent blob writes under a lease, then
// per layer a staging snapshot, the real one on its parent, the exchange's
// Remove and the Commit, as the unpacker does; then the image record.
func BenchmarkPullShape(b *testing.B) {
	e := newEnvB(b)
	for i := 0; i < b.N; i++ {
		ctx := nsCtx("default")
		l, err := e.db.Leases().Create(ctx)
		if err != nil {
			b.Fatal(err)
		}
		lctx := leases.WithLease(ctx, l.ID)
		im := buildImage(b, fmt.Sprintf("shape-%d", i), 20)
		var wg sync.WaitGroup
		for d, data := range im.blobs {
			wg.Add(1)
			go func(d digest.Digest, data []byte) {
				defer wg.Done()
				if err := content.WriteBlob(lctx, e.db.ContentStore(), "fetch-"+d.String(), bytes.NewReader(data), ocispec.Descriptor{Digest: d, Size: int64(len(data))}); err != nil {
					b.Error(err)
				}
			}(d, data)
		}
		sn := e.db.Snapshotter("fake")
		// Staging snapshots are prepared concurrently.
		for j := range im.chain {
			wg.Add(1)
			go func(j int) {
				defer wg.Done()
				if _, err := sn.Prepare(lctx, fmt.Sprintf("stage-%d-%d", i, j), ""); err != nil {
					b.Error(err)
				}
			}(j)
		}
		wg.Wait()
		parent := ""
		for j, c := range im.chain {
			key := fmt.Sprintf("real-%d-%d", i, j)
			if _, err := sn.Prepare(lctx, key, parent); err != nil {
				b.Fatal(err)
			}
			if err := sn.Remove(lctx, fmt.Sprintf("stage-%d-%d", i, j)); err != nil {
				b.Fatal(err)
			}
			if err := sn.Commit(lctx, c, key); err != nil {
				b.Fatal(err)
			}
			parent = c
		}
		if _, err := e.db.Images().Create(ctx, images.Image{Name: im.name, Target: im.index}); err != nil {
			b.Fatal(err)
		}
		if err := e.db.Leases().Delete(ctx, l); err != nil {
			b.Fatal(err)
		}
	}
}
