package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/images"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/registry"
	"github.com/berth-containers/berth/registry/reference"
)

// Docker media types a docker-archive's manifest is built with.
const (
	mediaTypeDockerManifest  = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerConfig    = "application/vnd.docker.container.image.v1+json"
	mediaTypeDockerLayer     = "application/vnd.docker.image.rootfs.diff.tar"
	mediaTypeDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// Imported is one image found in an archive.
type Imported struct {
	// Name is the normalised reference, or "" when the archive names none.
	Name   string
	Target ocispec.Descriptor
}

// Import reads an archive (OCI layout or docker-archive tar) from r, writes
// its blobs to cs (verified: names under blobs/ are digests; other files
// are hashed) and returns its images. The caller holds a lease.
func Import(ctx context.Context, cs content.Store, r io.Reader) (Format, []Imported, error) {
	tr := tar.NewReader(bufio.NewReaderSize(r, 1<<20))
	var idxData, manData []byte
	files := map[string]ocispec.Descriptor{} // other regular files, stored by content digest
	var names []string
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return "", nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", nil, fmt.Errorf("archive: read entry %d: %v: %w", n, err, errdefs.ErrInvalidArgument)
		}
		if n >= MaxEntries {
			return "", nil, fmt.Errorf("archive: more than %d entries: %w", MaxEntries, errdefs.ErrInvalidArgument)
		}
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA {
			continue
		}
		name := cleanName(hdr.Name)
		if name == "" {
			return "", nil, fmt.Errorf("archive: entry %q: name leaves the archive: %w", hdr.Name, errdefs.ErrInvalidArgument)
		}
		names = append(names, name)
		switch {
		case name == indexFile || name == dockerManifestFile:
			b, err := readSmall(tr, hdr, name)
			if err != nil {
				return "", nil, err
			}
			if name == indexFile {
				idxData = b
			} else {
				manData = b
			}
		case name == ociLayoutFile || name == repositoriesFile:
			if _, err := readSmall(tr, hdr, name); err != nil {
				return "", nil, err
			}
		case strings.HasPrefix(name, "blobs/"):
			d, err := blobDigest(name)
			if err != nil {
				return "", nil, err
			}
			desc := ocispec.Descriptor{Digest: d, Size: hdr.Size}
			if err := content.WriteBlob(ctx, cs, "import-"+d.Algorithm().String()+"-"+d.Encoded(), tr, desc); err != nil {
				return "", nil, fmt.Errorf("archive: %s: %w", name, err)
			}
			files[name] = desc
		case strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".tar") || strings.HasSuffix(name, ".tar.gz"):
			// docker-archive configs and layers, named by the manifest.
			desc, err := storeUnknown(ctx, cs, tr, hdr.Size)
			if err != nil {
				return "", nil, fmt.Errorf("archive: %s: %w", name, err)
			}
			files[name] = desc
		}
	}
	f, err := DetectFormat(names)
	if err != nil {
		return "", nil, err
	}
	var out []Imported
	if f == FormatOCI {
		out, err = importOCI(ctx, cs, idxData, manData)
	} else {
		out, err = importDocker(ctx, cs, manData, files)
	}
	return f, out, err
}

func readSmall(tr io.Reader, hdr *tar.Header, name string) ([]byte, error) {
	if hdr.Size > MaxIndexSize {
		return nil, fmt.Errorf("archive: %s: %d bytes, more than %d: %w", name, hdr.Size, MaxIndexSize, errdefs.ErrInvalidArgument)
	}
	b, err := io.ReadAll(io.LimitReader(tr, MaxIndexSize))
	if err != nil {
		return nil, fmt.Errorf("archive: %s: %w", name, err)
	}
	return b, nil
}

func blobDigest(name string) (digest.Digest, error) {
	parts := strings.Split(name, "/")
	if len(parts) != 3 {
		return "", fmt.Errorf("archive: %s: want blobs/<algorithm>/<hex>: %w", name, errdefs.ErrInvalidArgument)
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(parts[1]), parts[2])
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("archive: %s: %v: %w", name, err, errdefs.ErrInvalidArgument)
	}
	return d, nil
}

// storeUnknown stores a file whose digest is not known in advance.
func storeUnknown(ctx context.Context, cs content.Store, r io.Reader, size int64) (ocispec.Descriptor, error) {
	var rb [8]byte
	_, _ = rand.Read(rb[:])
	ref := "import-file-" + hex.EncodeToString(rb[:])
	w, err := cs.Writer(ctx, ref, ocispec.Descriptor{Size: size})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer w.Close()
	if _, err := io.Copy(w, io.LimitReader(r, size)); err != nil {
		_ = cs.Abort(ctx, ref)
		return ocispec.Descriptor{}, err
	}
	d := w.Digest()
	if err := w.Commit(ctx, size, ""); err != nil && !errdefs.IsAlreadyExists(err) {
		_ = cs.Abort(ctx, ref)
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{Digest: d, Size: size}, nil
}

func importOCI(ctx context.Context, cs content.Store, idxData, manData []byte) ([]Imported, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(idxData, &idx); err != nil {
		return nil, fmt.Errorf("archive: index.json: malformed: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if idx.SchemaVersion != 2 {
		return nil, fmt.Errorf("archive: index.json: schemaVersion %d: want 2: %w", idx.SchemaVersion, errdefs.ErrInvalidArgument)
	}
	if len(idx.Manifests) > MaxImages {
		return nil, fmt.Errorf("archive: index.json: %d manifests, more than %d: %w", len(idx.Manifests), MaxImages, errdefs.ErrInvalidArgument)
	}
	// Docker's manifest.json (when present) names images by config digest.
	tagsByConfig := map[digest.Digest][]string{}
	if manData != nil {
		if es, err := ParseDockerManifest(manData); err == nil {
			for _, e := range es {
				if strings.HasPrefix(cleanName(e.Config), "blobs/") {
					if d, err := blobDigest(cleanName(e.Config)); err == nil {
						tagsByConfig[d] = append(tagsByConfig[d], e.RepoTags...)
					}
				}
			}
		}
	}
	var out []Imported
	for i, m := range idx.Manifests {
		if err := m.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("archive: index.json manifests[%d].digest %q: %v: %w", i, m.Digest, err, errdefs.ErrInvalidArgument)
		}
		if registry.IsSchema1(m.MediaType) {
			return nil, fmt.Errorf("archive: index.json manifests[%d]: media type %s (Docker schema 1) is not supported: %w", i, m.MediaType, errdefs.ErrNotImplemented)
		}
		if !IsRoot(m) {
			return nil, fmt.Errorf("archive: index.json manifests[%d]: media type %q is neither a manifest nor an index: %w", i, m.MediaType, errdefs.ErrNotImplemented)
		}
		if err := checkPresent(ctx, cs, m); err != nil {
			return nil, fmt.Errorf("archive: index.json manifests[%d] (%s): %w", i, m.Digest, err)
		}
		target := m
		target.Annotations = nil
		var names []string
		if n := m.Annotations[AnnotationImageName]; n != "" {
			names = append(names, n)
		} else if n := m.Annotations[AnnotationRefName]; n != "" && (strings.Contains(n, "/") || strings.Contains(n, ":")) {
			names = append(names, n)
		} else if registry.IsManifestType(m.MediaType) {
			if b, err := content.ReadBlob(ctx, cs, m); err == nil {
				if mf, err := registry.DecodeManifest(b, m.MediaType); err == nil {
					names = append(names, tagsByConfig[mf.Config.Digest]...)
				}
			}
		}
		if len(names) == 0 {
			out = append(out, Imported{Target: target})
		}
		for _, n := range names {
			nn, err := reference.ParseNormalized(n)
			if err != nil {
				return nil, fmt.Errorf("archive: index.json manifests[%d]: image name %q: %w", i, n, err)
			}
			out = append(out, Imported{Name: nn.String(), Target: target})
		}
	}
	return out, nil
}

// checkPresent verifies that every blob root reaches was in the archive.
func checkPresent(ctx context.Context, cs content.Store, root ocispec.Descriptor) error {
	return images.Walk(ctx, cs, root, func(ctx context.Context, d ocispec.Descriptor) error {
		if _, err := cs.Info(ctx, d.Digest); err != nil {
			return fmt.Errorf("blob %s (%s) is not in the archive: %w", d.Digest, d.MediaType, errdefs.ErrInvalidArgument)
		}
		return nil
	})
}

func importDocker(ctx context.Context, cs content.Store, manData []byte, files map[string]ocispec.Descriptor) ([]Imported, error) {
	es, err := ParseDockerManifest(manData)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	var out []Imported
	for i, e := range es {
		cfg, ok := files[cleanName(e.Config)]
		if !ok {
			return nil, fmt.Errorf("archive: manifest.json[%d].Config %q: not in the archive: %w", i, e.Config, errdefs.ErrInvalidArgument)
		}
		cfg.MediaType = mediaTypeDockerConfig
		cb, err := content.ReadBlob(ctx, cs, cfg)
		if err != nil {
			return nil, fmt.Errorf("archive: manifest.json[%d].Config %q: %w", i, e.Config, err)
		}
		var ic ocispec.Image
		if err := json.Unmarshal(cb, &ic); err != nil {
			return nil, fmt.Errorf("archive: config %s: malformed JSON: %v: %w", e.Config, err, errdefs.ErrInvalidArgument)
		}
		if len(ic.RootFS.DiffIDs) != len(e.Layers) {
			return nil, fmt.Errorf("archive: manifest.json[%d]: %d layers, config %s has %d rootfs.diff_ids: %w", i, len(e.Layers), e.Config, len(ic.RootFS.DiffIDs), errdefs.ErrInvalidArgument)
		}
		m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: mediaTypeDockerManifest, Config: cfg}
		for j, l := range e.Layers {
			ld, ok := files[cleanName(l)]
			if !ok {
				return nil, fmt.Errorf("archive: manifest.json[%d].Layers[%d] %q: not in the archive: %w", i, j, l, errdefs.ErrInvalidArgument)
			}
			mt, err := sniffLayer(ctx, cs, ld)
			if err != nil {
				return nil, fmt.Errorf("archive: layer %q: %w", l, err)
			}
			ld.MediaType = mt
			m.Layers = append(m.Layers, ld)
		}
		mb, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		md := ocispec.Descriptor{MediaType: mediaTypeDockerManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb))}
		if err := content.WriteBlob(ctx, cs, "import-"+md.Digest.Encoded(), bytes.NewReader(mb), md); err != nil {
			return nil, fmt.Errorf("archive: store manifest: %w", err)
		}
		if len(e.RepoTags) == 0 {
			out = append(out, Imported{Target: md})
		}
		for _, t := range e.RepoTags {
			n, err := reference.ParseNormalized(t)
			if err != nil {
				return nil, fmt.Errorf("archive: manifest.json[%d].RepoTags %q: %w", i, t, err)
			}
			out = append(out, Imported{Name: n.String(), Target: md})
		}
	}
	return out, nil
}

// sniffLayer tells a layer's media type from its first bytes.
func sniffLayer(ctx context.Context, cs content.Store, d ocispec.Descriptor) (string, error) {
	ra, err := cs.ReaderAt(ctx, d)
	if err != nil {
		return "", err
	}
	defer ra.Close()
	var b [4]byte
	n, err := ra.ReadAt(b[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	switch {
	case n >= 2 && b[0] == 0x1f && b[1] == 0x8b:
		return mediaTypeDockerLayerGzip, nil
	case n >= 4 && b == [4]byte{0x28, 0xb5, 0x2f, 0xfd}:
		return ocispec.MediaTypeImageLayerZstd, nil
	}
	return mediaTypeDockerLayer, nil
}
