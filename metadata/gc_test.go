package metadata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/gc"
	"github.com/berth-containers/berth/images"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/leases"
	"github.com/berth-containers/berth/snapshot"
)

func mustGC(t *testing.T, db *DB) gc.Stats {
	t.Helper()
	st, err := db.GarbageCollect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestGCFreesExactlyTheUnreferenced(t *testing.T) {
	e := newEnv(t)
	ctx := nsCtx("default")
	im := buildImage(t, "gc", 3)
	im.pull(t, ctx, e.db, "fake")
	cs := e.db.ContentStore()
	sn := e.db.Snapshotter("fake")
	// Unreferenced: a loose blob, a committed snapshot and an active one.
	loose := writeRaw(t, ctx, cs, []byte("nobody references me"))
	if _, err := sn.Prepare(ctx, "stray-active", im.chain[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Prepare(ctx, "stray", ""); err != nil {
		t.Fatal(err)
	}
	if err := sn.Commit(ctx, "stray-committed", "stray"); err != nil {
		t.Fatal(err)
	}
	// Kept through labels: a blob referenced by a label on the config, and
	// a root-labelled blob.
	extra := writeRaw(t, ctx, cs, []byte("referenced by label"))
	if _, err := cs.Update(ctx, content.Info{Digest: im.config.Digest, Labels: map[string]string{LabelGCRefContent + "extra": extra.Digest.String()}}, "labels."+LabelGCRefContent+"extra"); err != nil {
		t.Fatal(err)
	}
	rooted := writeRaw(t, ctx, cs, []byte("root"))
	if _, err := cs.Update(ctx, content.Info{Digest: rooted.Digest, Labels: map[string]string{LabelGCRoot: "yes"}}); err != nil {
		t.Fatal(err)
	}

	before := e.blobsOnDisk(t)
	st := mustGC(t, e.db)
	if st.ContentDeleted != 1 || st.SnapshotsDeleted != 2 {
		t.Fatalf("GC stats %+v: want 1 blob and 2 snapshots deleted", st)
	}
	if st.BytesFreed < loose.Size || st.Duration <= 0 {
		t.Fatalf("GC stats %+v: bytes or duration not reported", st)
	}
	after := e.blobsOnDisk(t)
	for d := range before {
		if d == loose.Digest {
			if after[d] {
				t.Errorf("unreferenced blob %s kept", d)
			}
			continue
		}
		if !after[d] {
			t.Errorf("referenced blob %s removed", d)
		}
	}
	if _, err := cs.Info(ctx, loose.Digest); !errdefs.IsNotFound(err) {
		t.Errorf("record of the freed blob kept: %v", err)
	}
	for _, c := range im.chain {
		if _, err := sn.Stat(ctx, c); err != nil {
			t.Errorf("image snapshot %s removed: %v", c, err)
		}
	}
	for _, k := range []string{"stray-active", "stray-committed"} {
		if _, err := sn.Stat(ctx, k); !errdefs.IsNotFound(err) {
			t.Errorf("unreferenced snapshot %s kept: %v", k, err)
		}
	}
	if n := len(e.fake.keys()); n != len(im.chain) {
		t.Errorf("backend holds %d snapshots, want %d", n, len(im.chain))
	}
	// A second run finds nothing.
	if st := mustGC(t, e.db); st.ContentDeleted != 0 || st.SnapshotsDeleted != 0 {
		t.Fatalf("second GC removed %+v", st)
	}

	// rmi + GC leaves nothing but the rooted blob.
	if err := e.db.Images().Delete(ctx, im.name); err != nil {
		t.Fatal(err)
	}
	mustGC(t, e.db)
	left := e.blobsOnDisk(t)
	if len(left) != 1 || !left[rooted.Digest] {
		t.Fatalf("after rmi + GC blobs left: %v", left)
	}
	if keys := e.fake.keys(); len(keys) != 0 {
		t.Fatalf("after rmi + GC snapshots left: %v", keys)
	}
	if ents := dirEntries(t, filepath.Join(e.cs.Root(), "blobs", "sha256")); len(ents) != 1 {
		t.Fatalf("blob files on disk: %v", ents)
	}
}

func TestGCSharedAcrossNamespaces(t *testing.T) {
	e := newEnv(t)
	im := buildImage(t, "shared", 2)
	a, b := nsCtx("a"), nsCtx("b")
	im.pull(t, a, e.db, "fake")
	im.pull(t, b, e.db, "fake")
	if n := len(e.blobsOnDisk(t)); n != len(im.blobs) {
		t.Fatalf("%d blobs on disk for two namespaces, want %d (stored once)", n, len(im.blobs))
	}
	if err := e.db.Images().Delete(a, im.name); err != nil {
		t.Fatal(err)
	}
	mustGC(t, e.db)
	if n := len(e.blobsOnDisk(t)); n != len(im.blobs) {
		t.Fatalf("GC freed blobs namespace b still uses: %d left of %d", n, len(im.blobs))
	}
	if _, err := e.db.ContentStore().Info(a, im.config.Digest); !errdefs.IsNotFound(err) {
		t.Fatalf("ns a keeps its reference after rmi + GC: %v", err)
	}
	if _, err := e.db.Snapshotter("fake").Stat(a, im.chain[0]); !errdefs.IsNotFound(err) {
		t.Fatalf("ns a keeps its snapshot after rmi + GC: %v", err)
	}
	if n := len(e.fake.keys()); n != len(im.chain) {
		t.Fatalf("backend holds %d snapshots, want ns b's %d", n, len(im.chain))
	}
	if err := e.db.Images().Delete(b, im.name); err != nil {
		t.Fatal(err)
	}
	mustGC(t, e.db)
	if n := len(e.blobsOnDisk(t)); n != 0 {
		t.Fatalf("%d blobs left after both rmi + GC", n)
	}
	if n := len(e.fake.keys()); n != 0 {
		t.Fatalf("%d snapshots left after both rmi + GC", n)
	}
}

func TestLeasesProtect(t *testing.T) {
	e := newEnv(t)
	ctx := nsCtx("default")
	lm := e.db.Leases()
	l, err := lm.Create(ctx, leases.WithID("pull-1"), leases.WithLabels(map[string]string{"purpose": "pull"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lm.Create(ctx, leases.WithID("pull-1")); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("duplicate lease = %v", err)
	}
	lctx := leases.WithLease(ctx, l.ID)
	cs := e.db.ContentStore()
	sn := e.db.Snapshotter("fake")
	blob := writeRaw(t, lctx, cs, []byte("in flight"))
	// A partial ingest under the lease.
	w, err := cs.Writer(lctx, "partial", ocispec.Descriptor{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("half"))
	w.Close()
	if _, err := sn.Prepare(lctx, "extract", ""); err != nil {
		t.Fatal(err)
	}
	res, err := lm.ListResources(ctx, l)
	if err != nil || len(res) != 3 {
		t.Fatalf("lease resources = %v, %v; want content, ingest and snapshot", res, err)
	}
	mustGC(t, e.db)
	if _, err := cs.Info(ctx, blob.Digest); err != nil {
		t.Fatalf("leased blob collected: %v", err)
	}
	if _, err := sn.Stat(ctx, "extract"); err != nil {
		t.Fatalf("leased snapshot collected: %v", err)
	}
	if o, err := e.db.Check(ctx, CheckOptions{IngestAge: -1}); err != nil || len(o.Ingests) != 0 {
		t.Fatalf("leased ingest reported as orphan: %+v %v", o.Ingests, err)
	}
	list, err := lm.List(ctx, `labels.purpose==pull`)
	if err != nil || len(list) != 1 {
		t.Fatalf("List(labels.purpose==pull) = %v, %v", list, err)
	}
	// Writing under a lease that does not exist fails and leaves nothing.
	if _, err := cs.Writer(leases.WithLease(ctx, "ghost"), "g", ocispec.Descriptor{}); !errdefs.IsNotFound(err) {
		t.Fatalf("Writer under a missing lease = %v", err)
	}
	if _, err := sn.Prepare(leases.WithLease(ctx, "ghost"), "g", ""); !errdefs.IsNotFound(err) {
		t.Fatalf("Prepare under a missing lease = %v", err)
	}
	if _, err := cs.Status(ctx, "g"); !errdefs.IsNotFound(err) {
		t.Fatalf("ingest left by a refused writer: %v", err)
	}
	// Deleting the lease synchronously collects what it held.
	if err := lm.Delete(ctx, l, leases.SynchronousDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Info(ctx, blob.Digest); !errdefs.IsNotFound(err) {
		t.Fatalf("blob kept after its lease went: %v", err)
	}
	if _, err := sn.Stat(ctx, "extract"); !errdefs.IsNotFound(err) {
		t.Fatalf("snapshot kept after its lease went: %v", err)
	}
	if n := len(e.blobsOnDisk(t)); n != 0 {
		t.Fatalf("%d blobs on disk after the lease went", n)
	}
	if err := lm.Delete(ctx, l); !errdefs.IsNotFound(err) {
		t.Fatalf("second Delete = %v", err)
	}
}

func TestLeaseExpires(t *testing.T) {
	e := newEnv(t)
	ctx := nsCtx("default")
	l, err := e.db.Leases().Create(ctx, leases.WithExpiration(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	blob := writeRaw(t, leases.WithLease(ctx, l.ID), e.db.ContentStore(), []byte("short-lived"))
	if st := mustGC(t, e.db); st.ContentDeleted != 0 {
		t.Fatalf("GC before expiry removed %+v", st)
	}
	e.db.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	st := mustGC(t, e.db)
	if st.LeasesDeleted != 1 || st.ContentDeleted != 1 {
		t.Fatalf("GC after expiry: %+v, want the lease and its blob gone", st)
	}
	if _, err := e.db.ContentStore().Info(ctx, blob.Digest); !errdefs.IsNotFound(err) {
		t.Fatalf("blob of an expired lease kept: %v", err)
	}
	if _, err := e.db.Leases().Create(ctx, leases.WithLabels(map[string]string{leases.LabelExpire: "tomorrow"})); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("lease with a bad expiry = %v", err)
	}
}

func TestLeaseResourcesValidated(t *testing.T) {
	e := newEnv(t)
	ctx := nsCtx("default")
	l, err := e.db.Leases().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []leases.Resource{{Type: "bogus", ID: "x"}, {Type: "content", ID: "sha256:zz"}, {Type: "snapshots/none", ID: "k"}, {Type: "ingest", ID: ""}} {
		if err := e.db.Leases().AddResource(ctx, l, r); !errdefs.IsInvalidArgument(err) {
			t.Errorf("AddResource(%+v) = %v, want invalid argument", r, err)
		}
	}
	d := digest.FromString("x")
	if err := e.db.Leases().AddResource(ctx, l, leases.Resource{Type: "content", ID: d.String()}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.Leases().DeleteResource(ctx, l, leases.Resource{Type: "content", ID: d.String()}); err != nil {
		t.Fatal(err)
	}
	if res, _ := e.db.Leases().ListResources(ctx, l); len(res) != 0 {
		t.Fatalf("resources after delete: %v", res)
	}
}

func TestGCRootSource(t *testing.T) {
	e := newEnv(t)
	ctx := nsCtx("default")
	sn := e.db.Snapshotter("fake")
	if _, err := sn.Prepare(ctx, "container-rootfs", ""); err != nil {
		t.Fatal(err)
	}
	e.db.RegisterRootSource("containers", func(ctx context.Context, tx *bolt.Tx, ns string, emit func(gc.Node)) error {
		if ns == "default" {
			emit(gc.Node{Type: gc.ResourceSnapshot, Namespace: ns, Key: "fake/container-rootfs"})
		}
		return nil
	})
	mustGC(t, e.db)
	if _, err := sn.Stat(ctx, "container-rootfs"); err != nil {
		t.Fatalf("snapshot held by a root source collected: %v", err)
	}
	boom := errors.New("boom")
	e.db.RegisterRootSource("containers", func(context.Context, *bolt.Tx, string, func(gc.Node)) error { return boom })
	if _, err := e.db.GarbageCollect(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("GC with a failing root source = %v", err)
	}
	if _, err := sn.Stat(ctx, "container-rootfs"); err != nil {
		t.Fatalf("a failed GC removed something: %v", err)
	}
}

func TestGCToleratesHostileManifests(t *testing.T) {
	e := newEnv(t)
	ctx := nsCtx("default")
	cs := e.db.ContentStore()
	// A manifest that is not JSON, an index nested deeper than allowed.
	bad := []byte("{not json")
	bd := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(bad), Size: int64(len(bad))}
	if err := content.WriteBlob(ctx, cs, "bad", bytes.NewReader(bad), bd); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Images().Create(ctx, images.Image{Name: "bad", Target: bd}); err != nil {
		t.Fatal(err)
	}
	leaf := writeRaw(t, ctx, cs, []byte("deep leaf"))
	cur := leaf
	for i := 0; i < images.MaxDepth+3; i++ {
		idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{cur}}
		b, _ := json.Marshal(idx)
		cur = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(b), Size: int64(len(b))}
		if err := content.WriteBlob(ctx, cs, "deep", bytes.NewReader(b), cur); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.db.Images().Create(ctx, images.Image{Name: "deep", Target: cur}); err != nil {
		t.Fatal(err)
	}
	st := mustGC(t, e.db)
	if _, err := cs.Info(ctx, bd.Digest); err != nil {
		t.Fatalf("malformed image target collected: %v", err)
	}
	if _, err := cs.Info(ctx, cur.Digest); err != nil {
		t.Fatalf("deep index root collected: %v", err)
	}
	// Beyond MaxDepth nothing is marked: the leaf goes.
	if _, err := cs.Info(ctx, leaf.Digest); !errdefs.IsNotFound(err) || st.ContentDeleted == 0 {
		t.Fatalf("leaf beyond the depth bound: %v (stats %+v)", err, st)
	}
}

func TestSnapshotRemoveLeavesBackendToGC(t *testing.T) {
	e := newEnv(t)
	ctx := nsCtx("default")
	sn := e.db.Snapshotter("fake")
	if _, err := sn.Prepare(ctx, "k", ""); err != nil {
		t.Fatal(err)
	}
	if err := sn.Remove(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if len(e.fake.keys()) != 0 {
		t.Fatal("backend snapshot kept after Remove")
	}
	var _ snapshot.Snapshotter = sn
}
