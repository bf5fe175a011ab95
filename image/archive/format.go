package archive

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/berth-containers/berth/internal/errdefs"
)

// Format is an archive's layout.
type Format string

const (
	FormatOCI    Format = "oci-layout"
	FormatDocker Format = "docker-archive"
)

// Well-known names inside an archive.
const (
	ociLayoutFile      = "oci-layout"
	indexFile          = "index.json"
	dockerManifestFile = "manifest.json"
	repositoriesFile   = "repositories"
)

// Annotations naming an image in an OCI layout's index.
const (
	// AnnotationImageName is the full reference (containerd's convention).
	AnnotationImageName = "io.containerd.image.name"
	// AnnotationRefName is the OCI one: Berth writes the tag there.
	AnnotationRefName = "org.opencontainers.image.ref.name"
)

// Bounds on hostile archives.
const (
	MaxIndexSize = 8 << 20 // index.json, manifest.json, repositories
	MaxEntries   = 100000
	MaxImages    = 1000
)

// DetectFormat decides an archive's format from the names it holds: an
// index.json makes it an OCI layout (Docker 25+ writes both); else a
// manifest.json makes it a docker-archive.
func DetectFormat(names []string) (Format, error) {
	var idx, man bool
	for _, n := range names {
		switch cleanName(n) {
		case indexFile:
			idx = true
		case dockerManifestFile:
			man = true
		}
	}
	switch {
	case idx:
		return FormatOCI, nil
	case man:
		return FormatDocker, nil
	}
	return "", fmt.Errorf("archive: neither index.json (OCI image layout) nor manifest.json (docker-archive) found: %w", errdefs.ErrInvalidArgument)
}

// cleanName normalises an entry name ("./blobs//sha256/x" → "blobs/sha256/x").
// Names are keys: "" is returned for anything leaving the archive's root.
func cleanName(n string) string {
	n = strings.TrimPrefix(n, "./")
	if strings.HasPrefix(n, "/") {
		return ""
	}
	c := path.Clean(n)
	if c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return ""
	}
	return c
}

// DockerManifestEntry is one image of a docker-archive's manifest.json.
type DockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// ParseDockerManifest parses and checks a docker-archive manifest.json.
func ParseDockerManifest(b []byte) ([]DockerManifestEntry, error) {
	if len(b) > MaxIndexSize {
		return nil, fmt.Errorf("manifest.json: %d bytes, more than %d: %w", len(b), MaxIndexSize, errdefs.ErrInvalidArgument)
	}
	var es []DockerManifestEntry
	if err := json.Unmarshal(b, &es); err != nil {
		return nil, fmt.Errorf("manifest.json: malformed: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("manifest.json: no images: %w", errdefs.ErrInvalidArgument)
	}
	if len(es) > MaxImages {
		return nil, fmt.Errorf("manifest.json: %d images, more than %d: %w", len(es), MaxImages, errdefs.ErrInvalidArgument)
	}
	for i, e := range es {
		if cleanName(e.Config) == "" {
			return nil, fmt.Errorf("manifest.json[%d].Config %q: want a relative name inside the archive: %w", i, e.Config, errdefs.ErrInvalidArgument)
		}
		if len(e.Layers) > 10000 {
			return nil, fmt.Errorf("manifest.json[%d].Layers: %d layers, more than 10000: %w", i, len(e.Layers), errdefs.ErrInvalidArgument)
		}
		for j, l := range e.Layers {
			if cleanName(l) == "" {
				return nil, fmt.Errorf("manifest.json[%d].Layers[%d] %q: want a relative name inside the archive: %w", i, j, l, errdefs.ErrInvalidArgument)
			}
		}
		for j, t := range e.RepoTags {
			if t == "" || len(t) > 4096 {
				return nil, fmt.Errorf("manifest.json[%d].RepoTags[%d] %q: invalid: %w", i, j, t, errdefs.ErrInvalidArgument)
			}
		}
	}
	return es, nil
}
