package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/internal/errdefs"
)

// Docker schema2 media types (OCI ones are in ocispec).
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar"
)

// Epoch is the modification time of every entry and the creation time of
// every config: builds do not depend on the clock.
var Epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Compression of layer blobs.
type Compression int

const (
	Gzip Compression = iota
	Zstd
	Uncompressed
)

func (c Compression) String() string {
	return [...]string{"gzip", "zstd", "none"}[c]
}

// Options shape a build. The zero value is one linux platform of the host's
// architecture, OCI media types, gzip layers.
type Options struct {
	Compression Compression
	Docker      bool              // Docker schema2 media types (zstd is OCI-only)
	Platforms   []Platform        // more than one (or Index) makes an index as the root
	Index       bool              // make an index even for one platform
	Labels      map[string]string // config labels
}

// Layer is one built layer.
type Layer struct {
	Desc   ocispec.Descriptor // the blob, compressed as asked
	DiffID digest.Digest      // digest of the uncompressed tar
	Paths  []string           // entry names in the layer, in tar order
}

// Image is a built image: every blob by digest, and the root descriptor
// (a manifest, or an index when several platforms were asked for).
type Image struct {
	Blobs     map[digest.Digest][]byte
	Root      ocispec.Descriptor
	Manifests []ocispec.Descriptor // one per platform, Platform set
	Config    ocispec.Descriptor   // of the first platform
	Layers    []Layer              // shared by all platforms
}

// Manifest returns the first platform's manifest (decoded).
func (img *Image) Manifest() ocispec.Manifest {
	var m ocispec.Manifest
	if err := json.Unmarshal(img.Blobs[img.Manifests[0].Digest], &m); err != nil {
		panic(err)
	}
	return m
}

// ImageConfig returns the first platform's config (decoded).
func (img *Image) ImageConfig() ocispec.Image {
	var c ocispec.Image
	if err := json.Unmarshal(img.Blobs[img.Config.Digest], &c); err != nil {
		panic(err)
	}
	return c
}

// Size is the total size of all blobs.
func (img *Image) Size() int64 {
	var n int64
	for _, b := range img.Blobs {
		n += int64(len(b))
	}
	return n
}

// Provider serves the image's blobs (content.Provider).
func (img *Image) Provider() content.Provider { return memProvider(img.Blobs) }

type memProvider map[digest.Digest][]byte

func (m memProvider) ReaderAt(ctx context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	b, ok := m[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, errdefs.ErrNotFound)
	}
	return memReaderAt{bytes.NewReader(b)}, nil
}

type memReaderAt struct{ *bytes.Reader }

func (memReaderAt) Close() error { return nil }

// entry is one tar entry to write.
type entry struct {
	hdr  tar.Header
	data []byte
	// gen, when set, produces size bytes of content instead of data.
	gen func(w io.Writer) error
}

func dirEntry(name string, mode int64) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode}}
}

func fileEntry(name string, mode int64, data []byte) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data))}, data: data}
}

func symlinkEntry(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}

func hardlinkEntry(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644}}
}

// buildLayer writes entries as a tar, compresses it, and returns the blob and
// its record.
func buildLayer(entries []entry, c Compression, docker bool) ([]byte, Layer, error) {
	var out bytes.Buffer
	var cw io.WriteCloser
	var mt string
	switch c {
	case Gzip:
		gw, err := gzip.NewWriterLevel(&out, gzip.DefaultCompression)
		if err != nil {
			return nil, Layer{}, err
		}
		cw, mt = gw, ocispec.MediaTypeImageLayerGzip
		if docker {
			mt = MediaTypeDockerLayerGzip
		}
	case Zstd:
		if docker {
			return nil, Layer{}, fmt.Errorf("zstd layers have no Docker media type: %w", errdefs.ErrInvalidArgument)
		}
		zw, err := zstd.NewWriter(&out, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, Layer{}, err
		}
		cw, mt = zw, ocispec.MediaTypeImageLayerZstd
	case Uncompressed:
		cw, mt = nopCloser{&out}, ocispec.MediaTypeImageLayer
		if docker {
			mt = MediaTypeDockerLayer
		}
	default:
		return nil, Layer{}, fmt.Errorf("compression %d: %w", c, errdefs.ErrInvalidArgument)
	}
	diff := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(cw, diff))
	var paths []string
	for _, e := range entries {
		h := e.hdr
		h.ModTime, h.AccessTime, h.ChangeTime = Epoch, time.Time{}, time.Time{}
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			return nil, Layer{}, fmt.Errorf("tar header %s: %w", h.Name, err)
		}
		if e.gen != nil {
			if err := e.gen(tw); err != nil {
				return nil, Layer{}, err
			}
		} else if len(e.data) > 0 {
			if _, err := tw.Write(e.data); err != nil {
				return nil, Layer{}, err
			}
		}
		paths = append(paths, h.Name)
	}
	if err := tw.Close(); err != nil {
		return nil, Layer{}, err
	}
	if err := cw.Close(); err != nil {
		return nil, Layer{}, err
	}
	blob := out.Bytes()
	return blob, Layer{
		Desc:   ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(blob), Size: int64(len(blob))},
		DiffID: digestOf(diff),
		Paths:  paths,
	}, nil
}

func digestOf(h hash.Hash) digest.Digest { return digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil)) }

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// buildLayers builds every layer concurrently (bounded by the CPUs).
func buildLayers(layers [][]entry, o Options) ([][]byte, []Layer, error) {
	blobs := make([][]byte, len(layers))
	infos := make([]Layer, len(layers))
	errs := make([]error, len(layers))
	sem := make(chan struct{}, runtime.NumCPU())
	var wg sync.WaitGroup
	for i := range layers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			blobs[i], infos[i], errs[i] = buildLayer(layers[i], o.Compression, o.Docker)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, nil, fmt.Errorf("layer %d: %w", i, err)
		}
	}
	return blobs, infos, nil
}

// HostPlatform is linux on the host's architecture.
func HostPlatform() ocispec.Platform {
	p := ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if runtime.GOARCH == "arm" {
		p.Variant = "v7"
	}
	return p
}

// assemble makes configs, manifests and (when asked) the index around built layers.
func assemble(layers [][]entry, o Options, cfg ocispec.ImageConfig, history string) (*Image, error) {
	blobs, infos, err := buildLayers(layers, o)
	if err != nil {
		return nil, err
	}
	img := &Image{Blobs: map[digest.Digest][]byte{}, Layers: infos}
	for i, b := range blobs {
		img.Blobs[infos[i].Desc.Digest] = b
	}
	platforms := o.Platforms
	if len(platforms) == 0 {
		platforms = []ocispec.Platform{HostPlatform()}
	}
	configMT, manifestMT, indexMT := ocispec.MediaTypeImageConfig, ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex
	if o.Docker {
		configMT, manifestMT, indexMT = MediaTypeDockerConfig, MediaTypeDockerManifest, MediaTypeDockerManifestList
	}
	if len(o.Labels) > 0 {
		cfg.Labels = o.Labels
	}
	created := Epoch
	for pi, p := range platforms {
		c := ocispec.Image{
			Created:  &created,
			Platform: p,
			Config:   cfg,
			RootFS:   ocispec.RootFS{Type: "layers"},
		}
		for i, l := range infos {
			c.RootFS.DiffIDs = append(c.RootFS.DiffIDs, l.DiffID)
			c.History = append(c.History, ocispec.History{Created: &created, CreatedBy: fmt.Sprintf("%s layer %d", history, i)})
		}
		cd, err := img.addJSON(configMT, c)
		if err != nil {
			return nil, err
		}
		m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: manifestMT, Config: cd}
		for _, l := range infos {
			m.Layers = append(m.Layers, l.Desc)
		}
		md, err := img.addJSON(manifestMT, m)
		if err != nil {
			return nil, err
		}
		pp := p
		md.Platform = &pp
		img.Manifests = append(img.Manifests, md)
		if pi == 0 {
			img.Config = cd
		}
	}
	if len(platforms) == 1 && !o.Index {
		img.Root = img.Manifests[0]
		img.Root.Platform = nil
		return img, nil
	}
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: indexMT, Manifests: img.Manifests}
	root, err := img.addJSON(indexMT, idx)
	if err != nil {
		return nil, err
	}
	img.Root = root
	return img, nil
}

func (img *Image) addJSON(mt string, v any) (ocispec.Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
	img.Blobs[d.Digest] = b
	return d, nil
}

// sortedEntries orders entries so that parents come before children.
func sortedEntries(es []entry) []entry {
	sort.SliceStable(es, func(i, j int) bool { return es[i].hdr.Name < es[j].hdr.Name })
	return es
}

// Platform is an image platform (ocispec.Platform).
type Platform = ocispec.Platform
