package metadata

import (
	"testing"
)

func TestDiskUsage(t *testing.T) {
	e := newEnv(t)
	ctx := nsCtx("default")
	im := buildImage(t, "usage", 2)
	im.pull(t, ctx, e.db, "fake")
	loose := writeRaw(t, ctx, e.db.ContentStore(), []byte("reclaimable"))
	if _, err := e.db.Snapshotter("fake").Prepare(ctx, "stray", ""); err != nil {
		t.Fatal(err)
	}
	var imgSize int64
	for _, b := range im.blobs {
		imgSize += int64(len(b))
	}
	u, err := e.db.DiskUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u.Images != 1 || u.Content.Count != len(im.blobs)+1 || u.Content.Size != imgSize+loose.Size {
		t.Fatalf("usage %+v: want 1 image, %d blobs of %d bytes", u, len(im.blobs)+1, imgSize+loose.Size)
	}
	if u.Content.Reclaimable != loose.Size || u.Content.ReclaimableCount != 1 {
		t.Fatalf("reclaimable content %+v, want the loose blob's %d bytes", u.Content, loose.Size)
	}
	if u.Snapshots.Count != 3 || u.Snapshots.Size != 3000 || u.Snapshots.Reclaimable != 1000 {
		t.Fatalf("snapshot usage %+v", u.Snapshots)
	}
	// DiskUsage changed nothing.
	if _, err := e.db.ContentStore().Info(ctx, loose.Digest); err != nil {
		t.Fatal(err)
	}
	if u2, _ := e.db.DiskUsage(nsCtx("empty")); u2.Content.Count != 0 || u2.Images != 0 {
		t.Fatalf("empty namespace usage %+v", u2)
	}
}
