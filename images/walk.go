package images

import (
	"context"
	"encoding/json"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/internal/errdefs"
)

// Docker media types Berth reads alongside the OCI ones.
const (
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerSchema1      = "application/vnd.docker.distribution.manifest.v1+json"
	MediaTypeDockerSchema1JWS   = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

// Bounds on hostile manifests: how many children one blob may name and how
// deep indexes may nest.
const (
	MaxChildren = 10000
	MaxDepth    = 8
)

// IsIndex reports whether mt is an OCI index or Docker manifest list.
func IsIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

// IsManifest reports whether mt is an OCI or Docker schema2 manifest.
func IsManifest(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == MediaTypeDockerManifest
}

// IsSchema1 reports whether mt is a Docker schema 1 manifest (unsupported).
func IsSchema1(mt string) bool {
	return mt == MediaTypeDockerSchema1 || mt == MediaTypeDockerSchema1JWS
}

// Children parses the blob data of desc and returns the descriptors it
// names: an index's manifests, a manifest's config and layers. Other media
// types have none. A blob whose type is unknown is sniffed by its
// "mediaType" field. Malformed JSON, invalid child descriptors and more than
// MaxChildren children are errors naming desc.
func Children(desc ocispec.Descriptor, data []byte) ([]ocispec.Descriptor, error) {
	mt := desc.MediaType
	if IsSchema1(mt) {
		return nil, fmt.Errorf("manifest %s: media type %s (schema 1): %w", desc.Digest, mt, errdefs.ErrNotImplemented)
	}
	if !IsIndex(mt) && !IsManifest(mt) {
		if mt != "" || len(data) == 0 || data[0] != '{' {
			return nil, nil
		}
		var probe struct {
			MediaType string `json:"mediaType"`
		}
		if json.Unmarshal(data, &probe) != nil || (!IsIndex(probe.MediaType) && !IsManifest(probe.MediaType)) {
			return nil, nil
		}
		mt = probe.MediaType
	}
	var out []ocispec.Descriptor
	if IsIndex(mt) {
		var idx struct {
			MediaType string               `json:"mediaType"`
			Manifests []ocispec.Descriptor `json:"manifests"`
		}
		if err := json.Unmarshal(data, &idx); err != nil {
			return nil, fmt.Errorf("index %s: malformed JSON: %v: %w", desc.Digest, err, errdefs.ErrInvalidArgument)
		}
		if idx.MediaType != "" && !IsIndex(idx.MediaType) {
			return nil, fmt.Errorf("index %s: mediaType field %q contradicts descriptor %q: %w", desc.Digest, idx.MediaType, mt, errdefs.ErrInvalidArgument)
		}
		out = idx.Manifests
	} else {
		var m struct {
			MediaType string               `json:"mediaType"`
			Config    ocispec.Descriptor   `json:"config"`
			Layers    []ocispec.Descriptor `json:"layers"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("manifest %s: malformed JSON: %v: %w", desc.Digest, err, errdefs.ErrInvalidArgument)
		}
		if m.MediaType != "" && !IsManifest(m.MediaType) {
			return nil, fmt.Errorf("manifest %s: mediaType field %q contradicts descriptor %q: %w", desc.Digest, m.MediaType, mt, errdefs.ErrInvalidArgument)
		}
		if m.Config.Digest == "" {
			return nil, fmt.Errorf("manifest %s: config: missing: %w", desc.Digest, errdefs.ErrInvalidArgument)
		}
		out = append([]ocispec.Descriptor{m.Config}, m.Layers...)
	}
	if len(out) > MaxChildren {
		return nil, fmt.Errorf("%s %s: %d children, more than %d: %w", kindName(mt), desc.Digest, len(out), MaxChildren, errdefs.ErrInvalidArgument)
	}
	for i, c := range out {
		if err := c.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("%s %s: %s[%d].digest %q: %v: %w", kindName(mt), desc.Digest, childField(mt, i), i, c.Digest, err, errdefs.ErrInvalidArgument)
		}
		if c.Size < 0 {
			return nil, fmt.Errorf("%s %s: %s[%d].size %d: must be >= 0: %w", kindName(mt), desc.Digest, childField(mt, i), i, c.Size, errdefs.ErrInvalidArgument)
		}
	}
	return out, nil
}

func kindName(mt string) string {
	if IsIndex(mt) {
		return "index"
	}
	return "manifest"
}

func childField(mt string, i int) string {
	switch {
	case IsIndex(mt):
		return "manifests"
	case i == 0:
		return "config"
	}
	return "layers(+config)"
}

// WalkFunc is called for every descriptor reached; returning ErrSkip
// stops descent below it.
type WalkFunc func(ctx context.Context, desc ocispec.Descriptor) error

// ErrSkip makes Walk not descend into a descriptor's children.
var ErrSkip = fmt.Errorf("skip children")

// Walk visits root and everything it references (each digest once),
// reading indexes and manifests from p, to at most MaxDepth levels.
func Walk(ctx context.Context, p content.Provider, root ocispec.Descriptor, fn WalkFunc) error {
	seen := map[string]struct{}{}
	var walk func(desc ocispec.Descriptor, depth int) error
	walk = func(desc ocispec.Descriptor, depth int) error {
		if depth > MaxDepth {
			return fmt.Errorf("descriptor %s: nested deeper than %d: %w", desc.Digest, MaxDepth, errdefs.ErrInvalidArgument)
		}
		if _, ok := seen[desc.Digest.String()]; ok {
			return nil
		}
		seen[desc.Digest.String()] = struct{}{}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(ctx, desc); err != nil {
			if err == ErrSkip {
				return nil
			}
			return err
		}
		if !IsIndex(desc.MediaType) && !IsManifest(desc.MediaType) {
			if IsSchema1(desc.MediaType) {
				return fmt.Errorf("manifest %s: media type %s (schema 1): %w", desc.Digest, desc.MediaType, errdefs.ErrNotImplemented)
			}
			return nil
		}
		data, err := content.ReadBlob(ctx, p, desc)
		if err != nil {
			return err
		}
		children, err := Children(desc, data)
		if err != nil {
			return err
		}
		for _, c := range children {
			if err := walk(c, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(root, 0)
}
