package metadata

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/content/local"
	"github.com/berth-containers/berth/images"
	"github.com/berth-containers/berth/leases"
	"github.com/berth-containers/berth/snapshot"
)

const crashEnv = "BERTH_METADATA_CRASH_ROOT"

func crashBlobs() [][]byte {
	var out [][]byte
	for i := 0; i < 3; i++ {
		b := make([]byte, 512<<10)
		for j := range b {
			b[j] = byte(j*(i+3) + j>>9)
		}
		out = append(out, b)
	}
	return out
}

func openCrashDB(t *testing.T, root string) (*DB, *local.Store) {
	t.Helper()
	cs, err := local.Open(filepath.Join(root, "content"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := NewDB(filepath.Join(root, "meta.db"), cs, map[string]snapshot.Snapshotter{}, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	return db, cs
}

// TestCrashPullChild is the child half of TestPullSurvivesSIGKILL: under a
// lease it commits two blobs, writes half of a third, and waits to be killed.
func TestCrashPullChild(t *testing.T) {
	root := os.Getenv(crashEnv)
	if root == "" {
		return // only meaningful when re-executed by the parent test
	}
	db, _ := openCrashDB(t, root)
	ctx := nsCtx("default")
	l, err := db.Leases().Create(ctx, leases.WithID("pull"))
	if err != nil {
		t.Fatal(err)
	}
	lctx := leases.WithLease(ctx, l.ID)
	blobs := crashBlobs()
	for i, b := range blobs[:2] {
		if err := content.WriteBlob(lctx, db.ContentStore(), "layer-"+string(rune('0'+i)), bytes.NewReader(b), ocispec.Descriptor{Digest: digest.FromBytes(b), Size: int64(len(b))}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := db.ContentStore().Writer(lctx, "layer-2", ocispec.Descriptor{Digest: digest.FromBytes(blobs[2]), Size: int64(len(blobs[2]))})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(blobs[2][:200000])
	os.Stdout.WriteString("READY\n")
	select {}
}

func TestPullSurvivesSIGKILL(t *testing.T) {
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashPullChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+root)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.Contains(line, "READY") {
		t.Fatalf("child did not get ready: %q %v", line, err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	db, cs := openCrashDB(t, root)
	defer db.Close()
	ctx := nsCtx("default")
	lctx := leases.WithLease(ctx, "pull")
	blobs := crashBlobs()
	st, err := db.ContentStore().Status(ctx, "layer-2")
	if err != nil || st.Offset != 200000 {
		t.Fatalf("ingest after SIGKILL: %+v, %v", st, err)
	}
	// GC now must keep what the lease holds, the partial ingest included.
	mustGC(t, db)
	for _, b := range blobs[:2] {
		if _, err := db.ContentStore().Info(ctx, digest.FromBytes(b)); err != nil {
			t.Fatalf("leased blob lost after restart + GC: %v", err)
		}
	}
	// The same pull completes: committed blobs are found, the third resumes.
	var descs []ocispec.Descriptor
	for i, b := range blobs {
		d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(b), Size: int64(len(b))}
		descs = append(descs, d)
		if err := content.WriteBlob(lctx, db.ContentStore(), "layer-"+string(rune('0'+i)), bytes.NewReader(b), d); err != nil {
			t.Fatalf("resume layer %d: %v", i, err)
		}
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc, Layers: descs}
	m.SchemaVersion = 2
	mb, _ := json.Marshal(m)
	mDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb))}
	for _, x := range []struct {
		b []byte
		d ocispec.Descriptor
	}{{cfg, cfgDesc}, {mb, mDesc}} {
		if err := content.WriteBlob(lctx, db.ContentStore(), x.d.Digest.String(), bytes.NewReader(x.b), x.d); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Images().Create(ctx, images.Image{Name: "crash:latest", Target: mDesc}); err != nil {
		t.Fatal(err)
	}
	if err := db.Leases().Delete(ctx, leases.Lease{ID: "pull"}); err != nil {
		t.Fatal(err)
	}
	mustGC(t, db)
	if o, err := db.Check(ctx, CheckOptions{IngestAge: -1}); err != nil || !o.Empty() {
		t.Fatalf("orphans after a resumed pull + GC: %+v, %v", o, err)
	}
	n := 0
	cs.Walk(ctx, func(content.Info) error { n++; return nil })
	if n != 5 {
		t.Fatalf("%d blobs on disk, want 5 (3 layers, config, manifest)", n)
	}
	// rmi + GC leaves nothing.
	if err := db.Images().Delete(ctx, "crash:latest"); err != nil {
		t.Fatal(err)
	}
	mustGC(t, db)
	n = 0
	cs.Walk(ctx, func(content.Info) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d blobs left after rmi + GC", n)
	}
	if o, err := db.Check(ctx, CheckOptions{IngestAge: -1}); err != nil || !o.Empty() {
		t.Fatalf("orphans after rmi + GC: %+v, %v", o, err)
	}
}
