package compression

import (
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
)

// newGzipReader decompresses a (possibly multi-member) gzip stream. The
// decoding runs in its own goroutine, reading ahead into large buffers, so
// that inflating overlaps with whatever consumes the output (tar extraction).
func newGzipReader(r io.Reader) (io.ReadCloser, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return newReadAhead(zr, func() error { return zr.Close() }), nil
}
