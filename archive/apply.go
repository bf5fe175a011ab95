package archive

import (
	"context"
	"io"

	"github.com/berth-containers/berth/internal/errdefs"
)

// Apply extracts the uncompressed tar stream r into root, which must exist,
// and returns the number of bytes read from r.
func Apply(ctx context.Context, root string, r io.Reader, opts ...ApplyOpt) (int64, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	_ = o
	return 0, errdefs.ErrNotImplemented
}
