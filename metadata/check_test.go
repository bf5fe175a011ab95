package metadata

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/internal/errdefs"
)

func TestCheckAndRemoveOrphans(t *testing.T) {
	e := newEnv(t)
	ctx := nsCtx("default")
	bg := context.Background()
	im := buildImage(t, "orphans", 2)
	im.pull(t, ctx, e.db, "fake")
	if o, err := e.db.Check(ctx, CheckOptions{IngestAge: -1}); err != nil || !o.Empty() {
		t.Fatalf("Check of a clean store = %+v, %v", o, err)
	}
	// A blob on disk that no namespace records (a crash between commit and record).
	orphanBlob := []byte("orphan blob")
	od := ocispec.Descriptor{Digest: digestOf(orphanBlob), Size: int64(len(orphanBlob))}
	if err := content.WriteBlob(bg, e.cs, "direct", bytes.NewReader(orphanBlob), od); err != nil {
		t.Fatal(err)
	}
	// A snapshot the backend has and no record names.
	if _, err := e.fake.Prepare(bg, "default/999/lost", ""); err != nil {
		t.Fatal(err)
	}
	// A stale ingest, and one held open by a writer.
	w, err := e.cs.Writer(bg, "default/stale", ocispec.Descriptor{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("stale"))
	w.Close()
	held, err := e.cs.Writer(bg, "default/held", ocispec.Descriptor{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	// A temp file from an interrupted label write.
	stray := filepath.Join(e.cs.Root(), "labels", "sha256", ".tmp-x-123")
	if err := os.WriteFile(stray, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A record whose blob vanished behind the store's back.
	gone := writeRaw(t, ctx, e.db.ContentStore(), []byte("vanishing"))
	if err := e.cs.Delete(bg, gone.Digest); err != nil {
		t.Fatal(err)
	}
	// Writing it again heals it…
	healed := writeRaw(t, ctx, e.db.ContentStore(), []byte("healed"))
	if err := e.cs.Delete(bg, healed.Digest); err != nil {
		t.Fatal(err)
	}
	writeRaw(t, ctx, e.db.ContentStore(), []byte("healed"))
	if got, err := content.ReadBlob(ctx, e.db.ContentStore(), healed); err != nil || string(got) != "healed" {
		t.Fatalf("rewritten vanished blob: %q, %v", got, err)
	}

	o, err := e.db.Check(ctx, CheckOptions{IngestAge: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Blobs) != 1 || o.Blobs[0].Digest != od.Digest {
		t.Errorf("orphan blobs = %+v", o.Blobs)
	}
	if got := o.Snapshots["fake"]; len(got) != 1 || got[0] != "default/999/lost" {
		t.Errorf("orphan snapshots = %v", o.Snapshots)
	}
	if len(o.Ingests) != 1 || o.Ingests[0].Ref != "default/stale" {
		t.Errorf("stale ingests = %+v (the held one must not appear)", o.Ingests)
	}
	if len(o.Files) != 1 || o.Files[0] != stray {
		t.Errorf("stray files = %v", o.Files)
	}
	if len(o.Dangling) != 1 || o.Dangling[0] != "default/content/"+gone.Digest.String() {
		t.Errorf("dangling = %v", o.Dangling)
	}
	// A young ingest is not stale under the default age.
	if o2, _ := e.db.Check(ctx, CheckOptions{}); len(o2.Ingests) != 0 || len(o2.Files) != 0 {
		t.Errorf("default age reports fresh ingests or files: %+v %v", o2.Ingests, o2.Files)
	}
	// Check changed nothing.
	if _, err := e.cs.Info(bg, od.Digest); err != nil {
		t.Fatalf("Check removed a blob: %v", err)
	}

	if _, err := e.db.RemoveOrphans(ctx, CheckOptions{IngestAge: -1}); err != nil {
		t.Fatal(err)
	}
	o, err = e.db.Check(ctx, CheckOptions{IngestAge: -1})
	if err != nil || !o.Empty() {
		t.Fatalf("Check after RemoveOrphans = %+v, %v", o, err)
	}
	if _, err := e.cs.Status(bg, "default/held"); err != nil {
		t.Fatalf("held ingest removed: %v", err)
	}
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Fatalf("stray file kept: %v", err)
	}
	// The image is intact, and the vanished blob can be written again.
	for d := range im.blobs {
		if _, err := e.db.ContentStore().Info(ctx, d); err != nil {
			t.Fatalf("image blob %s lost: %v", d, err)
		}
	}
	if n := len(e.fake.keys()); n != len(im.chain) {
		t.Fatalf("backend holds %d snapshots, want %d", n, len(im.chain))
	}
	if _, err := e.db.ContentStore().Info(ctx, gone.Digest); !errdefs.IsNotFound(err) {
		t.Fatalf("dangling record kept: %v", err)
	}
	writeRaw(t, ctx, e.db.ContentStore(), []byte("vanishing"))
}

// TestStaleIngestByAge: with the default 24h cutoff only an ingest whose
// data has not changed for a day is stale.
func TestStaleIngestByAge(t *testing.T) {
	e := newEnv(t)
	ctx := nsCtx("default")
	cs := e.db.ContentStore()
	for _, ref := range []string{"old", "young"} {
		w, err := cs.Writer(ctx, ref, ocispec.Descriptor{})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(ref))
		w.Close()
	}
	dir := e.cs.IngestDir("default/old")
	past := time.Now().Add(-25 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "data"), past, past); err != nil {
		t.Fatal(err)
	}
	o, err := e.db.RemoveOrphans(ctx, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Ingests) != 1 || o.Ingests[0].Ref != "default/old" {
		t.Fatalf("stale ingests = %+v, want default/old only", o.Ingests)
	}
	if _, err := cs.Status(ctx, "old"); !errdefs.IsNotFound(err) {
		t.Fatalf("stale ingest kept: %v", err)
	}
	if _, err := cs.Status(ctx, "young"); err != nil {
		t.Fatalf("young ingest removed: %v", err)
	}
}
