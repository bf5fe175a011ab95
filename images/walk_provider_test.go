package images

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/internal/errdefs"
)

type memProvider map[digest.Digest][]byte

type memReader struct{ *bytes.Reader }

func (memReader) Close() error { return nil }

func (p memProvider) ReaderAt(ctx context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	b, ok := p[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: %w", desc.Digest, errdefs.ErrNotFound)
	}
	return memReader{bytes.NewReader(b)}, nil
}

func (p memProvider) add(mt string, v interface{}) ocispec.Descriptor {
	var b []byte
	if raw, ok := v.([]byte); ok {
		b = raw
	} else {
		b, _ = json.Marshal(v)
	}
	d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
	p[d.Digest] = b
	return d
}

func TestWalk(t *testing.T) {
	p := memProvider{}
	cfg := p.add(ocispec.MediaTypeImageConfig, []byte(`{}`))
	layer := p.add(ocispec.MediaTypeImageLayerGzip, []byte("layer"))
	m1 := p.add(ocispec.MediaTypeImageManifest, ocispec.Manifest{Config: cfg, Layers: []ocispec.Descriptor{layer}})
	m2 := p.add(MediaTypeDockerManifest, ocispec.Manifest{Config: cfg, Layers: []ocispec.Descriptor{layer, layer}})
	idx := p.add(ocispec.MediaTypeImageIndex, ocispec.Index{Manifests: []ocispec.Descriptor{m1, m2}})
	var seen []digest.Digest
	err := Walk(context.Background(), p, idx, func(ctx context.Context, d ocispec.Descriptor) error {
		seen = append(seen, d.Digest)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 5 {
		t.Fatalf("walked %d descriptors, want 5 (each once): %v", len(seen), seen)
	}
	// ErrSkip stops descent.
	seen = nil
	Walk(context.Background(), p, idx, func(ctx context.Context, d ocispec.Descriptor) error {
		seen = append(seen, d.Digest)
		if IsManifest(d.MediaType) {
			return ErrSkip
		}
		return nil
	})
	if len(seen) != 3 {
		t.Fatalf("walk with ErrSkip on manifests saw %d, want 3", len(seen))
	}
	// Nesting beyond MaxDepth is refused.
	cur := m1
	for i := 0; i < MaxDepth+1; i++ {
		cur = p.add(ocispec.MediaTypeImageIndex, ocispec.Index{Manifests: []ocispec.Descriptor{cur}})
	}
	if err := Walk(context.Background(), p, cur, func(context.Context, ocispec.Descriptor) error { return nil }); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("walk of a too-deep index = %v, want invalid argument", err)
	}
	// A missing blob is an error naming it.
	ghost := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("ghost"), Size: 5}
	if err := Walk(context.Background(), p, ghost, func(context.Context, ocispec.Descriptor) error { return nil }); !errdefs.IsNotFound(err) {
		t.Fatalf("walk of a missing manifest = %v", err)
	}
	// A schema 1 manifest is unsupported.
	s1 := ocispec.Descriptor{MediaType: MediaTypeDockerSchema1JWS, Digest: digest.FromString("s1"), Size: 2}
	if err := Walk(context.Background(), p, s1, func(context.Context, ocispec.Descriptor) error { return nil }); !errdefs.IsNotImplemented(err) {
		t.Fatalf("walk of schema 1 = %v", err)
	}
}

// FuzzWalk walks a fuzzed root blob whose children may be other fuzzed
// blobs: no panic, bounded work.
func FuzzWalk(f *testing.F) {
	f.Add([]byte(`{"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}]}`), []byte(`{"config":{"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		p := memProvider{}
		p[digest.FromBytes(a)] = a
		p[digest.FromBytes(b)] = b
		root := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(a), Size: int64(len(a))}
		n := 0
		Walk(context.Background(), p, root, func(context.Context, ocispec.Descriptor) error {
			n++
			if n > 4*MaxChildren {
				t.Fatalf("walk visited %d descriptors", n)
			}
			return nil
		})
	})
}
