package image

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/images"
	"github.com/berth-containers/berth/registry"
	"github.com/berth-containers/berth/registry/reference"
)

// PushOptions shape a push.
type PushOptions struct {
	// Source is the local image to push under the reference (default: the
	// reference itself).
	Source string
	// Platform pushes only that platform's manifest when the image is an
	// index whose other platforms are not stored (default: the host's).
	Platform string
	Progress *Tracker
}

// Push uploads a local image to ref's registry: blobs first (skipping those
// the registry has), then manifests, the root last under ref's tag.
func Push(ctx context.Context, d *Deps, ref string, opts PushOptions) (ocispec.Descriptor, error) {
	named, err := reference.ParseNormalized(ref)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("reference %q: %w", ref, err)
	}
	srcName := named.String()
	if opts.Source != "" {
		sn, err := reference.ParseNormalized(opts.Source)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("source %q: %w", opts.Source, err)
		}
		srcName = sn.String()
	}
	img, err := d.Images.Get(ctx, srcName)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("image %s: %w", srcName, err)
	}
	root := img.Target
	if registry.IsIndexType(root.MediaType) && !complete(ctx, d.Content, root) {
		r, err := ResolveManifest(ctx, d.Content, root, opts.Platform)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		root = r.Manifest
	}
	tr := opts.Progress
	tr.SetStatus("pushing " + named.String())
	p, err := d.Resolver.Pusher(ctx, named.String())
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	prov := &trackingProvider{p: d.Content, tr: tr}
	p = &sourcePusher{Pusher: p, cs: d.Content, byDigest: named.Tag == ""}
	if err := registry.PushImage(ctx, p, root, prov, d.concurrency()); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("push %s: %w", named.String(), err)
	}
	tr.SetStatus("pushed " + named.String() + "@" + root.Digest.String())
	return root, nil
}

// complete reports whether every blob under root is stored.
func complete(ctx context.Context, cs content.Store, root ocispec.Descriptor) bool {
	ok := true
	_ = images.Walk(ctx, cs, root, func(ctx context.Context, desc ocispec.Descriptor) error {
		if _, err := cs.Info(ctx, desc.Digest); err != nil {
			ok = false
			return images.ErrSkip
		}
		return nil
	})
	return ok
}

// trackingProvider reports the bytes read of each blob as upload progress.
type trackingProvider struct {
	p  content.Provider
	tr *Tracker
}

func (t *trackingProvider) ReaderAt(ctx context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	ra, err := t.p.ReaderAt(ctx, desc)
	if err != nil || t.tr == nil {
		return ra, err
	}
	ref := "blob-" + desc.Digest.String()
	t.tr.Set(ref, desc.Digest.String(), desc.MediaType, 0, desc.Size, StatusUploading)
	return &trackingReaderAt{ReaderAt: ra, tr: t.tr, ref: ref}, nil
}

type trackingReaderAt struct {
	content.ReaderAt
	tr   *Tracker
	ref  string
	read atomic.Int64
}

func (t *trackingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := t.ReaderAt.ReadAt(p, off)
	if end := off + int64(n); end > t.read.Load() {
		t.read.Store(end)
		t.tr.Set(t.ref, "", "", end, -1, StatusUploading)
	}
	return n, err
}

func (t *trackingReaderAt) Close() error {
	t.tr.SetState(t.ref, StatusDone)
	return t.ReaderAt.Close()
}

// sourcePusher passes the repositories a blob was pulled from (its source
// labels) to the registry pusher as annotations, so a blob already on the
// target registry in another repository is mounted instead of uploaded.
type sourcePusher struct {
	registry.Pusher
	cs       content.Manager
	byDigest bool // the reference names a digest, not a tag
}

func (s *sourcePusher) Push(ctx context.Context, desc ocispec.Descriptor, p content.Provider) error {
	if info, err := s.cs.Info(ctx, desc.Digest); err == nil {
		for k, v := range info.Labels {
			if strings.HasPrefix(k, registry.SourceLabelPrefix) {
				if desc.Annotations == nil {
					desc.Annotations = map[string]string{}
				} else if _, ok := desc.Annotations[k]; ok {
					continue
				}
				desc.Annotations[k] = v
			}
		}
	}
	return s.Pusher.Push(ctx, desc, p)
}

func (s *sourcePusher) Tag(ctx context.Context, desc ocispec.Descriptor, p content.Provider) error {
	if s.byDigest {
		return s.Pusher.Push(ctx, desc, p)
	}
	return s.Pusher.Tag(ctx, desc, p)
}
