package daemon

import (
	"context"

	"google.golang.org/grpc"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
)

// ImagesWithEvents serves the Images API and publishes image events
// (pull, tag, delete) on ev.
type ImagesWithEvents struct {
	*ImagesService
	ev *Events
}

// NewImagesWithEvents wraps s.
func NewImagesWithEvents(s *ImagesService, ev *Events) *ImagesWithEvents {
	return &ImagesWithEvents{ImagesService: s, ev: ev}
}

// Register adds the service to g.
func (s *ImagesWithEvents) Register(g *grpc.Server) { berthv1.RegisterImagesServer(g, s) }

// Pull pulls and publishes "pull".
func (s *ImagesWithEvents) Pull(req *berthv1.PullRequest, st grpc.ServerStreamingServer[berthv1.PullProgress]) error {
	if err := s.ImagesService.Pull(req, st); err != nil {
		return err
	}
	s.ev.Publish(nsOf(st.Context()), "image", "pull", req.Ref, map[string]string{"name": req.Ref})
	return nil
}

// Tag tags and publishes "tag".
func (s *ImagesWithEvents) Tag(ctx context.Context, req *berthv1.TagImageRequest) (*berthv1.TagImageResponse, error) {
	r, err := s.ImagesService.Tag(ctx, req)
	if err == nil {
		s.ev.Publish(nsOf(ctx), "image", "tag", req.Target, map[string]string{"name": req.Target})
	}
	return r, err
}

// Delete deletes and publishes "delete".
func (s *ImagesWithEvents) Delete(ctx context.Context, req *berthv1.DeleteImageRequest) (*berthv1.DeleteImageResponse, error) {
	r, err := s.ImagesService.Delete(ctx, req)
	if err == nil {
		s.ev.Publish(nsOf(ctx), "image", "delete", req.Name, map[string]string{"name": req.Name})
	}
	return r, err
}
