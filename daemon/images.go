package daemon

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/image"
	"github.com/berth-containers/berth/images"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/metadata"
	"github.com/berth-containers/berth/registry/reference"
)

// ImagesService serves berth.v1.Images over the daemon's stores.
type ImagesService struct {
	berthv1.UnimplementedImagesServer
	deps *image.Deps
	db   *metadata.DB
	log  *slog.Logger
}

// NewImagesService returns the Images service.
func NewImagesService(s *Stores, log *slog.Logger) *ImagesService {
	return &ImagesService{deps: s.Image, db: s.DB, log: log}
}

// Register implements Service.
func (s *ImagesService) Register(g *grpc.Server) { berthv1.RegisterImagesServer(g, s) }

// lookup finds an image by name (normalised like docker does), by full
// name as stored, or by a unique prefix (at least 4 hex digits) of its
// target or config digest.
func (s *ImagesService) lookup(ctx context.Context, name string) (images.Image, error) {
	if name == "" {
		return images.Image{}, fmt.Errorf("image name: empty: %w", errdefs.ErrInvalidArgument)
	}
	if img, err := s.deps.Images.Get(ctx, name); err == nil {
		return img, nil
	}
	if n, err := reference.ParseNormalized(name); err == nil {
		if img, err := s.deps.Images.Get(ctx, n.String()); err == nil {
			return img, nil
		}
	}
	hexp := strings.TrimPrefix(name, "sha256:")
	if len(hexp) >= 4 && len(hexp) <= 64 {
		if _, err := hex.DecodeString(hexp + strings.Repeat("0", len(hexp)%2)); err == nil {
			all, err := s.deps.Images.List(ctx)
			if err != nil {
				return images.Image{}, err
			}
			var found []images.Image
			for _, img := range all {
				if strings.HasPrefix(img.Target.Digest.Encoded(), hexp) {
					found = append(found, img)
					continue
				}
				if r, err := image.ResolveManifest(ctx, s.deps.Content, img.Target, ""); err == nil && strings.HasPrefix(r.Config.Digest.Encoded(), hexp) {
					found = append(found, img)
				}
			}
			if len(found) == 1 {
				return found[0], nil
			}
			if len(found) > 1 {
				same := true
				for _, f := range found[1:] {
					same = same && f.Target.Digest == found[0].Target.Digest
				}
				if same {
					return found[0], nil
				}
				return images.Image{}, fmt.Errorf("image id %q is ambiguous: %d images match: %w", name, len(found), errdefs.ErrFailedPrecondition)
			}
		}
	}
	return images.Image{}, fmt.Errorf("No such image: %s: %w", name, errdefs.ErrNotFound)
}

func (s *ImagesService) describe(ctx context.Context, img images.Image) *berthv1.Image {
	out := imageToProto(img)
	if r, err := image.ResolveManifest(ctx, s.deps.Content, img.Target, ""); err == nil {
		out.Size = r.Size
		out.ConfigDigest = r.Config.Digest.String()
		out.Unpacked = image.Unpacked(ctx, s.deps, r.Config.Digest)
	}
	return out
}

// List implements berth.v1.Images.
func (s *ImagesService) List(ctx context.Context, req *berthv1.ListImagesRequest) (*berthv1.ListImagesResponse, error) {
	imgs, err := s.deps.Images.List(ctx, req.Filters...)
	if err != nil {
		return nil, err
	}
	out := &berthv1.ListImagesResponse{}
	for _, img := range imgs {
		out.Images = append(out.Images, s.describe(ctx, img))
	}
	return out, nil
}

// Get implements berth.v1.Images.
func (s *ImagesService) Get(ctx context.Context, req *berthv1.GetImageRequest) (*berthv1.GetImageResponse, error) {
	img, err := s.lookup(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	out := &berthv1.GetImageResponse{Image: s.describe(ctx, img)}
	r, err := image.ResolveManifest(ctx, s.deps.Content, img.Target, "")
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", img.Name, err)
	}
	out.Manifest, out.Config, out.ConfigJson = descToProto(r.Manifest), descToProto(r.Config), r.ConfigData
	for _, l := range r.Layers {
		out.Layers = append(out.Layers, descToProto(l))
	}
	return out, nil
}

// Delete implements berth.v1.Images: it removes the name; with sync it then
// collects garbage so the disk space is free when it returns.
func (s *ImagesService) Delete(ctx context.Context, req *berthv1.DeleteImageRequest) (*berthv1.DeleteImageResponse, error) {
	img, err := s.lookup(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	out := &berthv1.DeleteImageResponse{}
	if !req.Force && !isNameLike(req.Name, img.Name) {
		// Asked by id: refuse if several names share the target (as docker does).
		all, err := s.deps.Images.List(ctx, "target.digest=="+img.Target.Digest.String())
		if err != nil {
			return nil, err
		}
		if len(all) > 1 {
			return nil, fmt.Errorf("conflict: unable to delete %s (must be forced) - image is referenced by %d names: %w", req.Name, len(all), errdefs.ErrFailedPrecondition)
		}
	}
	if err := s.deps.Images.Delete(ctx, img.Name); err != nil {
		return nil, err
	}
	out.Untagged = append(out.Untagged, img.Name+"@"+img.Target.Digest.String())
	if rest, err := s.deps.Images.List(ctx, "target.digest=="+img.Target.Digest.String()); err == nil && len(rest) == 0 {
		out.Deleted = append(out.Deleted, img.Target.Digest.String())
	}
	if req.Sync {
		if _, err := s.db.GarbageCollect(ctx); err != nil {
			return out, fmt.Errorf("image %s removed, but garbage collection failed: %w", img.Name, err)
		}
	}
	return out, nil
}

func isNameLike(asked, name string) bool {
	if asked == name {
		return true
	}
	n, err := reference.ParseNormalized(asked)
	return err == nil && n.String() == name
}

// Tag implements berth.v1.Images.
func (s *ImagesService) Tag(ctx context.Context, req *berthv1.TagImageRequest) (*berthv1.TagImageResponse, error) {
	src, err := s.lookup(ctx, req.Source)
	if err != nil {
		return nil, err
	}
	n, err := reference.ParseNormalized(req.Target)
	if err != nil {
		return nil, fmt.Errorf("target reference %q: %w", req.Target, err)
	}
	if n.Digest != "" {
		return nil, fmt.Errorf("target reference %q: a tag cannot contain a digest: %w", req.Target, errdefs.ErrInvalidArgument)
	}
	img := images.Image{Name: n.String(), Target: src.Target, Labels: src.Labels}
	created, err := s.deps.Images.Create(ctx, img)
	if errdefs.IsAlreadyExists(err) {
		created, err = s.deps.Images.Update(ctx, img, "target")
	}
	if err != nil {
		return nil, err
	}
	return &berthv1.TagImageResponse{Image: imageToProto(created)}, nil
}

// streamProgress sends tr's state every interval until done is closed, and
// once more at the end.
func streamProgress(ctx context.Context, tr *image.Tracker, send func(*berthv1.PullProgress) error, done <-chan struct{}) error {
	t := time.NewTicker(150 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if err := send(progressToProto(tr.Snapshot())); err != nil {
				return err
			}
		}
	}
}

// Pull implements berth.v1.Images, streaming progress while it runs.
func (s *ImagesService) Pull(req *berthv1.PullRequest, stream grpc.ServerStreamingServer[berthv1.PullProgress]) error {
	ctx := stream.Context()
	tr := image.NewTracker()
	done := make(chan struct{})
	var img images.Image
	var perr error
	go func() {
		defer close(done)
		img, perr = image.Pull(ctx, s.deps, req.Ref, image.PullOptions{Platform: req.Platform, NoUnpack: req.NoUnpack, Progress: tr})
	}()
	if err := streamProgress(ctx, tr, stream.Send, done); err != nil {
		<-done
		return err
	}
	if perr != nil {
		s.log.Info("pull failed", "ref", req.Ref, "err", perr)
		return perr
	}
	s.log.Info("pulled", "ref", req.Ref, "name", img.Name, "digest", img.Target.Digest)
	last := progressToProto(tr.Snapshot())
	last.Image = s.describe(ctx, img)
	last.ResolvedDigest = img.Target.Digest.String()
	return stream.Send(last)
}

// Push implements berth.v1.Images, streaming progress while it runs.
func (s *ImagesService) Push(req *berthv1.PushRequest, stream grpc.ServerStreamingServer[berthv1.PullProgress]) error {
	ctx := stream.Context()
	tr := image.NewTracker()
	done := make(chan struct{})
	var desc ocispec.Descriptor
	var perr error
	go func() {
		defer close(done)
		src := req.Source
		if src == "" {
			src = req.Ref
		}
		if img, err := s.lookup(ctx, src); err == nil {
			src = img.Name
		}
		desc, perr = image.Push(ctx, s.deps, req.Ref, image.PushOptions{Source: src, Platform: req.Platform, Progress: tr})
	}()
	if err := streamProgress(ctx, tr, stream.Send, done); err != nil {
		<-done
		return err
	}
	if perr != nil {
		return perr
	}
	last := progressToProto(tr.Snapshot())
	last.ResolvedDigest = desc.Digest.String()
	return stream.Send(last)
}

// Prune implements berth.v1.Images: without all, it removes the images
// that have no tag (named only by digest); with all, every image (no
// container uses images yet). Garbage is collected afterwards.
func (s *ImagesService) Prune(ctx context.Context, req *berthv1.PruneImagesRequest) (*berthv1.PruneImagesResponse, error) {
	imgs, err := s.deps.Images.List(ctx)
	if err != nil {
		return nil, err
	}
	out := &berthv1.PruneImagesResponse{}
	for _, img := range imgs {
		n, err := reference.ParseNormalized(img.Name)
		_, derr := digest.Parse(img.Name)
		dangling := derr == nil || err != nil || n.Tag == ""
		if !req.All && !dangling {
			continue
		}
		if err := s.deps.Images.Delete(ctx, img.Name); err != nil && !errdefs.IsNotFound(err) {
			return out, err
		}
		out.Deleted = append(out.Deleted, img.Name)
	}
	st, err := s.db.GarbageCollect(ctx)
	if err != nil {
		return out, err
	}
	out.ReclaimedBytes = st.BytesFreed
	return out, nil
}

// Usage implements berth.v1.Images (`berth system df`): what the namespace
// references, and what a garbage collection would free now.
func (s *ImagesService) Usage(ctx context.Context, _ *berthv1.UsageRequest) (*berthv1.UsageResponse, error) {
	u, err := s.db.DiskUsage(ctx)
	if err != nil {
		return nil, err
	}
	return &berthv1.UsageResponse{
		Images:       int64(u.Images),
		ContentBytes: u.Content.Size, ContentBlobs: int64(u.Content.Count),
		SnapshotBytes: u.Snapshots.Size, Snapshots: int64(u.Snapshots.Count),
		ReclaimableBytes: u.Content.Reclaimable + u.Snapshots.Reclaimable,
	}, nil
}
