package images

import (
	"encoding/json"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/internal/errdefs"
)

func TestChildren(t *testing.T) {
	cfg := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromString("c"), Size: 1}
	l1 := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("l1"), Size: 2}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{l1}}
	m.SchemaVersion = 2
	mb, _ := json.Marshal(m)
	mdesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb))}
	got, err := Children(mdesc, mb)
	if err != nil || len(got) != 2 || got[0].Digest != cfg.Digest || got[1].Digest != l1.Digest {
		t.Fatalf("manifest children = %v, %v", got, err)
	}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{mdesc}}
	ib, _ := json.Marshal(idx)
	got, err = Children(ocispec.Descriptor{MediaType: MediaTypeDockerManifestList, Digest: digest.FromBytes(ib)}, ib)
	if err == nil {
		// a Docker list whose body says OCI index: both are indexes, allowed
		if len(got) != 1 {
			t.Fatalf("index children = %v", got)
		}
	}
	// Sniffed when the descriptor has no media type.
	got, err = Children(ocispec.Descriptor{Digest: digest.FromBytes(mb)}, mb)
	if err != nil || len(got) != 2 {
		t.Fatalf("sniffed children = %v, %v", got, err)
	}
	// Leaves.
	if got, err := Children(cfg, []byte(`{"mediaType":"x"}`)); err != nil || got != nil {
		t.Fatalf("config children = %v, %v", got, err)
	}
	bad := []struct {
		mt, body string
		kind     func(error) bool
		mention  string
	}{
		{ocispec.MediaTypeImageManifest, `{"config":`, errdefs.IsInvalidArgument, "malformed"},
		{ocispec.MediaTypeImageManifest, `{"layers":[]}`, errdefs.IsInvalidArgument, "config"},
		{ocispec.MediaTypeImageManifest, `{"config":{"digest":"sha256:zz","size":1}}`, errdefs.IsInvalidArgument, "config[0].digest"},
		{ocispec.MediaTypeImageIndex, `{"manifests":[{"digest":"` + string(cfg.Digest) + `","size":-1}]}`, errdefs.IsInvalidArgument, "manifests[0].size"},
		{ocispec.MediaTypeImageIndex, `{"mediaType":"` + ocispec.MediaTypeImageManifest + `"}`, errdefs.IsInvalidArgument, "contradicts"},
		{MediaTypeDockerSchema1JWS, `{}`, errdefs.IsNotImplemented, "schema 1"},
	}
	for _, b := range bad {
		_, err := Children(ocispec.Descriptor{MediaType: b.mt, Digest: digest.FromString(b.body)}, []byte(b.body))
		if !b.kind(err) || !strings.Contains(err.Error(), b.mention) {
			t.Errorf("Children(%s, %s) = %v, want error mentioning %q", b.mt, b.body, err, b.mention)
		}
	}
	// Too many children.
	many := ocispec.Index{Manifests: make([]ocispec.Descriptor, MaxChildren+1)}
	for i := range many.Manifests {
		many.Manifests[i] = mdesc
	}
	manyb, _ := json.Marshal(many)
	if _, err := Children(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex}, manyb); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("index with %d children = %v, want invalid argument", MaxChildren+1, err)
	}
}

func FuzzChildren(f *testing.F) {
	f.Add(ocispec.MediaTypeImageManifest, []byte(`{"config":{"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}`))
	f.Add(ocispec.MediaTypeImageIndex, []byte(`{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}]}`))
	f.Add("", []byte(`{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[[[[[]]]]]}`))
	f.Fuzz(func(t *testing.T, mt string, data []byte) {
		got, err := Children(ocispec.Descriptor{MediaType: mt}, data)
		if err != nil {
			return
		}
		if len(got) > MaxChildren {
			t.Fatalf("%d children returned", len(got))
		}
		for _, c := range got {
			if c.Digest.Validate() != nil || c.Size < 0 {
				t.Fatalf("invalid child returned: %+v", c)
			}
		}
	})
}
