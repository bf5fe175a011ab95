package unpack_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/archive"
	"github.com/berth-containers/berth/archive/tartest"
	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/mount"
	"github.com/berth-containers/berth/snapshot"
	"github.com/berth-containers/berth/snapshot/native"
	"github.com/berth-containers/berth/snapshot/overlay"
	"github.com/berth-containers/berth/unpack"
)

// memContent is an in-memory content.Provider.
type memContent struct {
	mu    sync.Mutex
	blobs map[digest.Digest][]byte
}

type memReader struct {
	*bytes.Reader
}

func (memReader) Close() error { return nil }

func (m *memContent) ReaderAt(ctx context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, errdefs.ErrNotFound)
	}
	return memReader{bytes.NewReader(b)}, nil
}

type comp int

const (
	none comp = iota
	gz
	zst
)

type image struct {
	manifest ocispec.Manifest
	config   ocispec.Image
	blobs    [][]byte
}

func buildImage(cs *memContent, layers [][]tartest.Entry, comps []comp) image {
	var img image
	img.config.RootFS.Type = "layers"
	for i, entries := range layers {
		raw := tartest.Tar(entries...)
		blob, mt := raw, ocispec.MediaTypeImageLayer
		switch comps[i%len(comps)] {
		case gz:
			blob, mt = tartest.Gzip(raw), ocispec.MediaTypeImageLayerGzip
		case zst:
			blob, mt = tartest.Zstd(raw), ocispec.MediaTypeImageLayerZstd
		}
		d := digest.FromBytes(blob)
		cs.mu.Lock()
		if cs.blobs == nil {
			cs.blobs = map[digest.Digest][]byte{}
		}
		cs.blobs[d] = blob
		cs.mu.Unlock()
		img.blobs = append(img.blobs, blob)
		img.manifest.Layers = append(img.manifest.Layers, ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(blob))})
		img.config.RootFS.DiffIDs = append(img.config.RootFS.DiffIDs, digest.FromBytes(raw))
	}
	return img
}

func own(e tartest.Entry, uid, gid int) tartest.Entry { e.UID, e.GID = uid, gid; return e }

// testLayers is a four-layer image exercising what layers can do.
func testLayers() [][]tartest.Entry {
	var many []tartest.Entry
	many = append(many, tartest.Dir("data"))
	for i := 0; i < 300; i++ {
		many = append(many, tartest.File(fmt.Sprintf("data/f%03d", i), strings.Repeat("z", i)))
	}
	return [][]tartest.Entry{
		{
			tartest.Dir("bin"), tartest.File("bin/busybox", "bb"), tartest.Hardlink("bin/sh", "bin/busybox"),
			tartest.Dir("etc"), tartest.File("etc/passwd", "root1"), tartest.File("etc/group", "g"), tartest.File("etc/gone", "x"),
			tartest.Dir("usr"), tartest.Dir("usr/lib"), {Name: "usr/lib/libx", Type: tar.TypeReg, Body: []byte("lib"), Mode: 0o755},
			tartest.Symlink("lib", "usr/lib"),
			tartest.Dir("var"), tartest.Dir("var/cache"), tartest.File("var/cache/a", "a"), tartest.File("var/cache/b", "b"),
			{Name: "null", Type: tar.TypeChar, Mode: 0o666, Major: 1, Minor: 3},
			own(tartest.Dir("home"), 1000, 1000), own(tartest.File("home/user", "u"), 1000, 1000),
			tartest.Whiteout("nothing-below"), tartest.Whiteout("etc/nothing-below"),
		},
		{
			tartest.Dir("etc"), tartest.File("etc/passwd", "root2"), tartest.Whiteout("etc/gone"),
			{Name: "etc/group", Type: tar.TypeReg, Body: []byte("g"), Mode: 0o600, Xattrs: map[string]string{"user.x": "1"}},
			tartest.Dir("var"), tartest.Dir("var/cache"), tartest.Opaque("var/cache"), tartest.File("var/cache/c", "c"),
		},
		many,
		{
			tartest.Whiteout("data"), tartest.Dir("data2"), tartest.File("data2/x", "x"),
			tartest.Dir("usr"), tartest.Dir("usr/lib"), tartest.Whiteout("usr/lib/libx"), tartest.Dir("usr/lib/libx"),
			tartest.File("usr/lib/libx/inner", "i"), tartest.Hardlink("data2/y", "data2/x"),
		},
	}
}

var wantTop = map[string]string{
	"bin/": "d755 0:0", "bin/busybox": "f644 0:0 bb", "bin/sh": "f644 0:0 bb",
	"etc/": "d755 0:0", "etc/passwd": "f644 0:0 root2", "etc/group": "f600 0:0 g user.x=1",
	"usr/": "d755 0:0", "usr/lib/": "d755 0:0", "usr/lib/libx/": "d755 0:0", "usr/lib/libx/inner": "f644 0:0 i",
	"lib": "l -> usr/lib", "var/": "d755 0:0", "var/cache/": "d755 0:0", "var/cache/c": "f644 0:0 c",
	"null": "c666 1:3", "home/": "d755 1000:1000", "home/user": "f644 1000:1000 u",
	"data2/": "d755 0:0", "data2/x": "f644 0:0 x", "data2/y": "f644 0:0 x",
}

// describe lists a mounted tree: path → type, mode, owner, content or
// target, and user xattrs.
func describe(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		own := fmt.Sprintf("%d:%d", st.Uid, st.Gid)
		perm := st.Mode & 0o7777
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			out[rel+"/"] = fmt.Sprintf("d%o %s", perm, own)
		case unix.S_IFLNK:
			l, _ := os.Readlink(p)
			out[rel] = "l -> " + l
		case unix.S_IFCHR:
			out[rel] = fmt.Sprintf("c%o %d:%d", perm, unix.Major(st.Rdev), unix.Minor(st.Rdev))
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := fmt.Sprintf("f%o %s %s", perm, own, b)
			buf := make([]byte, 64)
			if n, err := unix.Lgetxattr(p, "user.x", buf); err == nil {
				s += " user.x=" + string(buf[:n])
			}
			out[rel] = s
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffTrees(got, want map[string]string) string {
	var d []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			d = append(d, "missing "+k)
		} else if g != v {
			d = append(d, fmt.Sprintf("%s = %q, want %q", k, g, v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			d = append(d, "unexpected "+k)
		}
	}
	sort.Strings(d)
	return strings.Join(d, "\n  ")
}

// viewTree mounts a view of chain and describes it.
func viewTree(t *testing.T, sn snapshot.Snapshotter, chain digest.Digest) map[string]string {
	t.Helper()
	ctx := context.Background()
	key := "view-" + chain.Encoded()[:12]
	ms, err := sn.View(ctx, key, chain.String())
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Remove(ctx, key)
	var out map[string]string
	if err := mount.WithTempMount(ctx, ms, func(dir string) error { out = describe(t, dir); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func snapshotters(t *testing.T) map[string]snapshot.Snapshotter {
	t.Helper()
	ov, err := overlay.New(filepath.Join(t.TempDir(), "overlay"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ov.Close() })
	na, err := native.New(filepath.Join(t.TempDir(), "native"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { na.Close() })
	return map[string]snapshot.Snapshotter{"overlay": ov, "native": na}
}

// noTemporaries fails if an unpack left a temporary snapshot.
func noTemporaries(t *testing.T, sn snapshot.Snapshotter) {
	t.Helper()
	err := sn.Walk(context.Background(), func(_ context.Context, i snapshot.Info) error {
		if strings.HasPrefix(i.Name, unpack.KeyPrefix) {
			t.Errorf("temporary snapshot %s (%s) left behind", i.Name, i.Kind)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestUnpack(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	cs := &memContent{}
	img := buildImage(cs, testLayers(), []comp{gz, zst, none, gz})
	chain := unpack.ChainIDs(img.config.RootFS.DiffIDs)
	sns := snapshotters(t)
	for _, c := range []struct {
		name     string
		backend  string
		parallel int
		layout   unpack.Layout
	}{
		{"overlay-parallel", "overlay", 4, unpack.LayoutAuto},
		{"native", "native", 4, unpack.LayoutAuto},
	} {
		t.Run(c.name, func(t *testing.T) {
			sn := sns[c.backend]
			u := &unpack.Unpacker{Content: cs, Snapshotter: sn, Parallel: c.parallel, Layout: c.layout,
				Labels: map[string]string{"berth.io/test": "1"}}
			top, err := u.Unpack(ctx, img.manifest, img.config)
			if err != nil {
				t.Fatal(err)
			}
			if top != chain[3] {
				t.Fatalf("top chain ID %s, want %s", top, chain[3])
			}
			for i, ch := range chain {
				info, err := sn.Stat(ctx, ch.String())
				if err != nil || info.Kind != snapshot.KindCommitted || info.Labels["berth.io/test"] != "1" {
					t.Errorf("layer %d snapshot %s: %+v %v", i, ch, info, err)
				}
				if i > 0 && info.Parent != chain[i-1].String() {
					t.Errorf("layer %d parent %q, want %s", i, info.Parent, chain[i-1])
				}
			}
			if d := diffTrees(viewTree(t, sn, top), wantTop); d != "" {
				t.Errorf("unpacked tree:\n  %s", d)
			}
			if got := viewTree(t, sn, chain[0]); got["nothing-below"] != "" || got["etc/nothing-below"] != "" || got["etc/gone"] == "" {
				t.Errorf("layer 0 alone: nothing-below=%q etc/nothing-below=%q etc/gone=%q", got["nothing-below"], got["etc/nothing-below"], got["etc/gone"])
			}
			// Layer 2 alone shows the many files.
			if got := viewTree(t, sn, chain[2]); len(got) < 300 || got["data/f299"] == "" || got["etc/gone"] != "" {
				t.Errorf("tree of layer 2: %d entries, data/f299=%q etc/gone=%q", len(got), got["data/f299"], got["etc/gone"])
			}
			noTemporaries(t, sn)
			// Unpacking again finds everything there.
			s, err := u.Start(ctx, img.manifest, img.config)
			if err != nil {
				t.Fatal(err)
			}
			if n := s.Needed(); len(n) != 0 {
				t.Errorf("second unpack needs layers %v", n)
			}
			if got, err := s.Finish(ctx); err != nil || got != top {
				t.Errorf("Finish of an unpacked image: %s %v", got, err)
			}
		})
	}
}

// TestParallelEqualsSerial unpacks the same image with the overlay
// snapshotter in parallel, one layer at a time, and with the copying
// snapshotter, and compares the trees.
func TestParallelEqualsSerial(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	cs := &memContent{}
	img := buildImage(cs, testLayers(), []comp{gz, none, zst})
	var trees []map[string]string
	for _, c := range []struct {
		backend  string
		parallel int
	}{{"overlay", 8}, {"overlay", 1}, {"native", 1}} {
		sn := snapshotters(t)[c.backend]
		u := &unpack.Unpacker{Content: cs, Snapshotter: sn, Parallel: c.parallel}
		top, err := u.Unpack(ctx, img.manifest, img.config)
		if err != nil {
			t.Fatalf("%s/%d: %v", c.backend, c.parallel, err)
		}
		trees = append(trees, viewTree(t, sn, top))
	}
	for i := 1; i < len(trees); i++ {
		if d := diffTrees(trees[i], trees[0]); d != "" {
			t.Errorf("tree %d differs from the parallel overlay unpack:\n  %s", i, d)
		}
	}
}

func TestUnpackDiffIDMismatch(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	for name, sn := range snapshotters(t) {
		t.Run(name, func(t *testing.T) {
			cs := &memContent{}
			img := buildImage(cs, testLayers(), []comp{gz})
			bad := digest.FromString("not this layer")
			good := img.config.RootFS.DiffIDs[2]
			img.config.RootFS.DiffIDs[2] = bad
			u := &unpack.Unpacker{Content: cs, Snapshotter: sn}
			_, err := u.Unpack(ctx, img.manifest, img.config)
			if err == nil {
				t.Fatal("unpack with a wrong diffID succeeded")
			}
			for _, want := range []string{"layer 2", bad.String(), good.String(), "rootfs.diff_ids[2]"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			chain := unpack.ChainIDs(img.config.RootFS.DiffIDs)
			for _, i := range []int{2, 3} {
				if _, err := sn.Stat(ctx, chain[i].String()); !errdefs.IsNotFound(err) {
					t.Errorf("layer %d snapshot exists after the failure: %v", i, err)
				}
			}
			noTemporaries(t, sn)
		})
	}
}

func TestUnpackSharedLayers(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	cs := &memContent{}
	layers := testLayers()
	a := buildImage(cs, layers, []comp{gz})
	b := buildImage(cs, append(layers[:2:2], []tartest.Entry{tartest.File("only-in-b", "b")}), []comp{gz})
	sn := snapshotters(t)["overlay"]
	u := &unpack.Unpacker{Content: cs, Snapshotter: sn}
	if _, err := u.Unpack(ctx, a.manifest, a.config); err != nil {
		t.Fatal(err)
	}
	s, err := u.Start(ctx, b.manifest, b.config)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Needed(); len(n) != 1 || n[0] != 2 {
		t.Fatalf("image b needs layers %v, want [2] (0 and 1 are shared)", n)
	}
	s.Abort(ctx)
	topB, err := u.Unpack(ctx, b.manifest, b.config)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	sn.Walk(ctx, func(context.Context, snapshot.Info) error { n++; return nil })
	if n != 5 {
		t.Errorf("%d snapshots for two images sharing two layers, want 5", n)
	}
	if got := viewTree(t, sn, topB); got["only-in-b"] == "" || got["etc/passwd"] != "f644 0:0 root2" || got["data2/x"] != "" {
		t.Errorf("image b tree wrong: only-in-b=%q etc/passwd=%q data2/x=%q", got["only-in-b"], got["etc/passwd"], got["data2/x"])
	}
}

func TestUnpackBombBounded(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	cs := &memContent{}
	big := tartest.Entry{Name: "zeros", Type: tar.TypeReg, Body: make([]byte, 32<<20), Mode: 0o644}
	img := buildImage(cs, [][]tartest.Entry{{tartest.File("a", "a")}, {big}}, []comp{gz})
	for name, sn := range snapshotters(t) {
		u := &unpack.Unpacker{Content: cs, Snapshotter: sn, ApplyOpts: []archive.ApplyOpt{archive.WithMaxBytes(1 << 20)}}
		_, err := u.Unpack(ctx, img.manifest, img.config)
		if !archive.IsLimit(err) {
			t.Fatalf("%s: want a limit error, got %v", name, err)
		}
		noTemporaries(t, sn)
		chain := unpack.ChainIDs(img.config.RootFS.DiffIDs)
		if _, err := sn.Stat(ctx, chain[1].String()); !errdefs.IsNotFound(err) {
			t.Errorf("%s: the bomb layer's snapshot exists: %v", name, err)
		}
	}
}

func TestUnpackBadInput(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	cs := &memContent{}
	sn := snapshotters(t)["overlay"]
	u := &unpack.Unpacker{Content: cs, Snapshotter: sn}
	img := buildImage(cs, testLayers()[:2], []comp{gz})

	short := img
	short.config.RootFS.DiffIDs = short.config.RootFS.DiffIDs[:1]
	if _, err := u.Unpack(ctx, short.manifest, short.config); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "diff_ids") {
		t.Errorf("layer/diffID count mismatch: %v", err)
	}
	odd := buildImage(cs, testLayers()[:1], []comp{gz})
	odd.manifest.Layers[0].MediaType = "application/vnd.example.layer.v1.tar+lz4"
	if _, err := u.Unpack(ctx, odd.manifest, odd.config); !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "layers[0]") {
		t.Errorf("unsupported media type: %v", err)
	}
	noType := buildImage(cs, testLayers()[:1], []comp{gz})
	noType.config.RootFS.Type = ""
	if _, err := u.Unpack(ctx, noType.manifest, noType.config); !errdefs.IsInvalidArgument(err) {
		t.Errorf("rootfs.type missing: %v", err)
	}
	// A truncated blob.
	trunc := buildImage(&memContent{}, [][]tartest.Entry{{tartest.File("f", strings.Repeat("q", 1<<20))}}, []comp{gz})
	blob := img.blobs[0]
	cs.blobs[trunc.manifest.Layers[0].Digest] = blob[:len(blob)/2]
	if _, err := u.Unpack(ctx, trunc.manifest, trunc.config); err == nil || !strings.Contains(err.Error(), "layer 0") {
		t.Errorf("truncated layer: %v", err)
	}
	// A hostile layer.
	hostile := buildImage(cs, [][]tartest.Entry{{tartest.File("../../escape", "x")}}, []comp{none})
	if _, err := u.Unpack(ctx, hostile.manifest, hostile.config); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "../../escape") {
		t.Errorf("hostile layer: %v", err)
	}
	noTemporaries(t, sn)
	n := 0
	sn.Walk(ctx, func(context.Context, snapshot.Info) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d snapshots after only failed unpacks", n)
	}
}

// TestSessionStream feeds layers as streams, in reverse order and
// concurrently, as a download finishing out of order would.
func TestSessionStream(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	for name, sn := range snapshotters(t) {
		t.Run(name, func(t *testing.T) {
			cs := &memContent{}
			img := buildImage(cs, testLayers(), []comp{zst, gz})
			u := &unpack.Unpacker{Snapshotter: sn}
			s, err := u.Start(ctx, img.manifest, img.config)
			if err != nil {
				t.Fatal(err)
			}
			needed := s.Needed()
			var wg sync.WaitGroup
			errs := make([]error, len(needed))
			for k := len(needed) - 1; k >= 0; k-- {
				i := needed[k]
				wg.Add(1)
				go func() {
					defer wg.Done()
					// A slow reader, in small pieces.
					r := io.MultiReader(bytes.NewReader(img.blobs[i][:len(img.blobs[i])/2]), bytes.NewReader(img.blobs[i][len(img.blobs[i])/2:]))
					errs[k] = s.ApplyStream(ctx, i, r)
				}()
			}
			top, err := s.Finish(ctx)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			for k, err := range errs {
				if err != nil {
					t.Errorf("layer %d: %v", needed[k], err)
				}
			}
			if d := diffTrees(viewTree(t, sn, top), wantTop); d != "" {
				t.Errorf("tree:\n  %s", d)
			}
			noTemporaries(t, sn)
		})
	}
}

// BenchmarkUnpack unpacks one ~100 MB gzip layer of mixed files.
func BenchmarkUnpack(b *testing.B) {
	testutil.RequireRoot(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))
	var es []tartest.Entry
	total := 0
	for i := 0; total < 100<<20; i++ {
		size := 512 + r.IntN(8<<10)
		if i%50 == 0 {
			size = 4 << 20
		}
		body := make([]byte, size)
		for j := range body {
			body[j] = byte(r.IntN(16)) // half-compressible
		}
		es = append(es, tartest.Entry{Name: fmt.Sprintf("d%02d/f%05d", i%40, i), Type: tar.TypeReg, Body: body, Mode: 0o644})
		total += size
	}
	cs := &memContent{}
	img := buildImage(cs, [][]tartest.Entry{es}, []comp{gz})
	b.SetBytes(int64(total))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		sn, err := overlay.New(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := (&unpack.Unpacker{Content: cs, Snapshotter: sn}).Unpack(ctx, img.manifest, img.config); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		sn.Close()
		b.StartTimer()
	}
}

// TestSessionCopyWaitCanceled: with a copying snapshotter a layer waits for
// the one below; a context that ends stops the wait and leaves nothing.
func TestSessionCopyWaitCanceled(t *testing.T) {
	testutil.RequireRoot(t)
	sn := snapshotters(t)["native"]
	cs := &memContent{}
	img := buildImage(cs, testLayers()[:2], []comp{gz})
	u := &unpack.Unpacker{Snapshotter: sn}
	s, err := u.Start(context.Background(), img.manifest, img.config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = s.ApplyStream(ctx, 1, bytes.NewReader(img.blobs[1]))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ApplyStream waiting for layer 0: %v, want deadline exceeded", err)
	}
	if _, err := s.Finish(context.Background()); err == nil {
		t.Fatal("Finish after a failed layer succeeded")
	}
	noTemporaries(t, sn)
}

// TestUnpackDiskFull: a layer that does not fit fails with ENOSPC naming the
// entry, and everything it wrote is freed.
func TestUnpackDiskFull(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=8m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mount.UnmountAll(dir, unix.MNT_DETACH) })
	free := func() uint64 {
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err != nil {
			t.Fatal(err)
		}
		return st.Bfree * uint64(st.Bsize)
	}
	for _, backend := range []string{"overlay", "native"} {
		root := filepath.Join(dir, backend)
		var sn snapshot.Snapshotter
		var err error
		if backend == "overlay" {
			sn, err = overlay.New(root)
		} else {
			sn, err = native.New(root)
		}
		if err != nil {
			t.Fatal(err)
		}
		before := free()
		cs := &memContent{}
		big := tartest.Entry{Name: "big", Type: tar.TypeReg, Body: make([]byte, 16<<20), Mode: 0o644}
		img := buildImage(cs, [][]tartest.Entry{{tartest.File("a", "a")}, {tartest.Dir("d"), big}}, []comp{gz})
		_, err = (&unpack.Unpacker{Content: cs, Snapshotter: sn}).Unpack(ctx, img.manifest, img.config)
		if !errors.Is(err, unix.ENOSPC) || !strings.Contains(err.Error(), `"big"`) {
			t.Fatalf("%s: want ENOSPC naming \"big\", got %v", backend, err)
		}
		noTemporaries(t, sn)
		chain := unpack.ChainIDs(img.config.RootFS.DiffIDs)
		sn.Remove(ctx, chain[0].String())
		if after := free(); after+64<<10 < before {
			t.Errorf("%s: %d bytes still used after the failed unpack", backend, before-after)
		}
		sn.Close()
	}
}

// TestUnpackDirectoryRecreated: a layer that whites out a directory and then
// creates it again hides what the layers below had in it, with both
// snapshotters.
func TestUnpackDirectoryRecreated(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	cs := &memContent{}
	img := buildImage(cs, [][]tartest.Entry{
		{tartest.Dir("d"), tartest.File("d/old", "o"), tartest.Dir("d/sub"), tartest.File("d/sub/x", "x"), tartest.File("f", "f")},
		{tartest.Whiteout("d"), tartest.Dir("d"), tartest.File("d/new", "n"), tartest.Whiteout("f"), tartest.File("f", "again")},
	}, []comp{gz})
	want := map[string]string{"d/": "d755 0:0", "d/new": "f644 0:0 n", "f": "f644 0:0 again"}
	for name, sn := range snapshotters(t) {
		top, err := (&unpack.Unpacker{Content: cs, Snapshotter: sn}).Unpack(ctx, img.manifest, img.config)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d := diffTrees(viewTree(t, sn, top), want); d != "" {
			t.Errorf("%s:\n  %s", name, d)
		}
	}
}
