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
	"github.com/berth-containers/berth/leases"
)

// TestGCConcurrentWithWriters runs collections while writers commit blobs
// and snapshots under a lease: nothing leased may be lost and no record may
// end up without its data.
func TestGCConcurrentWithWriters(t *testing.T) {
	e := newEnv(t)
	ctx := nsCtx("default")
	l, err := e.db.Leases().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lctx := leases.WithLease(ctx, l.ID)
	stop := make(chan struct{})
	var gcErr error
	var gcWG sync.WaitGroup
	gcWG.Add(1)
	go func() {
		defer gcWG.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := e.db.GarbageCollect(context.Background()); err != nil {
				gcErr = err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			cs := e.db.ContentStore()
			sn := e.db.Snapshotter("fake")
			parent := ""
			for i := 0; i < 15; i++ {
				b := []byte(fmt.Sprintf("blob %d/%d", g, i))
				// Same bytes in another, unleased namespace: its records
				// go, the shared data must stay for the leased one.
				d := ocispec.Descriptor{Digest: digest.FromBytes(b), Size: int64(len(b))}
				for _, c := range []context.Context{nsCtx("other"), lctx} {
					if err := content.WriteBlob(c, cs, "race-"+d.Digest.String(), bytes.NewReader(b), d); err != nil {
						errs <- err
						return
					}
				}
				key := fmt.Sprintf("s-%d-%d", g, i)
				if _, err := sn.Prepare(lctx, key+"-a", parent); err != nil {
					errs <- err
					return
				}
				if err := sn.Commit(lctx, key, key+"-a"); err != nil {
					errs <- err
					return
				}
				parent = key
			}
		}(g)
	}
	wg.Wait()
	close(stop)
	gcWG.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if gcErr != nil {
		t.Fatal(gcErr)
	}
	mustGC(t, e.db)
	n := 0
	err = e.db.ContentStore().Walk(ctx, func(info content.Info) error {
		n++
		if _, err := e.cs.Info(ctx, info.Digest); err != nil {
			t.Errorf("record %s without data: %v", info.Digest, err)
		}
		return nil
	})
	if err != nil || n != 60 {
		t.Fatalf("leased blobs after concurrent GC: %d, %v; want 60", n, err)
	}
	if k := len(e.fake.keys()); k != 60 {
		t.Fatalf("backend snapshots: %d, want 60", k)
	}
	if o, err := e.db.Check(ctx, CheckOptions{IngestAge: -1}); err != nil || !o.Empty() {
		t.Fatalf("Check after concurrent GC: %+v, %v", o, err)
	}
}
