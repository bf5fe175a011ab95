package local

import (
	"context"
	"fmt"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/internal/errdefs"
)

type store struct{ root string }

// NewStore opens (creating if needed) the content store under root.
func NewStore(root string) (content.Store, error) { return &store{root: root}, nil }

var errTODO = fmt.Errorf("content/local: %w", errdefs.ErrNotImplemented)

func (s *store) Info(ctx context.Context, d digest.Digest) (content.Info, error) {
	return content.Info{}, errTODO
}
func (s *store) Update(ctx context.Context, i content.Info, f ...string) (content.Info, error) {
	return content.Info{}, errTODO
}
func (s *store) Walk(ctx context.Context, fn func(content.Info) error, f ...string) error {
	return errTODO
}
func (s *store) Delete(ctx context.Context, d digest.Digest) error { return errTODO }
func (s *store) ReaderAt(ctx context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	return nil, errTODO
}
func (s *store) Status(ctx context.Context, ref string) (content.Status, error) {
	return content.Status{}, errTODO
}
func (s *store) ListStatuses(ctx context.Context, f ...string) ([]content.Status, error) {
	return nil, errTODO
}
func (s *store) Abort(ctx context.Context, ref string) error { return errTODO }
func (s *store) Writer(ctx context.Context, ref string, desc ocispec.Descriptor) (content.Writer, error) {
	return nil, errTODO
}
