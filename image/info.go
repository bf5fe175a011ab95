package image

import (
	"context"
	"fmt"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/images"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/registry"
	"github.com/berth-containers/berth/registry/platforms"
)

// Resolved is the platform manifest an image's target leads to.
type Resolved struct {
	Manifest     ocispec.Descriptor
	ManifestData ocispec.Manifest
	Config       ocispec.Descriptor
	ConfigData   []byte
	Layers       []ocispec.Descriptor
	// Size of the manifest, config and layers (compressed), plus the index.
	Size int64
}

// ResolveManifest reads an image's target down to the manifest of platform
// (empty: the host's) from the content store.
func ResolveManifest(ctx context.Context, p content.Provider, target ocispec.Descriptor, platform string) (Resolved, error) {
	var r Resolved
	want := platforms.Default()
	if platform != "" {
		var err error
		if want, err = platforms.Parse(platform); err != nil {
			return r, fmt.Errorf("platform %q: %w", platform, err)
		}
	}
	desc := target
	for depth := 0; ; depth++ {
		if depth > images.MaxDepth {
			return r, fmt.Errorf("image %s: indexes nest more than %d deep: %w", target.Digest, images.MaxDepth, errdefs.ErrInvalidArgument)
		}
		if registry.IsSchema1(desc.MediaType) {
			return r, fmt.Errorf("manifest %s: media type %s (Docker schema 1) is not supported: %w", desc.Digest, desc.MediaType, errdefs.ErrNotImplemented)
		}
		if !registry.IsIndexType(desc.MediaType) {
			break
		}
		b, err := content.ReadBlob(ctx, p, desc)
		if err != nil {
			return r, err
		}
		r.Size += desc.Size
		idx, err := registry.DecodeIndex(b, desc.MediaType)
		if err != nil {
			return r, err
		}
		if desc, err = platforms.Select(idx, want); err != nil {
			return r, fmt.Errorf("image %s: %w", target.Digest, err)
		}
	}
	if !registry.IsManifestType(desc.MediaType) {
		return r, fmt.Errorf("image target %s: media type %q is neither a manifest nor an index: %w", desc.Digest, desc.MediaType, errdefs.ErrNotImplemented)
	}
	b, err := content.ReadBlob(ctx, p, desc)
	if err != nil {
		return r, err
	}
	m, err := registry.DecodeManifest(b, desc.MediaType)
	if err != nil {
		return r, err
	}
	r.Manifest, r.ManifestData, r.Config, r.Layers = desc, m, m.Config, m.Layers
	r.Size += desc.Size + m.Config.Size
	for _, l := range m.Layers {
		r.Size += l.Size
	}
	if r.ConfigData, err = content.ReadBlob(ctx, p, m.Config); err != nil {
		return r, err
	}
	return r, nil
}

// Unpacked reports whether an image's config names a snapshot that exists.
func Unpacked(ctx context.Context, d *Deps, config digest.Digest) bool {
	info, err := d.Content.Info(ctx, config)
	if err != nil {
		return false
	}
	key := info.Labels[d.SnapshotLabel()]
	if key == "" {
		return false
	}
	_, err = d.Snapshotter.Stat(ctx, key)
	return err == nil
}

// Unpack unpacks an image whose content is all in the store (after a load)
// and labels its config; it runs under its own lease.
func Unpack(ctx context.Context, d *Deps, img images.Image, platform string) error {
	ctx, done, err := withTransferLease(ctx, d, "unpack "+img.Name)
	if err != nil {
		return err
	}
	defer done()
	r, err := ResolveManifest(ctx, d.Content, img.Target, platform)
	if err != nil {
		return err
	}
	cfg, err := decodeConfig(r.ConfigData, r.Config)
	if err != nil {
		return err
	}
	chain, err := d.Unpacker.Unpack(ctx, r.ManifestData, cfg)
	if err != nil {
		return fmt.Errorf("unpack %s: %w", img.Name, err)
	}
	key := d.SnapshotLabel()
	if _, err := d.Content.Update(ctx, content.Info{Digest: r.Config.Digest, Labels: map[string]string{key: chain.String()}}, "labels."+key); err != nil {
		return fmt.Errorf("label config %s: %w", r.Config.Digest, err)
	}
	return nil
}
