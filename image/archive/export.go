package archive

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/images"
	"github.com/berth-containers/berth/registry"
	"github.com/berth-containers/berth/registry/reference"
)

// ExportImage is one image to export: its name, the root written to the
// OCI index (an index or a manifest) and the platform manifest named in
// manifest.json.
type ExportImage struct {
	Name     string
	Root     ocispec.Descriptor
	Manifest ocispec.Manifest
}

// Export writes imgs as one tar holding an OCI image layout and a
// docker-archive manifest.json over the same blobs. Blobs are read from p;
// every blob the roots reach must be stored.
func Export(ctx context.Context, p content.Provider, imgs []ExportImage, w io.Writer) error {
	tw := tar.NewWriter(w)
	written := map[digest.Digest]bool{}
	var idx ocispec.Index
	idx.SchemaVersion = 2
	idx.MediaType = ocispec.MediaTypeImageIndex
	var dm []DockerManifestEntry
	if err := writeFile(tw, ociLayoutFile, []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	for _, img := range imgs {
		err := images.Walk(ctx, p, img.Root, func(ctx context.Context, d ocispec.Descriptor) error {
			if written[d.Digest] {
				return nil
			}
			if err := writeBlob(ctx, tw, p, d); err != nil {
				return err
			}
			written[d.Digest] = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("export %s: %w", img.Name, err)
		}
		root := img.Root
		root.Annotations = map[string]string{}
		for k, v := range img.Root.Annotations {
			root.Annotations[k] = v
		}
		var tags []string
		if n, err := reference.ParseNormalized(img.Name); err == nil {
			root.Annotations[AnnotationImageName] = n.String()
			if n.Tag != "" {
				root.Annotations[AnnotationRefName] = n.Tag
				tags = append(tags, n.Familiar())
			}
		}
		idx.Manifests = append(idx.Manifests, root)
		e := DockerManifestEntry{Config: blobName(img.Manifest.Config.Digest), RepoTags: tags}
		for _, l := range img.Manifest.Layers {
			e.Layers = append(e.Layers, blobName(l.Digest))
		}
		dm = append(dm, e)
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	if err := writeFile(tw, indexFile, b); err != nil {
		return err
	}
	if b, err = json.Marshal(dm); err != nil {
		return err
	}
	if err := writeFile(tw, dockerManifestFile, b); err != nil {
		return err
	}
	return tw.Close()
}

func blobName(d digest.Digest) string { return "blobs/" + d.Algorithm().String() + "/" + d.Encoded() }

// Entries carry a fixed time so the same images make the same tar.
var epoch = time.Unix(0, 0)

func writeFile(tw *tar.Writer, name string, b []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err := tw.Write(b)
	return err
}

func writeBlob(ctx context.Context, tw *tar.Writer, p content.Provider, d ocispec.Descriptor) error {
	ra, err := p.ReaderAt(ctx, d)
	if err != nil {
		return fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	defer ra.Close()
	if ra.Size() != d.Size {
		return fmt.Errorf("blob %s: stored size %d, descriptor says %d", d.Digest, ra.Size(), d.Size)
	}
	if err := tw.WriteHeader(&tar.Header{Name: blobName(d.Digest), Mode: 0o444, Size: d.Size, ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, io.NewSectionReader(ra, 0, d.Size)); err != nil {
		return fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	return nil
}

// IsRoot reports whether desc can be an image root in an archive.
func IsRoot(desc ocispec.Descriptor) bool {
	return registry.IsIndexType(desc.MediaType) || registry.IsManifestType(desc.MediaType)
}
