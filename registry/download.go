package registry

import (
	"context"
	"fmt"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/internal/errdefs"
)

// Download fetches desc into a content store through ingest ref and commits
// it (the store verifies size and digest). An earlier partial ingest of ref,
// from an interrupted pull or a killed daemon, is resumed with a Range
// request, so only the missing bytes travel. progress, if not nil, is called
// with the bytes held so far after every write. A blob already in the store
// is not an error.
func Download(ctx context.Context, f Fetcher, ing content.Ingester, ref string, desc ocispec.Descriptor, progress func(done int64), opts ...content.Opt) error {
	w, err := content.OpenWriter(ctx, ing, ref, desc)
	if err != nil {
		if errdefs.IsAlreadyExists(err) {
			return nil
		}
		return fmt.Errorf("download %s: %w", desc.Digest, err)
	}
	defer w.Close()
	off := w.Offset()
	if off > desc.Size {
		if err := w.Truncate(0); err != nil {
			return fmt.Errorf("download %s: reset ingest %q: %w", desc.Digest, ref, err)
		}
		off = 0
	}
	rc, err := f.FetchFrom(ctx, desc, off)
	if err != nil {
		return fmt.Errorf("download %s: %w", desc.Digest, err)
	}
	defer rc.Close()
	r := &offsetReader{r: rc, base: off, pos: off, progress: progress}
	if progress != nil && off > 0 {
		progress(off)
	}
	if err := content.Copy(ctx, w, r, desc.Size, desc.Digest, opts...); err != nil {
		if errdefs.IsAlreadyExists(err) {
			return nil
		}
		return fmt.Errorf("download %s: %w", desc.Digest, err)
	}
	return nil
}

// offsetReader reads a stream that starts at base as if it were the whole
// blob positioned there: Seek to base is the only move it allows.
type offsetReader struct {
	r        io.Reader
	base     int64
	pos      int64
	progress func(int64)
}

func (o *offsetReader) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	o.pos += int64(n)
	if n > 0 && o.progress != nil {
		o.progress(o.pos)
	}
	return n, err
}

func (o *offsetReader) Seek(offset int64, whence int) (int64, error) {
	if whence == io.SeekCurrent && offset == 0 {
		return o.pos, nil
	}
	if whence == io.SeekStart && offset == o.pos {
		return o.pos, nil
	}
	return o.pos, fmt.Errorf("stream from offset %d cannot seek to %d (whence %d): %w", o.base, offset, whence, errdefs.ErrInvalidArgument)
}
