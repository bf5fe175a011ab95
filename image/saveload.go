package image

import (
	"context"
	"fmt"
	"io"

	"github.com/berth-containers/berth/image/archive"
	"github.com/berth-containers/berth/images"
	"github.com/berth-containers/berth/registry"
)

// Save writes the images (already looked up) to w as one tar holding an OCI
// image layout and a docker-archive manifest.json. An index whose other
// platforms are not stored is saved as the platform's manifest.
func Save(ctx context.Context, d *Deps, imgs []images.Image, platform string, w io.Writer) error {
	var ex []archive.ExportImage
	for _, img := range imgs {
		r, err := ResolveManifest(ctx, d.Content, img.Target, platform)
		if err != nil {
			return fmt.Errorf("image %s: %w", img.Name, err)
		}
		root := img.Target
		if registry.IsIndexType(root.MediaType) && !complete(ctx, d.Content, root) {
			root = r.Manifest
		}
		ex = append(ex, archive.ExportImage{Name: img.Name, Root: root, Manifest: r.ManifestData})
	}
	return archive.Export(ctx, d.Content, ex, w)
}

// LoadOptions shape a load.
type LoadOptions struct {
	// NoUnpack stores the content only.
	NoUnpack bool
	// Platform to unpack (default: the host's).
	Platform string
}

// Load reads an archive (OCI layout or docker-archive), records its named
// images and unpacks them. Images the archive does not name are recorded
// under their digest ("sha256:…"), like dangling images.
func Load(ctx context.Context, d *Deps, r io.Reader, opts LoadOptions) ([]images.Image, error) {
	lctx, done, err := withTransferLease(ctx, d, "load")
	if err != nil {
		return nil, err
	}
	defer done()
	_, found, err := archive.Import(lctx, d.Content, r)
	if err != nil {
		return nil, err
	}
	var out []images.Image
	for _, f := range found {
		name := f.Name
		if name == "" {
			name = f.Target.Digest.String()
		}
		img, err := putImage(lctx, d, images.Image{Name: name, Target: f.Target})
		if err != nil {
			return out, err
		}
		out = append(out, img)
		if !opts.NoUnpack {
			if err := Unpack(lctx, d, img, opts.Platform); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}
