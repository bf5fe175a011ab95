package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/content/local"
	"github.com/berth-containers/berth/image"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/namespaces"
	"github.com/berth-containers/berth/internal/testimage"
	"github.com/berth-containers/berth/internal/testregistry"
	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/metadata"
	"github.com/berth-containers/berth/registry"
	"github.com/berth-containers/berth/snapshot"
	"github.com/berth-containers/berth/snapshot/native"
	"github.com/berth-containers/berth/snapshot/overlay"
	"github.com/berth-containers/berth/unpack"
)

type env struct {
	root string
	db   *metadata.DB
	deps *image.Deps
	ctx  context.Context
}

func newEnv(t *testing.T, snName string) *env {
	t.Helper()
	testutil.RequireRoot(t)
	root := t.TempDir()
	cs, err := local.NewStore(filepath.Join(root, "content"))
	if err != nil {
		t.Fatal(err)
	}
	var sn snapshot.Snapshotter
	sdir := filepath.Join(root, "snapshots", snName)
	if snName == "overlayfs" {
		sn, err = overlay.New(sdir)
	} else {
		sn, err = native.New(sdir)
	}
	if err != nil {
		t.Fatal(err)
	}
	db, err := metadata.NewDB(filepath.Join(root, "metadata.db"), cs, map[string]snapshot.Snapshotter{snName: sn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(); sn.Close() })
	nsn := db.Snapshotter(snName)
	d := &image.Deps{
		Content: db.ContentStore(), Images: db.Images(), Leases: db.Leases(),
		Snapshotter: nsn, SnapshotterName: snName,
		Unpacker: &unpack.Unpacker{Content: db.ContentStore(), Snapshotter: nsn},
		Resolver: registry.NewResolver(registry.Options{Retries: 1, SkipBlobDigest: true}),
	}
	return &env{root: root, db: db, deps: d, ctx: namespaces.WithNamespace(context.Background(), "default")}
}

// files lists the regular files under dir (relative), for leak checks;
// the snapshotters' own bookkeeping databases do not count.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && d.Name() != "metadata.db" {
			r, _ := filepath.Rel(dir, p)
			out = append(out, r)
		}
		return nil
	})
	return out
}

func seed(t *testing.T, reg *testregistry.Registry, name string, img *testimage.Image) string {
	reg.Seed(name, "latest", img.Blobs, img.Root, img.Manifests...)
	return reg.Host + "/" + name + ":latest"
}

func TestPullUnpackRemoveGC(t *testing.T) {
	for _, sn := range []string{"overlayfs", "native"} {
		t.Run(sn, func(t *testing.T) {
			e := newEnv(t, sn)
			reg := testregistry.New(t, testregistry.Options{})
			img, err := testimage.Generated(7, 4, 2<<20, testimage.Options{Platforms: []testimage.Platform{testimage.HostPlatform(), {OS: "linux", Architecture: "s390x"}}})
			if err != nil {
				t.Fatal(err)
			}
			ref := seed(t, reg, "gen", img)
			tr := image.NewTracker()
			got, err := image.Pull(e.ctx, e.deps, ref, image.PullOptions{Progress: tr})
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != ref || got.Target.Digest != img.Root.Digest {
				t.Fatalf("image %s → %s, want %s → %s", got.Name, got.Target.Digest, ref, img.Root.Digest)
			}
			_, blobs := tr.Snapshot()
			layers := 0
			for _, b := range blobs {
				if strings.HasPrefix(b.Ref, "layer-") {
					layers++
					if b.Status != image.StatusDone || b.Offset != b.Total {
						t.Errorf("layer %s: status %s at %d/%d", b.Digest, b.Status, b.Offset, b.Total)
					}
				}
			}
			if layers != 4 {
				t.Errorf("progress has %d layers, want 4", layers)
			}
			r, err := image.ResolveManifest(e.ctx, e.deps.Content, got.Target, "")
			if err != nil {
				t.Fatal(err)
			}
			if !image.Unpacked(e.ctx, e.deps, r.Config.Digest) {
				t.Fatal("image not unpacked")
			}
			// The top snapshot holds the last layer's files.
			chain := unpack.ChainIDs(img.ImageConfig().RootFS.DiffIDs)
			if _, err := e.deps.Snapshotter.Stat(e.ctx, chain[len(chain)-1].String()); err != nil {
				t.Fatalf("top snapshot: %v", err)
			}
			// The other platform's manifest was never fetched.
			if n := reg.CountRequests("GET", img.Manifests[1].Digest.String()); n != 0 {
				t.Errorf("fetched the s390x manifest %d times", n)
			}
			// A second pull finds everything present and fetches no layer.
			before := reg.CountRequests("GET", "/blobs/")
			if _, err := image.Pull(e.ctx, e.deps, ref, image.PullOptions{}); err != nil {
				t.Fatal(err)
			}
			if n := reg.CountRequests("GET", "/blobs/") - before; n != 0 {
				t.Errorf("second pull fetched %d blobs", n)
			}
			// Remove and collect: nothing left on disk.
			if err := e.deps.Images.Delete(e.ctx, ref); err != nil {
				t.Fatal(err)
			}
			if _, err := e.db.GarbageCollect(e.ctx); err != nil {
				t.Fatal(err)
			}
			if left := files(t, filepath.Join(e.root, "content")); len(left) != 0 {
				t.Errorf("content left after rmi+gc: %v", left)
			}
			if left := files(t, filepath.Join(e.root, "snapshots")); len(left) != 0 {
				t.Errorf("snapshot files left after rmi+gc: %d, e.g. %v", len(left), left[:min(3, len(left))])
			}
			o, err := e.db.Check(e.ctx, metadata.CheckOptions{IngestAge: -1})
			if err != nil || !o.Empty() {
				t.Errorf("orphans after rmi+gc: %+v %v", o, err)
			}
		})
	}
}

// hostile builds a one-layer image whose layer holds entries.
func hostile(t *testing.T, reg *testregistry.Registry, name string, entries func(tw *tar.Writer)) string {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	entries(tw)
	tw.Close()
	layer := tb.Bytes()
	ld := reg.PutBlob(name, layer)
	cfg := ocispec.Image{Platform: testimage.HostPlatform(), RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(layer)}}}
	cb, _ := json.Marshal(cfg)
	cd := reg.PutBlob(name, cb)
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cd, Size: int64(len(cb))},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: ld, Size: int64(len(layer))}}}
	mb, _ := json.Marshal(m)
	reg.PutManifest(name, "latest", ocispec.MediaTypeImageManifest, mb)
	return reg.Host + "/" + name + ":latest"
}

func TestPullBadInputLeavesNothing(t *testing.T) {
	e := newEnv(t, "overlayfs")
	reg := testregistry.New(t, testregistry.Options{})
	busy, err := testimage.Busybox(testimage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	good := seed(t, reg, "busybox", busy)
	escape := hostile(t, reg, "escape", func(tw *tar.Writer) {
		tw.WriteHeader(&tar.Header{Name: "../../evil", Mode: 0o644, Size: 4, Typeflag: tar.TypeReg})
		tw.Write([]byte("evil"))
	})
	reg.PutManifest("schema1", "latest", registry.MediaTypeDockerSchema1Signed, []byte(`{"schemaVersion":1,"name":"x","tag":"latest","fsLayers":[]}`))
	reg.PutManifest("malformed", "latest", ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"config":`))
	for _, tc := range []struct {
		name, ref string
		fault     *testregistry.Fault
		want      string
		kind      error
	}{
		{"missing tag", reg.Host + "/busybox:nope", nil, "not found", errdefs.ErrNotFound},
		{"hostile layer", escape, nil, "evil", nil},
		{"schema 1", reg.Host + "/schema1:latest", nil, "schema 1", errdefs.ErrNotImplemented},
		{"malformed manifest", reg.Host + "/malformed:latest", nil, "manifest", nil},
		{"500 on blobs", good, &testregistry.Fault{Path: "/blobs/", Status: 500}, "500", errdefs.ErrUnavailable},
		{"403", good, &testregistry.Fault{Path: "/manifests/", Status: 403}, "403", nil},
		{"corrupt layer", good, &testregistry.Fault{Path: "/blobs/" + busy.Layers[0].Desc.Digest.String(), Corrupt: true}, "layer 0", nil},
		{"corrupt config", good, &testregistry.Fault{Path: "/blobs/" + busy.Config.Digest.String(), Corrupt: true}, "digest", errdefs.ErrFailedPrecondition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg.ClearFaults()
			if tc.fault != nil {
				reg.AddFault(tc.fault)
			}
			_, err := image.Pull(e.ctx, e.deps, tc.ref, image.PullOptions{})
			if err == nil {
				t.Fatalf("pull %s succeeded", tc.ref)
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if tc.kind != nil && !errors.Is(err, tc.kind) {
				t.Errorf("error %q is not %v", err, tc.kind)
			}
			if imgs, _ := e.deps.Images.List(e.ctx); len(imgs) != 0 {
				t.Errorf("failed pull left image records: %v", imgs)
			}
			if _, err := e.db.GarbageCollect(e.ctx); err != nil {
				t.Fatal(err)
			}
			o, err := e.db.Check(e.ctx, metadata.CheckOptions{IngestAge: -1})
			if err != nil || !o.Empty() {
				t.Errorf("orphans after failed pull: %+v %v", o, err)
			}
			if left := files(t, filepath.Join(e.root, "snapshots")); len(left) != 0 {
				t.Errorf("snapshot files left: %v", left)
			}
			if _, err := os.Stat(filepath.Join(e.root, "evil")); err == nil {
				t.Error("hostile layer wrote outside the snapshot")
			}
		})
	}
	// A connection cut in the middle of a layer is resumed.
	reg.ClearFaults()
	cut := reg.AddFault(&testregistry.Fault{Path: "/blobs/" + busy.Layers[0].Desc.Digest.String(), Cut: true, CutAfter: 100000, Times: 1})
	if _, err := image.Pull(e.ctx, e.deps, good, image.PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if cut.Hits(reg) != 1 {
		t.Errorf("cut fault hit %d times", cut.Hits(reg))
	}
	if err := e.deps.Images.Delete(e.ctx, good); err != nil {
		t.Fatal(err)
	}
	// After the faults, the pull works.
	reg.ClearFaults()
	if _, err := image.Pull(e.ctx, e.deps, good, image.PullOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentPullsAndNamespaces: the same image pulled twice at once and
// in a second namespace; every pull succeeds and the disk holds one copy.
func TestConcurrentPullsAndNamespaces(t *testing.T) {
	e := newEnv(t, "overlayfs")
	reg := testregistry.New(t, testregistry.Options{})
	img, err := testimage.Generated(5, 3, 1<<20, testimage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref := seed(t, reg, "gen", img)
	other := namespaces.WithNamespace(context.Background(), "other")
	errs := make(chan error, 3)
	for _, ctx := range []context.Context{e.ctx, e.ctx, other} {
		go func() {
			_, err := image.Pull(ctx, e.deps, ref, image.PullOptions{})
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, ctx := range []context.Context{e.ctx, other} {
		r, err := image.ResolveManifest(ctx, e.deps.Content, img.Root, "")
		if err != nil {
			t.Fatal(err)
		}
		if !image.Unpacked(ctx, e.deps, r.Config.Digest) {
			t.Fatal("not unpacked")
		}
	}
	blobs := 0
	for _, f := range files(t, filepath.Join(e.root, "content")) {
		if strings.HasPrefix(f, "blobs/") {
			blobs++
		}
	}
	if blobs != len(img.Blobs) {
		t.Errorf("%d blob files for an image of %d blobs", blobs, len(img.Blobs))
	}
	// Removing it from one namespace keeps the other's.
	if err := e.deps.Images.Delete(e.ctx, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.GarbageCollect(e.ctx); err != nil {
		t.Fatal(err)
	}
	r, err := image.ResolveManifest(other, e.deps.Content, img.Root, "")
	if err != nil || !image.Unpacked(other, e.deps, r.Config.Digest) {
		t.Fatalf("the other namespace lost its image: %v", err)
	}
}

// TestPullPlatform: --platform picks the index entry; an absent one is a
// clear not-found naming what the index has.
func TestPullPlatform(t *testing.T) {
	e := newEnv(t, "native")
	reg := testregistry.New(t, testregistry.Options{})
	img, err := testimage.Generated(9, 1, 64<<10, testimage.Options{Platforms: []testimage.Platform{{OS: "linux", Architecture: "arm64", Variant: "v8"}, {OS: "linux", Architecture: "s390x"}}})
	if err != nil {
		t.Fatal(err)
	}
	ref := seed(t, reg, "multi", img)
	if _, err := image.Pull(e.ctx, e.deps, ref, image.PullOptions{Platform: "linux/riscv64"}); !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "linux/s390x") {
		t.Fatalf("absent platform: %v", err)
	}
	if _, err := image.Pull(e.ctx, e.deps, ref, image.PullOptions{Platform: "linux/s390x"}); err != nil {
		t.Fatal(err)
	}
	r, err := image.ResolveManifest(e.ctx, e.deps.Content, img.Root, "linux/s390x")
	if err != nil || r.Manifest.Digest != img.Manifests[1].Digest {
		t.Fatalf("resolved %s (%v), want the s390x manifest %s", r.Manifest.Digest, err, img.Manifests[1].Digest)
	}
	if _, err := image.Pull(e.ctx, e.deps, ref, image.PullOptions{Platform: "linux"}); err == nil {
		t.Fatal("a platform without an architecture was accepted")
	}
}

// TestDuplicateLayers: a manifest naming one blob for several layers (as
// images with repeated empty layers do) pulls with both snapshotters.
func TestDuplicateLayers(t *testing.T) {
	for _, sn := range []string{"overlayfs", "native"} {
		t.Run(sn, func(t *testing.T) {
			e := newEnv(t, sn)
			reg := testregistry.New(t, testregistry.Options{})
			mk := func(name string) []byte {
				var b bytes.Buffer
				tw := tar.NewWriter(&b)
				if name != "" {
					tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
					tw.Write([]byte("hi"))
				}
				tw.Close()
				return b.Bytes()
			}
			empty, one := mk(""), mk("one")
			var layers []ocispec.Descriptor
			var diffs []digest.Digest
			for _, l := range [][]byte{empty, one, empty, empty, one} {
				d := reg.PutBlob("dup", l)
				layers = append(layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: d, Size: int64(len(l))})
				diffs = append(diffs, d)
			}
			cb, _ := json.Marshal(ocispec.Image{Platform: testimage.HostPlatform(), RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffs}})
			cd := reg.PutBlob("dup", cb)
			mb, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
				Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cd, Size: int64(len(cb))}, Layers: layers})
			reg.PutManifest("dup", "latest", ocispec.MediaTypeImageManifest, mb)
			ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
			defer cancel()
			if _, err := image.Pull(ctx, e.deps, reg.Host+"/dup:latest", image.PullOptions{}); err != nil {
				t.Fatal(err)
			}
			if n := reg.CountRequests("GET", "/blobs/"+layers[0].Digest.String()); n != 1 {
				t.Errorf("the repeated blob was fetched %d times", n)
			}
		})
	}
}

// TestRegistryHangs: a registry that stops sending in the middle of a layer
// fails the pull within the idle timeout, leaving no image and no orphan.
func TestRegistryHangs(t *testing.T) {
	e := newEnv(t, "overlayfs")
	e.deps.Resolver = registry.NewResolver(registry.Options{Retries: 1, IdleTimeout: 300 * time.Millisecond, Backoff: 10 * time.Millisecond, SkipBlobDigest: true})
	reg := testregistry.New(t, testregistry.Options{})
	busy, err := testimage.Busybox(testimage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref := seed(t, reg, "busybox", busy)
	reg.AddFault(&testregistry.Fault{Path: "/blobs/" + busy.Layers[0].Desc.Digest.String(), HangBody: true, HangAfter: 4096})
	start := time.Now()
	_, err = image.Pull(e.ctx, e.deps, ref, image.PullOptions{})
	if err == nil {
		t.Fatal("pull from a hanging registry succeeded")
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("gave up after %v", el)
	}
	t.Logf("error: %v", err)
	if imgs, _ := e.deps.Images.List(e.ctx); len(imgs) != 0 {
		t.Errorf("images: %v", imgs)
	}
	if _, err := e.db.GarbageCollect(e.ctx); err != nil {
		t.Fatal(err)
	}
	if left := files(t, filepath.Join(e.root, "snapshots")); len(left) != 0 {
		t.Errorf("snapshot files left: %v", left)
	}
}

// TestPushMountsFromSourceRepository: pushing a pulled image to another
// repository of the same registry mounts its blobs instead of uploading.
func TestPushMountsFromSourceRepository(t *testing.T) {
	e := newEnv(t, "overlayfs")
	e.deps.Resolver = registry.NewResolver(registry.Options{})
	reg := testregistry.New(t, testregistry.Options{})
	busy, err := testimage.Busybox(testimage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref := seed(t, reg, "busybox", busy)
	img, err := image.Pull(e.ctx, e.deps, ref, image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dst := reg.Host + "/team/copy:v1"
	desc, err := image.Push(e.ctx, e.deps, dst, image.PushOptions{Source: ref})
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != img.Target.Digest {
		t.Fatalf("pushed %s, want %s", desc.Digest, img.Target.Digest)
	}
	mounts, uploads := 0, 0
	for _, r := range reg.Requests() {
		if r.Method == "POST" && strings.Contains(r.Path, "/team/copy/blobs/uploads") && strings.Contains(r.Query, "mount=") {
			mounts++
		}
		if (r.Method == "PUT" || r.Method == "PATCH") && strings.Contains(r.Path, "/team/copy/blobs/uploads") {
			uploads++
		}
	}
	if mounts == 0 || uploads != 0 {
		t.Errorf("%d mounts and %d uploads; want the blobs mounted from busybox", mounts, uploads)
	}
	if !reg.HasBlob("team/copy", busy.Layers[0].Desc.Digest) {
		t.Error("the layer is not in the target repository")
	}
	// By digest: no tag is written.
	if _, err := image.Push(e.ctx, e.deps, reg.Host+"/team/bydigest@"+img.Target.Digest.String(), image.PushOptions{Source: ref}); err != nil {
		t.Fatal(err)
	}
}

// TestPullResumesPartialLayer: a pull that fails after part of a layer
// keeps that part; the next pull fetches only the rest (Range) and still
// unpacks the layer.
func TestPullResumesPartialLayer(t *testing.T) {
	e := newEnv(t, "overlayfs")
	e.deps.Resolver = registry.NewResolver(registry.Options{Retries: 1, Backoff: time.Millisecond, SkipBlobDigest: true})
	reg := testregistry.New(t, testregistry.Options{})
	busy, err := testimage.Busybox(testimage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref := seed(t, reg, "busybox", busy)
	layer := busy.Layers[0].Desc
	reg.AddFault(&testregistry.Fault{Path: "/blobs/" + layer.Digest.String(), Cut: true, CutAfter: 300000})
	if _, err := image.Pull(e.ctx, e.deps, ref, image.PullOptions{}); err == nil {
		t.Fatal("pull through a connection that always breaks succeeded")
	}
	reg.ClearFaults()
	before := len(reg.Requests())
	img, err := image.Pull(e.ctx, e.deps, ref, image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ranges []string
	for _, r := range reg.Requests()[before:] {
		if strings.Contains(r.Path, layer.Digest.String()) {
			ranges = append(ranges, r.Range)
		}
	}
	if len(ranges) != 1 || !strings.HasPrefix(ranges[0], "bytes=") || ranges[0] == "bytes=0-" {
		t.Fatalf("layer requests after the failure: %q, want one ranged request", ranges)
	}
	r, err := image.ResolveManifest(e.ctx, e.deps.Content, img.Target, "")
	if err != nil || !image.Unpacked(e.ctx, e.deps, r.Config.Digest) {
		t.Fatalf("not unpacked after the resumed pull: %v", err)
	}
}
