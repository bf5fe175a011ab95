package registry

import (
	"encoding/json"
	"fmt"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/internal/errdefs"
)

// Docker media types; OCI ones are in ocispec.
const (
	MediaTypeDockerManifest          = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList      = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerSchema1           = "application/vnd.docker.distribution.manifest.v1+json"
	MediaTypeDockerSchema1Signed     = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	MediaTypeDockerConfig            = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayerGzip         = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerLayerForeignGzip  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	MediaTypeDockerLayerUncompressed = "application/vnd.docker.image.rootfs.diff.tar"
)

// MaxManifestSize bounds manifests and indexes read from a registry (the
// distribution spec's registries refuse more than 4 MiB).
const MaxManifestSize = 8 << 20

// manifestAccept is sent on manifest requests, best first.
var manifestAccept = []string{
	ocispec.MediaTypeImageManifest,
	ocispec.MediaTypeImageIndex,
	MediaTypeDockerManifest,
	MediaTypeDockerManifestList,
}

// IsManifestType reports a single-platform manifest media type.
func IsManifestType(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == MediaTypeDockerManifest
}

// IsIndexType reports a multi-platform index media type.
func IsIndexType(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

// IsSchema1 reports the legacy Docker schema 1 manifest types Berth refuses.
func IsSchema1(mt string) bool {
	return mt == MediaTypeDockerSchema1 || mt == MediaTypeDockerSchema1Signed
}

func unsupported(what, mt string) error {
	return fmt.Errorf("%s: media type %q is unsupported (Docker schema 1 manifests are obsolete; push the image again with a current client): %w", what, mt, errdefs.ErrNotImplemented)
}

type probe struct {
	SchemaVersion *int            `json:"schemaVersion"`
	MediaType     string          `json:"mediaType"`
	Config        json.RawMessage `json:"config"`
	Layers        json.RawMessage `json:"layers"`
	Manifests     json.RawMessage `json:"manifests"`
	FSLayers      json.RawMessage `json:"fsLayers"`
}

// DetectMediaType finds the media type of a manifest or index whose
// Content-Type was missing or generic, from its mediaType field or shape.
func DetectMediaType(b []byte) (string, error) {
	var p probe
	if err := json.Unmarshal(b, &p); err != nil {
		return "", fmt.Errorf("manifest: malformed JSON: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	switch {
	case p.SchemaVersion != nil && *p.SchemaVersion == 1 || p.FSLayers != nil:
		return MediaTypeDockerSchema1, nil
	case p.MediaType != "":
		return p.MediaType, nil
	case p.Manifests != nil:
		return ocispec.MediaTypeImageIndex, nil
	case p.Config != nil:
		return ocispec.MediaTypeImageManifest, nil
	}
	return "", fmt.Errorf("manifest: neither config nor manifests present: %w", errdefs.ErrInvalidArgument)
}

func checkDesc(field string, d ocispec.Descriptor) error {
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("%s.digest %q: %v: %w", field, d.Digest, err, errdefs.ErrInvalidArgument)
	}
	if d.Size < 0 {
		return fmt.Errorf("%s.size %d: must be >= 0: %w", field, d.Size, errdefs.ErrInvalidArgument)
	}
	if d.MediaType == "" {
		return fmt.Errorf("%s.mediaType: empty: %w", field, errdefs.ErrInvalidArgument)
	}
	return nil
}

func checkHeader(what string, b []byte, mt string, wantIndex bool) error {
	if IsSchema1(mt) {
		return unsupported(what, mt)
	}
	var p probe
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("%s: malformed JSON: %v: %w", what, err, errdefs.ErrInvalidArgument)
	}
	if p.SchemaVersion == nil {
		return fmt.Errorf("%s: schemaVersion: missing: %w", what, errdefs.ErrInvalidArgument)
	}
	if *p.SchemaVersion == 1 {
		return unsupported(what, MediaTypeDockerSchema1)
	}
	if *p.SchemaVersion != 2 {
		return fmt.Errorf("%s: schemaVersion %d: only 2 is supported: %w", what, *p.SchemaVersion, errdefs.ErrNotImplemented)
	}
	if p.MediaType != "" && mt != "" && p.MediaType != mt {
		return fmt.Errorf("%s: mediaType %q does not match the descriptor's %q: %w", what, p.MediaType, mt, errdefs.ErrInvalidArgument)
	}
	if wantIndex && p.Manifests == nil {
		return fmt.Errorf("%s: manifests: missing: %w", what, errdefs.ErrInvalidArgument)
	}
	if !wantIndex && p.Config == nil {
		return fmt.Errorf("%s: config: missing: %w", what, errdefs.ErrInvalidArgument)
	}
	return nil
}

// DecodeManifest decodes and checks an image manifest of media type mt
// (OCI or Docker schema2; schema 1 is refused as not implemented).
func DecodeManifest(b []byte, mt string) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	if mt != "" && !IsManifestType(mt) {
		if IsSchema1(mt) {
			return m, unsupported("manifest", mt)
		}
		return m, fmt.Errorf("manifest: media type %q is not an image manifest: %w", mt, errdefs.ErrNotImplemented)
	}
	if err := checkHeader("manifest", b, mt, false); err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("manifest: malformed JSON: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if err := checkDesc("manifest.config", m.Config); err != nil {
		return m, err
	}
	for i, l := range m.Layers {
		if err := checkDesc(fmt.Sprintf("manifest.layers[%d]", i), l); err != nil {
			return m, err
		}
	}
	return m, nil
}

// DecodeIndex decodes and checks an image index or Docker manifest list.
func DecodeIndex(b []byte, mt string) (ocispec.Index, error) {
	var idx ocispec.Index
	if mt != "" && !IsIndexType(mt) {
		return idx, fmt.Errorf("index: media type %q is not an image index: %w", mt, errdefs.ErrNotImplemented)
	}
	if err := checkHeader("index", b, mt, true); err != nil {
		return idx, err
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, fmt.Errorf("index: malformed JSON: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	for i, d := range idx.Manifests {
		if err := checkDesc(fmt.Sprintf("index.manifests[%d]", i), d); err != nil {
			return idx, err
		}
	}
	return idx, nil
}

// Children lists the descriptors a manifest or index refers to (config and
// layers, or manifests); other media types have none.
func Children(b []byte, mt string) ([]ocispec.Descriptor, error) {
	switch {
	case IsManifestType(mt):
		m, err := DecodeManifest(b, mt)
		if err != nil {
			return nil, err
		}
		return append([]ocispec.Descriptor{m.Config}, m.Layers...), nil
	case IsIndexType(mt):
		idx, err := DecodeIndex(b, mt)
		if err != nil {
			return nil, err
		}
		return idx.Manifests, nil
	case IsSchema1(mt):
		return nil, unsupported("manifest", mt)
	}
	return nil, nil
}

func verifyDigest(what string, b []byte, want digest.Digest) error {
	if err := want.Validate(); err != nil {
		return fmt.Errorf("%s: digest %q: %v: %w", what, want, err, errdefs.ErrInvalidArgument)
	}
	if got := want.Algorithm().FromBytes(b); got != want {
		return fmt.Errorf("%s: content has digest %s, expected %s: %w", what, got, want, errdefs.ErrFailedPrecondition)
	}
	return nil
}
