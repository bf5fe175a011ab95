package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/content/local"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/testimage"
)

func store(t *testing.T) content.Store {
	t.Helper()
	cs, err := local.NewStore(filepath.Join(t.TempDir(), "content"))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestDetectFormat(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  Format
	}{
		{[]string{"oci-layout", "index.json", "blobs/sha256/x"}, FormatOCI},
		{[]string{"./index.json", "manifest.json"}, FormatOCI},
		{[]string{"abc.json", "abc/layer.tar", "manifest.json", "repositories"}, FormatDocker},
		{[]string{"./manifest.json"}, FormatDocker},
	} {
		got, err := DetectFormat(tc.names)
		if err != nil || got != tc.want {
			t.Errorf("%v: %v %v, want %v", tc.names, got, err, tc.want)
		}
	}
	if _, err := DetectFormat([]string{"etc/passwd", "../index.json"}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("no index: %v", err)
	}
}

func TestParseDockerManifestErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{`, "malformed"},
		{`[]`, "no images"},
		{`[{"Config":"","Layers":[]}]`, "manifest.json[0].Config"},
		{`[{"Config":"../x.json"}]`, "manifest.json[0].Config"},
		{`[{"Config":"/etc/x.json"}]`, "manifest.json[0].Config"},
		{`[{"Config":"c.json","Layers":["ok/layer.tar","../../l.tar"]}]`, "manifest.json[0].Layers[1]"},
		{`[{"Config":"c.json","RepoTags":[""]}]`, "RepoTags[0]"},
	} {
		_, err := ParseDockerManifest([]byte(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: %v, want invalid argument naming %q", tc.body, err, tc.want)
		}
	}
}

func FuzzParseDockerManifest(f *testing.F) {
	f.Add([]byte(`[{"Config":"c.json","RepoTags":["busybox:latest"],"Layers":["a/layer.tar"]}]`))
	f.Add([]byte(`[{"Config":"blobs/sha256/00","Layers":["blobs/sha256/11"]}]`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := ParseDockerManifest(b)
		if err != nil {
			return
		}
		for _, e := range es {
			if cleanName(e.Config) == "" {
				t.Fatalf("accepted config %q", e.Config)
			}
			for _, l := range e.Layers {
				if cleanName(l) == "" || strings.HasPrefix(cleanName(l), "..") {
					t.Fatalf("accepted layer %q", l)
				}
			}
		}
	})
}

// TestExportImportRoundTrip: an exported image imports with the same
// target digest, named as it was, from the OCI index.
func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	img, err := testimage.Generated(3, 2, 256<<10, testimage.Options{Index: true})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err = Export(ctx, img.Provider(), []ExportImage{{Name: "registry.example/a/b:v2", Root: img.Root, Manifest: img.Manifest()}}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	exported := buf.Bytes()
	// The tar carries both indexes.
	var names []string
	tr := tar.NewReader(bytes.NewReader(exported))
	var dm []DockerManifestEntry
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
		if h.Name == "manifest.json" {
			json.NewDecoder(tr).Decode(&dm)
		}
	}
	if len(dm) != 1 || dm[0].RepoTags[0] != "registry.example/a/b:v2" || dm[0].Config != "blobs/sha256/"+img.Config.Digest.Encoded() {
		t.Fatalf("docker manifest.json: %+v", dm)
	}
	cs := store(t)
	f, got, err := Import(ctx, cs, bytes.NewReader(exported))
	if err != nil {
		t.Fatal(err)
	}
	if f != FormatOCI || len(got) != 1 || got[0].Name != "registry.example/a/b:v2" || got[0].Target.Digest != img.Root.Digest {
		t.Fatalf("import: %v %+v, want %s", f, got, img.Root.Digest)
	}
	for d := range img.Blobs {
		if _, err := cs.Info(ctx, d); err != nil {
			t.Errorf("blob %s not imported: %v", d, err)
		}
	}
	// Same input, same bytes.
	var again bytes.Buffer
	Export(ctx, img.Provider(), []ExportImage{{Name: "registry.example/a/b:v2", Root: img.Root, Manifest: img.Manifest()}}, &again)
	if !bytes.Equal(again.Bytes(), exported) {
		t.Error("export is not deterministic")
	}
}

func TestImportDockerArchive(t *testing.T) {
	ctx := context.Background()
	img, err := testimage.Busybox(testimage.Options{Docker: true})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := img.WriteDockerArchive(&buf, "busybox:1"); err != nil {
		t.Fatal(err)
	}
	cs := store(t)
	f, got, err := Import(ctx, cs, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if f != FormatDocker || len(got) != 1 || got[0].Name != "docker.io/library/busybox:1" {
		t.Fatalf("import: %v %+v", f, got)
	}
	b, err := content.ReadBlob(ctx, cs, got[0].Target)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), img.Config.Digest.String()) {
		t.Errorf("built manifest does not name the config %s: %s", img.Config.Digest, b)
	}
}

func TestImportRejects(t *testing.T) {
	ctx := context.Background()
	mk := func(files map[string]string) *bytes.Buffer {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for n, body := range files {
			tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
			tw.Write([]byte(body))
		}
		tw.Close()
		return &b
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"empty", map[string]string{}, "neither index.json"},
		{"escape", map[string]string{"../../etc/x": "x"}, "leaves the archive"},
		{"bad blob name", map[string]string{"blobs/sha256/zz": "x", "index.json": `{"schemaVersion":2}`}, "blobs/sha256/zz"},
		{"blob digest mismatch", map[string]string{"blobs/sha256/" + strings.Repeat("a", 64): "x", "index.json": `{"schemaVersion":2}`}, "digest"},
		{"malformed index", map[string]string{"index.json": `{`}, "index.json: malformed"},
		{"missing blob", map[string]string{"index.json": `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("b", 64) + `","size":3}]}`}, "sha256:bbbb"},
		{"docker missing layer", map[string]string{"c.json": `{"rootfs":{"type":"layers","diff_ids":["sha256:` + strings.Repeat("c", 64) + `"]}}`, "manifest.json": `[{"Config":"c.json","Layers":["l/layer.tar"]}]`}, "Layers[0]"},
		{"not a tar", map[string]string{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mk(tc.files)
			if tc.name == "not a tar" {
				r = bytes.NewBufferString(strings.Repeat("garbage!", 200))
			}
			_, _, err := Import(ctx, store(t), r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
