package testimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func entries(t *testing.T, img *Image, l Layer) map[string]*tar.Header {
	t.Helper()
	raw, err := decompress(l.Desc.MediaType, img.Blobs[l.Desc.Digest])
	if err != nil {
		t.Fatal(err)
	}
	if digest.FromBytes(raw) != l.DiffID {
		t.Fatal("diffID does not match the uncompressed layer")
	}
	out := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = h
	}
}

func TestBusybox(t *testing.T) {
	img, err := Busybox(Options{})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Busybox(Options{})
	if img.Root.Digest != again.Root.Digest {
		t.Fatal("builds differ")
	}
	es := entries(t, img, img.Layers[0])
	if h := es["bin/sh"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
		t.Fatalf("bin/sh: %+v", h)
	}
	if h := es["tmp/"]; h == nil || h.Mode&0o1777 != 0o1777 {
		t.Fatalf("tmp: %+v", h)
	}
	bb, _ := os.ReadFile(BusyboxStatic)
	if h := es["bin/busybox"]; h == nil || h.Size != int64(len(bb)) {
		t.Fatalf("busybox: %+v", h)
	}
	cfg := img.ImageConfig()
	if cfg.Config.Cmd[0] != "sh" || len(cfg.RootFS.DiffIDs) != 1 || cfg.OS != "linux" {
		t.Fatalf("config: %+v", cfg)
	}
	for _, c := range []Compression{Gzip, Zstd, Uncompressed} {
		other, err := Busybox(Options{Compression: c})
		if err != nil {
			t.Fatal(err)
		}
		if other.Layers[0].DiffID != img.Layers[0].DiffID {
			t.Fatalf("%s: different diffID", c)
		}
	}
	if _, err := Busybox(Options{Compression: Zstd, Docker: true}); err == nil {
		t.Fatal("zstd with Docker media types accepted")
	}
}

func TestGenerated(t *testing.T) {
	o := Options{Docker: true, Platforms: []Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}}
	img, err := Generated(42, 3, 1<<20, o)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Generated(42, 3, 1<<20, o)
	other, _ := Generated(43, 3, 1<<20, o)
	if img.Root.Digest != again.Root.Digest || img.Root.Digest == other.Root.Digest {
		t.Fatal("not deterministic by seed")
	}
	if img.Root.MediaType != MediaTypeDockerManifestList || len(img.Manifests) != 2 {
		t.Fatalf("root %+v", img.Root)
	}
	var total int64
	for i, l := range img.Layers {
		es := entries(t, img, l)
		for _, h := range es {
			total += h.Size
		}
		if i == 0 {
			continue
		}
		prev := "l" + string(rune('0'+i-1))
		if es[prev+"/d0/.wh.f0"] == nil || es[prev+"/d1/.wh..wh..opq"] == nil || es[prev+"/d1/replaced"] == nil {
			t.Fatalf("layer %d lacks whiteouts", i)
		}
		var links, syms, xattrs int
		for _, h := range es {
			switch {
			case h.Typeflag == tar.TypeLink:
				links++
			case h.Typeflag == tar.TypeSymlink:
				syms++
			}
			if h.PAXRecords["SCHILY.xattr.user.berth.test"] != "" {
				xattrs++
			}
		}
		if links == 0 || syms == 0 || xattrs == 0 {
			t.Fatalf("layer %d: %d hardlinks %d symlinks %d xattrs", i, links, syms, xattrs)
		}
	}
	if total < 900<<10 || total > 1200<<10 {
		t.Fatalf("file bytes %d, asked for ~1MiB", total)
	}
}

func TestArchives(t *testing.T) {
	img, err := Generated(1, 2, 64<<10, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := img.WriteOCILayout(dir, "example.com/x:1"); err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	b, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	if err := json.Unmarshal(b, &idx); err != nil || idx.Manifests[0].Digest != img.Root.Digest || idx.Manifests[0].Annotations[ocispec.AnnotationRefName] != "example.com/x:1" {
		t.Fatalf("index.json: %s %v", b, err)
	}
	for d, want := range img.Blobs {
		got, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", d.Encoded()))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("blob %s: %v", d, err)
		}
	}
	var buf bytes.Buffer
	if err := img.WriteOCIArchive(&buf, "x"); err != nil {
		t.Fatal(err)
	}
	var da bytes.Buffer
	if err := img.WriteDockerArchive(&da, "example.com/x:1"); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&da)
	names := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		names[h.Name] = b
	}
	var dm []DockerArchiveManifest
	if err := json.Unmarshal(names["manifest.json"], &dm); err != nil || len(dm) != 1 || dm[0].RepoTags[0] != "example.com/x:1" {
		t.Fatalf("manifest.json: %s %v", names["manifest.json"], err)
	}
	for i, l := range dm[0].Layers {
		if digest.FromBytes(names[l]) != img.Layers[i].DiffID || !strings.HasSuffix(l, "/layer.tar") {
			t.Fatalf("layer %s", l)
		}
	}
	if digest.FromBytes(names[dm[0].Config]) != img.Config.Digest {
		t.Fatal("config differs")
	}
}
