package registry

import (
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/internal/errdefs"
)

const okManifest = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","size":3}]}`
const okIndex = `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":2,"platform":{"os":"linux","architecture":"amd64"}}]}`

func TestDecode(t *testing.T) {
	m, err := DecodeManifest([]byte(okManifest), ocispec.MediaTypeImageManifest)
	if err != nil || len(m.Layers) != 1 {
		t.Fatalf("%+v %v", m, err)
	}
	if _, err := DecodeIndex([]byte(okIndex), MediaTypeDockerManifestList); err != nil {
		t.Fatal(err)
	}
	kids, err := Children([]byte(okManifest), ocispec.MediaTypeImageManifest)
	if err != nil || len(kids) != 2 {
		t.Fatalf("children: %v %v", kids, err)
	}
	for mt, body := range map[string]string{
		"": `{"schemaVersion":2,"manifests":[]}`,
	} {
		if d, err := DetectMediaType([]byte(body)); err != nil || d != ocispec.MediaTypeImageIndex {
			t.Errorf("detect %s: %s %v", mt, d, err)
		}
	}
	bad := map[string]struct {
		body, mt, want string
		kind           error
	}{
		"json":          {`{`, ocispec.MediaTypeImageManifest, "malformed", errdefs.ErrInvalidArgument},
		"schema1 type":  {okManifest, MediaTypeDockerSchema1, "unsupported", errdefs.ErrNotImplemented},
		"schema1 body":  {`{"schemaVersion":1,"fsLayers":[]}`, ocispec.MediaTypeImageManifest, "unsupported", errdefs.ErrNotImplemented},
		"schema3":       {`{"schemaVersion":3,"config":{}}`, ocispec.MediaTypeImageManifest, "schemaVersion 3", errdefs.ErrNotImplemented},
		"no version":    {`{"config":{}}`, ocispec.MediaTypeImageManifest, "schemaVersion", errdefs.ErrInvalidArgument},
		"type mismatch": {okManifest, MediaTypeDockerManifest, "does not match", errdefs.ErrInvalidArgument},
		"no config":     {`{"schemaVersion":2,"layers":[]}`, ocispec.MediaTypeImageManifest, "config: missing", errdefs.ErrInvalidArgument},
		"layer digest":  {strings.Replace(okManifest, "sha256:bbbb", "sha256:zzzz", 1), ocispec.MediaTypeImageManifest, "layers[0].digest", errdefs.ErrInvalidArgument},
		"layer size":    {strings.Replace(okManifest, `"size":3`, `"size":-3`, 1), ocispec.MediaTypeImageManifest, "layers[0].size", errdefs.ErrInvalidArgument},
		"not manifest":  {okManifest, "application/x-other", "not an image manifest", errdefs.ErrNotImplemented},
	}
	for name, c := range bad {
		_, err := DecodeManifest([]byte(c.body), c.mt)
		if err == nil || !strings.Contains(err.Error(), c.want) || !errorsIs(err, c.kind) {
			t.Errorf("%s: %v, want %q (%v)", name, err, c.want, c.kind)
		}
	}
	if _, err := DecodeIndex([]byte(`{"schemaVersion":2,"manifests":[{"digest":"x"}]}`), ""); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "manifests[0]") {
		t.Errorf("index: %v", err)
	}
}

func errorsIs(err, kind error) bool {
	for e := err; e != nil; {
		if e == kind {
			return true
		}
		switch x := e.(type) {
		case interface{ Unwrap() error }:
			e = x.Unwrap()
		case interface{ Unwrap() []error }:
			for _, y := range x.Unwrap() {
				if errorsIs(y, kind) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(okManifest), ocispec.MediaTypeImageManifest)
	f.Add([]byte(okIndex), ocispec.MediaTypeImageIndex)
	f.Add([]byte(`{"schemaVersion":1}`), "")
	f.Fuzz(func(t *testing.T, b []byte, mt string) {
		if d, err := DetectMediaType(b); err == nil {
			_, _ = Children(b, d)
		}
		if m, err := DecodeManifest(b, mt); err == nil {
			if m.Config.Digest.Validate() != nil || m.Config.Size < 0 {
				t.Fatalf("accepted bad config %+v", m.Config)
			}
		} else if !errdefs.IsInvalidArgument(err) && !errdefs.IsNotImplemented(err) {
			t.Fatalf("wrong kind: %v", err)
		}
		if idx, err := DecodeIndex(b, mt); err == nil {
			for _, d := range idx.Manifests {
				if d.Digest.Validate() != nil {
					t.Fatalf("accepted bad digest %q", d.Digest)
				}
			}
		} else if !errdefs.IsInvalidArgument(err) && !errdefs.IsNotImplemented(err) {
			t.Fatalf("wrong kind: %v", err)
		}
	})
}
