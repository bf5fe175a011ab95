package metadata

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/content/local"
	"github.com/berth-containers/berth/images"
	"github.com/berth-containers/berth/internal/namespaces"
	"github.com/berth-containers/berth/snapshot"
)

type env struct {
	db   *DB
	cs   *local.Store
	fake *fakeSnapshotter
	root string
}

func newEnv(t *testing.T) *env { return newEnvB(t) }

func newEnvB(t testing.TB) *env {
	t.Helper()
	root := t.TempDir()
	cs, err := local.Open(filepath.Join(root, "content"))
	if err != nil {
		t.Fatal(err)
	}
	fake := newFake()
	db, err := NewDB(filepath.Join(root, "meta.db"), cs, map[string]snapshot.Snapshotter{"fake": fake}, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &env{db: db, cs: cs, fake: fake, root: root}
}

// testLogger sends the DB's logs to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func nsCtx(ns string) context.Context {
	return namespaces.WithNamespace(context.Background(), ns)
}

// blobsOnDisk counts committed blobs in the shared store.
func (e *env) blobsOnDisk(t *testing.T) map[digest.Digest]bool {
	t.Helper()
	out := map[digest.Digest]bool{}
	if err := e.cs.Walk(context.Background(), func(i content.Info) error { out[i.Digest] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// testImage is a small image built in memory: index → manifest → config +
// layers, plus the chain of snapshots an unpack would make.
type testImage struct {
	name     string
	index    ocispec.Descriptor
	manifest ocispec.Descriptor
	config   ocispec.Descriptor
	layers   []ocispec.Descriptor
	blobs    map[digest.Digest][]byte
	chain    []string // chain IDs, bottom first
}

func buildImage(t testing.TB, seed string, nlayers int) testImage {
	t.Helper()
	im := testImage{name: "example.com/test/" + seed + ":latest", blobs: map[digest.Digest][]byte{}}
	add := func(mt string, b []byte) ocispec.Descriptor {
		d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
		im.blobs[d.Digest] = b
		return d
	}
	var diffIDs []digest.Digest
	for i := 0; i < nlayers; i++ {
		b := bytes.Repeat([]byte(fmt.Sprintf("%s-layer-%d;", seed, i)), 100+i)
		im.layers = append(im.layers, add(ocispec.MediaTypeImageLayer, b))
		diffIDs = append(diffIDs, digest.FromBytes(b))
	}
	for i := range diffIDs {
		im.chain = append(im.chain, identity.ChainID(diffIDs[:i+1]).String())
	}
	cfg := ocispec.Image{RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}}
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cb, _ := json.Marshal(cfg)
	im.config = add(ocispec.MediaTypeImageConfig, cb)
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: im.config, Layers: im.layers}
	m.SchemaVersion = 2
	mb, _ := json.Marshal(m)
	im.manifest = add(ocispec.MediaTypeImageManifest, mb)
	im.manifest.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{im.manifest}}
	idx.SchemaVersion = 2
	ib, _ := json.Marshal(idx)
	im.index = add(ocispec.MediaTypeImageIndex, ib)
	return im
}

// pull writes every blob, unpacks the chain into sn and labels the config
// as the unpacker does, then creates the image record.
func (im testImage) pull(t testing.TB, ctx context.Context, db *DB, snapshotter string) {
	t.Helper()
	cs := db.ContentStore()
	for d, b := range im.blobs {
		if err := content.WriteBlob(ctx, cs, "pull-"+d.String(), bytes.NewReader(b), ocispec.Descriptor{Digest: d, Size: int64(len(b))}); err != nil {
			t.Fatal(err)
		}
	}
	if snapshotter != "" {
		sn := db.Snapshotter(snapshotter)
		parent := ""
		for _, c := range im.chain {
			if _, err := sn.Stat(ctx, c); err == nil {
				parent = c
				continue
			}
			key := "extract-" + c
			if _, err := sn.Prepare(ctx, key, parent); err != nil {
				t.Fatal(err)
			}
			if err := sn.Commit(ctx, c, key); err != nil {
				t.Fatal(err)
			}
			parent = c
		}
		if _, err := cs.Update(ctx, content.Info{Digest: im.config.Digest, Labels: map[string]string{
			LabelGCRefSnapshot + snapshotter: im.chain[len(im.chain)-1],
		}}, "labels."+LabelGCRefSnapshot+snapshotter); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Images().Create(ctx, images.Image{Name: im.name, Target: im.index}); err != nil {
		t.Fatal(err)
	}
}

func writeRaw(t *testing.T, ctx context.Context, cs content.Store, b []byte) ocispec.Descriptor {
	t.Helper()
	d := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(b), Size: int64(len(b))}
	if err := content.WriteBlob(ctx, cs, "raw-"+d.Digest.String(), bytes.NewReader(b), d); err != nil {
		t.Fatal(err)
	}
	return d
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func digestOf(b []byte) digest.Digest { return digest.FromBytes(b) }

func nsCtxFrom(ctx context.Context, ns string) context.Context {
	return namespaces.WithNamespace(ctx, ns)
}
