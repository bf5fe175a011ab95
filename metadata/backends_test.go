package metadata

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/berth-containers/berth/content/local"
	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/mount"
	"github.com/berth-containers/berth/snapshot"
	"github.com/berth-containers/berth/snapshot/native"
	"github.com/berth-containers/berth/snapshot/overlay"
	"github.com/berth-containers/berth/snapshot/snapshottest"
)

// nsAdapter presents a namespaced view as a plain snapshotter (every call
// in one namespace) so the shared snapshot suite can run against it; Close
// closes the DB and the backend.
type nsAdapter struct {
	sn      snapshot.Snapshotter
	ns      string
	db      *DB
	backend snapshot.Snapshotter
}

func (a *nsAdapter) ctx(ctx context.Context) context.Context { return nsCtxFrom(ctx, a.ns) }

func (a *nsAdapter) Stat(ctx context.Context, key string) (snapshot.Info, error) {
	return a.sn.Stat(a.ctx(ctx), key)
}
func (a *nsAdapter) Update(ctx context.Context, info snapshot.Info, fp ...string) (snapshot.Info, error) {
	return a.sn.Update(a.ctx(ctx), info, fp...)
}
func (a *nsAdapter) Usage(ctx context.Context, key string) (snapshot.Usage, error) {
	return a.sn.Usage(a.ctx(ctx), key)
}
func (a *nsAdapter) Mounts(ctx context.Context, key string) ([]mount.Mount, error) {
	return a.sn.Mounts(a.ctx(ctx), key)
}
func (a *nsAdapter) Prepare(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]mount.Mount, error) {
	return a.sn.Prepare(a.ctx(ctx), key, parent, opts...)
}
func (a *nsAdapter) View(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]mount.Mount, error) {
	return a.sn.View(a.ctx(ctx), key, parent, opts...)
}
func (a *nsAdapter) Commit(ctx context.Context, name, key string, opts ...snapshot.Opt) error {
	return a.sn.Commit(a.ctx(ctx), name, key, opts...)
}
func (a *nsAdapter) Remove(ctx context.Context, key string) error {
	return a.sn.Remove(a.ctx(ctx), key)
}
func (a *nsAdapter) Walk(ctx context.Context, fn func(context.Context, snapshot.Info) error, fs ...string) error {
	return a.sn.Walk(a.ctx(ctx), fn, fs...)
}
func (a *nsAdapter) Close() error {
	err := a.db.Close()
	if berr := a.backend.Close(); err == nil {
		err = berr
	}
	return err
}

// TestSnapshotSuiteOverOverlay runs the snapshot package's shared suite
// against the namespaced view over the real overlay snapshotter (the one
// berthd uses; GC over native is tested below).
func TestSnapshotSuiteOverOverlay(t *testing.T) {
	testutil.RequireRoot(t)
	snapshottest.Run(t, func(root string) (snapshot.Snapshotter, error) {
		backend, err := overlay.New(root)
		if err != nil {
			return nil, err
		}
		meta := root + ".meta"
		cs, err := local.Open(filepath.Join(meta, "content"))
		if err != nil {
			return nil, err
		}
		db, err := NewDB(filepath.Join(meta, "meta.db"), cs, map[string]snapshot.Snapshotter{"overlayfs": backend}, WithLogger(testLogger(t)))
		if err != nil {
			return nil, err
		}
		return &nsAdapter{sn: db.Snapshotter("overlayfs"), ns: "suite", db: db, backend: backend}, nil
	})
}

// TestGCOverRealSnapshotters: rmi + GC over the real overlay and native
// snapshotters leaves no snapshot directory and no blob on disk.
func TestGCOverRealSnapshotters(t *testing.T) {
	testutil.RequireRoot(t)
	for name, open := range map[string]func(string) (snapshot.Snapshotter, error){"overlayfs": overlay.New, "native": native.New} {
		t.Run(name, func(t *testing.T) { testGCOver(t, name, open) })
	}
}

func testGCOver(t *testing.T, name string, open func(string) (snapshot.Snapshotter, error)) {
	root := t.TempDir()
	backend, err := open(filepath.Join(root, "snap"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { backend.Close() })
	cs, err := local.Open(filepath.Join(root, "content"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := NewDB(filepath.Join(root, "meta.db"), cs, map[string]snapshot.Snapshotter{name: backend}, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := nsCtx("default")
	im := buildImage(t, "real-"+name, 3)
	im.pull(t, ctx, db, name)
	snapDir := filepath.Join(root, "snap", "snapshots")
	if n := len(dirEntries(t, snapDir)); n != 3 {
		t.Fatalf("%d snapshot dirs after pull, want 3", n)
	}
	mustGC(t, db)
	if n := len(dirEntries(t, snapDir)); n != 3 {
		t.Fatalf("GC removed image snapshots: %d left", n)
	}
	if err := db.Images().Delete(ctx, im.name); err != nil {
		t.Fatal(err)
	}
	st := mustGC(t, db)
	if st.SnapshotsDeleted != 3 || st.ContentDeleted != len(im.blobs) {
		t.Fatalf("GC stats %+v, want 3 snapshots and %d blobs", st, len(im.blobs))
	}
	if d := dirEntries(t, snapDir); len(d) != 0 {
		t.Fatalf("snapshot dirs left after rmi + GC: %v", d)
	}
	if d := dirEntries(t, filepath.Join(root, "content", "blobs", "sha256")); len(d) != 0 {
		t.Fatalf("blobs left after rmi + GC: %v", d)
	}
	if o, err := db.RemoveOrphans(ctx, CheckOptions{IngestAge: -1}); err != nil || !o.Empty() {
		t.Fatalf("orphans after rmi + GC: %+v, %v", o, err)
	}
}
