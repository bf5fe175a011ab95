package content

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/internal/errdefs"
)

// MaxBlobInMemory bounds ReadBlob: manifests, indexes and configs are small,
// and a descriptor claiming more is refused rather than allocated.
const MaxBlobInMemory = 64 << 20

// ReadBlob reads the whole blob desc names, refusing sizes above
// MaxBlobInMemory, and verifies its size and digest.
func ReadBlob(ctx context.Context, p Provider, desc ocispec.Descriptor) ([]byte, error) {
	if desc.Size < 0 || desc.Size > MaxBlobInMemory {
		return nil, fmt.Errorf("blob %s: size %d outside 0..%d: %w", desc.Digest, desc.Size, MaxBlobInMemory, errdefs.ErrInvalidArgument)
	}
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("blob digest %q: %v: %w", desc.Digest, err, errdefs.ErrInvalidArgument)
	}
	ra, err := p.ReaderAt(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer ra.Close()
	if ra.Size() != desc.Size {
		return nil, fmt.Errorf("blob %s: stored size %d, descriptor says %d: %w", desc.Digest, ra.Size(), desc.Size, errdefs.ErrFailedPrecondition)
	}
	buf := make([]byte, desc.Size)
	if _, err := ra.ReadAt(buf, 0); err != nil && !(errors.Is(err, io.EOF) && desc.Size == 0) {
		return nil, fmt.Errorf("read blob %s: %w", desc.Digest, err)
	}
	if got := desc.Digest.Algorithm().FromBytes(buf); got != desc.Digest {
		return nil, fmt.Errorf("blob %s: content digest is %s: %w", desc.Digest, got, errdefs.ErrFailedPrecondition)
	}
	return buf, nil
}

// NewReader returns a sequential reader over ra.
func NewReader(ra ReaderAt) io.Reader {
	return io.NewSectionReader(ra, 0, ra.Size())
}

// OpenWriter opens a writer for ref, waiting (until ctx ends) while another
// writer holds it.
func OpenWriter(ctx context.Context, ing Ingester, ref string, desc ocispec.Descriptor) (Writer, error) {
	wait := 5 * time.Millisecond
	for {
		w, err := ing.Writer(ctx, ref, desc)
		if err == nil || !errdefs.IsUnavailable(err) {
			return w, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("ingest %q: %w (%v)", ref, ctx.Err(), err)
		case <-time.After(wait):
		}
		if wait < 500*time.Millisecond {
			wait *= 2
		}
	}
}

// WriteBlob copies r into the store under ref and commits it as desc. If
// an earlier ingest of ref left data behind, it resumes: r is seeked (when
// it is an io.Seeker) or the bytes already written are skipped. A blob
// already present is not an error.
func WriteBlob(ctx context.Context, ing Ingester, ref string, r io.Reader, desc ocispec.Descriptor, opts ...Opt) error {
	w, err := OpenWriter(ctx, ing, ref, desc)
	if err != nil {
		if errdefs.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	defer w.Close()
	if err := Copy(ctx, w, r, desc.Size, desc.Digest, opts...); err != nil {
		if errdefs.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	return nil
}

// Copy writes r into w from w's Offset (skipping or seeking past what w
// already holds) and commits with size and expected. If r is at offset 0
// and w is not, r is advanced; a writer holding more than size is reset.
func Copy(ctx context.Context, w Writer, r io.Reader, size int64, expected digest.Digest, opts ...Opt) error {
	off := w.Offset()
	if size > 0 && off > size {
		if err := w.Truncate(0); err != nil {
			return err
		}
		off = 0
	}
	if off > 0 {
		if s, ok := r.(io.Seeker); ok {
			if _, err := s.Seek(off, io.SeekStart); err != nil {
				return fmt.Errorf("seek to resume offset %d: %w", off, err)
			}
		} else if _, err := io.CopyN(io.Discard, r, off); err != nil {
			return fmt.Errorf("skip %d bytes already ingested: %w", off, err)
		}
	}
	src := r
	if size > 0 {
		src = io.LimitReader(r, size-off+1) // one extra byte exposes an overlong source
	}
	if _, err := io.Copy(w, ctxReader{ctx, src}); err != nil {
		return fmt.Errorf("copy %s: %w", expected, err)
	}
	return w.Commit(ctx, size, expected, opts...)
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
