package daemon

import (
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/protobuf/types/known/timestamppb"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/image"
	"github.com/berth-containers/berth/images"
)

func descToProto(d ocispec.Descriptor) *berthv1.Descriptor {
	out := &berthv1.Descriptor{MediaType: d.MediaType, Digest: d.Digest.String(), Size: d.Size, Annotations: d.Annotations}
	if d.Platform != nil {
		out.Platform = &berthv1.Platform{Os: d.Platform.OS, Architecture: d.Platform.Architecture, Variant: d.Platform.Variant}
	}
	return out
}

func imageToProto(img images.Image) *berthv1.Image {
	return &berthv1.Image{
		Name: img.Name, Target: descToProto(img.Target), Labels: img.Labels,
		CreatedAt: timestamppb.New(img.CreatedAt), UpdatedAt: timestamppb.New(img.UpdatedAt),
	}
}

func progressToProto(status string, bs []image.BlobProgress) *berthv1.PullProgress {
	out := &berthv1.PullProgress{Status: status}
	for _, b := range bs {
		p := &berthv1.BlobProgress{Ref: b.Ref, Digest: b.Digest, MediaType: b.MediaType, Offset: b.Offset, Total: b.Total, Status: b.Status}
		if !b.StartedAt.IsZero() {
			p.StartedAt = timestamppb.New(b.StartedAt)
		}
		if !b.DoneAt.IsZero() {
			p.DoneAt = timestamppb.New(b.DoneAt)
		}
		out.Blobs = append(out.Blobs, p)
	}
	return out
}
