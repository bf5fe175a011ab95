package daemon

import (
	"context"
	"fmt"
	"io"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/internal/errdefs"
)

// ContentService serves berth.v1.Content over the namespaced content store.
type ContentService struct {
	berthv1.UnimplementedContentServer
	cs content.Store
}

// NewContentService returns the Content service.
func NewContentService(s *Stores) *ContentService { return &ContentService{cs: s.DB.ContentStore()} }

// Register implements Service.
func (s *ContentService) Register(g *grpc.Server) { berthv1.RegisterContentServer(g, s) }

func infoToProto(i content.Info) *berthv1.ContentInfo {
	return &berthv1.ContentInfo{Digest: i.Digest.String(), Size: i.Size, Labels: i.Labels,
		CreatedAt: timestamppb.New(i.CreatedAt), UpdatedAt: timestamppb.New(i.UpdatedAt)}
}

func parseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", fmt.Errorf("digest %q: %v: %w", s, err, errdefs.ErrInvalidArgument)
	}
	return d, nil
}

// Info implements berth.v1.Content.
func (s *ContentService) Info(ctx context.Context, req *berthv1.ContentInfoRequest) (*berthv1.ContentInfoResponse, error) {
	d, err := parseDigest(req.Digest)
	if err != nil {
		return nil, err
	}
	i, err := s.cs.Info(ctx, d)
	if err != nil {
		return nil, err
	}
	return &berthv1.ContentInfoResponse{Info: infoToProto(i)}, nil
}

// List implements berth.v1.Content.
func (s *ContentService) List(ctx context.Context, req *berthv1.ListContentRequest) (*berthv1.ListContentResponse, error) {
	out := &berthv1.ListContentResponse{}
	err := s.cs.Walk(ctx, func(i content.Info) error {
		out.Infos = append(out.Infos, infoToProto(i))
		return nil
	}, req.Filters...)
	return out, err
}

// Delete implements berth.v1.Content.
func (s *ContentService) Delete(ctx context.Context, req *berthv1.DeleteContentRequest) (*berthv1.DeleteContentResponse, error) {
	d, err := parseDigest(req.Digest)
	if err != nil {
		return nil, err
	}
	return &berthv1.DeleteContentResponse{}, s.cs.Delete(ctx, d)
}

// Read implements berth.v1.Content.
func (s *ContentService) Read(req *berthv1.ReadContentRequest, stream grpc.ServerStreamingServer[berthv1.Chunk]) error {
	ctx := stream.Context()
	d, err := parseDigest(req.Digest)
	if err != nil {
		return err
	}
	i, err := s.cs.Info(ctx, d)
	if err != nil {
		return err
	}
	ra, err := s.cs.ReaderAt(ctx, ocispec.Descriptor{Digest: d, Size: i.Size})
	if err != nil {
		return err
	}
	defer ra.Close()
	if req.Offset < 0 || req.Offset > ra.Size() || req.Size < 0 {
		return fmt.Errorf("read %s: offset %d size %d outside the blob's %d bytes: %w", d, req.Offset, req.Size, ra.Size(), errdefs.ErrInvalidArgument)
	}
	n := ra.Size() - req.Offset
	if req.Size > 0 && req.Size < n {
		n = req.Size
	}
	r := io.NewSectionReader(ra, req.Offset, n)
	buf := make([]byte, chunkSize)
	for {
		k, err := io.ReadFull(r, buf)
		if k > 0 {
			if serr := stream.Send(&berthv1.Chunk{Data: buf[:k]}); serr != nil {
				return serr
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
