package unpack_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-containers/berth/internal/testimage"
	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/mount"
	"github.com/berth-containers/berth/snapshot/overlay"
	"github.com/berth-containers/berth/unpack"
)

// TestUnpackBusybox unpacks the busybox image built from Debian's
// busybox-static and checks the binary and its applet links.
func TestUnpackBusybox(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	host, err := os.ReadFile(testutil.BusyboxStatic)
	if err != nil {
		t.Fatalf("install Debian's busybox-static: %v", err)
	}
	for _, o := range []testimage.Options{{Compression: testimage.Gzip}, {Compression: testimage.Zstd}, {Docker: true}} {
		img, err := testimage.Busybox(o)
		if err != nil {
			t.Fatal(err)
		}
		for name, sn := range snapshotters(t) {
			u := &unpack.Unpacker{Content: img.Provider(), Snapshotter: sn}
			top, err := u.Unpack(ctx, img.Manifest(), img.ImageConfig())
			if err != nil {
				t.Fatalf("%s %+v: %v", name, o, err)
			}
			key := "view-busybox"
			ms, err := sn.View(ctx, key, top.String())
			if err != nil {
				t.Fatal(err)
			}
			err = mount.WithTempMount(ctx, ms, func(dir string) error {
				b, err := os.ReadFile(filepath.Join(dir, "bin/busybox"))
				if err != nil || !bytes.Equal(b, host) {
					t.Errorf("%s: bin/busybox differs from %s (%v)", name, testutil.BusyboxStatic, err)
				}
				fi, err := os.Stat(filepath.Join(dir, "bin/sh"))
				if err != nil || fi.Mode().Perm()&0o111 == 0 {
					t.Errorf("%s: bin/sh: %v %v", name, fi, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := sn.Remove(ctx, key); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestUnpackGenerated unpacks a generated multi-layer image (whiteouts,
// opaque directories, hardlinks, symlinks, xattrs) with both snapshotters
// and compares the trees.
func TestUnpackGenerated(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	img, err := testimage.Generated(7, 6, 6<<20, testimage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	trees := map[string]map[string]string{}
	for name, sn := range snapshotters(t) {
		u := &unpack.Unpacker{Content: img.Provider(), Snapshotter: sn}
		top, err := u.Unpack(ctx, img.Manifest(), img.ImageConfig())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		trees[name] = viewTree(t, sn, top)
		noTemporaries(t, sn)
	}
	if d := diffTrees(trees["overlay"], trees["native"]); d != "" {
		t.Errorf("overlay and native unpacks differ:\n  %s", d)
	}
	ov := trees["overlay"]
	if len(ov) < 100 {
		t.Errorf("only %d entries unpacked", len(ov))
	}
	if _, ok := ov["l0/d0/f0"]; ok {
		t.Errorf("l0/d0/f0 was whited out by layer 1 but is present")
	}
	if _, ok := ov["l0/d1/replaced"]; !ok {
		t.Errorf("l0/d1/replaced (opaque replacement) missing")
	}
}

// BenchmarkUnpackLayers unpacks a generated 20-layer image of ~100 MB one
// layer at a time and in parallel (overlay, with the filesystem sync).
func BenchmarkUnpackLayers(b *testing.B) {
	testutil.RequireRoot(b)
	img, err := testimage.Generated(11, 20, 100<<20, testimage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, par := range []int{1, 4} {
		b.Run(fmt.Sprintf("parallel=%d", par), func(b *testing.B) {
			b.SetBytes(img.Size())
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				sn, err := overlay.New(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				u := &unpack.Unpacker{Content: img.Provider(), Snapshotter: sn, Parallel: par}
				if _, err := u.Unpack(context.Background(), img.Manifest(), img.ImageConfig()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				sn.Close()
				b.StartTimer()
			}
		})
	}
}
