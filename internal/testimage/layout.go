package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/registry"
)

// PushTo pushes the image to ref (e.g. "127.0.0.1:5000/busybox:latest")
// through resolver: blobs, then manifests, then the root under ref's tag.
func (img *Image) PushTo(ctx context.Context, resolver registry.Resolver, ref string) error {
	pusher, err := resolver.Pusher(ctx, ref)
	if err != nil {
		return err
	}
	return registry.PushImage(ctx, pusher, img.Root, img.Provider(), 4)
}

func (img *Image) sortedDigests() []digest.Digest {
	ds := make([]digest.Digest, 0, len(img.Blobs))
	for d := range img.Blobs {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds
}

// layoutIndex is index.json of an OCI image layout naming the root by refName.
func (img *Image) layoutIndex(refName string) ([]byte, error) {
	root := img.Root
	if refName != "" {
		root.Annotations = map[string]string{ocispec.AnnotationRefName: refName}
	}
	return json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{root},
	})
}

// WriteOCILayout writes the image as an OCI image layout in dir (created if
// needed): oci-layout, index.json (the root annotated with refName unless
// empty) and blobs/<alg>/<hex>.
func (img *Image) WriteOCILayout(dir, refName string) error {
	idx, err := img.layoutIndex(refName)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		ocispec.ImageLayoutFile: []byte(`{"imageLayoutVersion":"1.0.0"}`),
		ocispec.ImageIndexFile:  idx,
	}
	for d, b := range img.Blobs {
		files[filepath.Join(ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded())] = b
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// WriteOCIArchive writes the OCI image layout as a tar stream (what
// `berth save` of an OCI layout and `docker save` of recent Docker produce).
func (img *Image) WriteOCIArchive(w io.Writer, refName string) error {
	idx, err := img.layoutIndex(refName)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	add := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: Epoch}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	if err := add(ocispec.ImageLayoutFile, []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := add(ocispec.ImageIndexFile, idx); err != nil {
		return err
	}
	for _, d := range img.sortedDigests() {
		if err := add("blobs/"+d.Algorithm().String()+"/"+d.Encoded(), img.Blobs[d]); err != nil {
			return err
		}
	}
	return tw.Close()
}

// DockerArchiveManifest is one entry of a docker-archive's manifest.json.
type DockerArchiveManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// WriteDockerArchive writes the first platform as a classic `docker save`
// tar: <config-hex>.json, <diffid-hex>/layer.tar (uncompressed) and
// manifest.json naming repoTags (e.g. "127.0.0.1:5000/busybox:latest").
func (img *Image) WriteDockerArchive(w io.Writer, repoTags ...string) error {
	tw := tar.NewWriter(w)
	add := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size, ModTime: Epoch}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	cfgName := img.Config.Digest.Encoded() + ".json"
	if err := add(cfgName, img.Config.Size, bytes.NewReader(img.Blobs[img.Config.Digest])); err != nil {
		return err
	}
	dm := DockerArchiveManifest{Config: cfgName, RepoTags: repoTags}
	for _, l := range img.Layers {
		raw, err := decompress(l.Desc.MediaType, img.Blobs[l.Desc.Digest])
		if err != nil {
			return fmt.Errorf("layer %s: %w", l.Desc.Digest, err)
		}
		if got := digest.FromBytes(raw); got != l.DiffID {
			return fmt.Errorf("layer %s: diffID %s, recorded %s", l.Desc.Digest, got, l.DiffID)
		}
		name := l.DiffID.Encoded() + "/layer.tar"
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: l.DiffID.Encoded() + "/", Mode: 0o755, ModTime: Epoch}); err != nil {
			return err
		}
		if err := add(name, int64(len(raw)), bytes.NewReader(raw)); err != nil {
			return err
		}
		dm.Layers = append(dm.Layers, name)
	}
	mj, err := json.Marshal([]DockerArchiveManifest{dm})
	if err != nil {
		return err
	}
	if err := add("manifest.json", int64(len(mj)), bytes.NewReader(mj)); err != nil {
		return err
	}
	return tw.Close()
}

func decompress(mt string, b []byte) ([]byte, error) {
	switch mt {
	case ocispec.MediaTypeImageLayerGzip, MediaTypeDockerLayerGzip:
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	case ocispec.MediaTypeImageLayerZstd:
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		return io.ReadAll(zr)
	default:
		return b, nil
	}
}
