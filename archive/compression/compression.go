package compression

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/berth-containers/berth/internal/errdefs"
)

// Compression is a layer's compression algorithm.
type Compression int

const (
	Uncompressed Compression = iota
	Gzip
	Zstd
	Unknown
)

func (c Compression) String() string {
	switch c {
	case Uncompressed:
		return "uncompressed"
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	}
	return "unknown"
}

// Extension is the conventional file name suffix ("", ".gz", ".zst").
func (c Compression) Extension() string {
	switch c {
	case Gzip:
		return ".gz"
	case Zstd:
		return ".zst"
	}
	return ""
}

var (
	gzipMagic = []byte{0x1f, 0x8b, 0x08}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// Detect returns the compression whose magic bytes start source.
func Detect(source []byte) Compression {
	switch {
	case bytes.HasPrefix(source, gzipMagic):
		return Gzip
	case bytes.HasPrefix(source, zstdMagic):
		return Zstd
	}
	return Uncompressed
}

// FromMediaType maps an OCI or Docker layer media type to its compression.
// Unknown media types are errdefs.ErrNotImplemented.
func FromMediaType(mt string) (Compression, error) {
	base, _, _ := strings.Cut(mt, ";")
	switch base {
	case "application/vnd.oci.image.layer.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.docker.image.rootfs.diff.tar":
		return Uncompressed, nil
	case "application/vnd.oci.image.layer.v1.tar+gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.docker.image.rootfs.diff.tar.gzip",
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
		return Gzip, nil
	case "application/vnd.oci.image.layer.v1.tar+zstd",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd":
		return Zstd, nil
	}
	return Unknown, fmt.Errorf("layer media type %q: unsupported: %w", mt, errdefs.ErrNotImplemented)
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }

// DecompressStream detects r's compression by its magic bytes and returns a
// reader of the decompressed bytes. Closing it releases the decoder (it does
// not close r).
func DecompressStream(r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, Unknown, fmt.Errorf("read compression magic: %w", err)
	}
	c := Detect(head)
	rc, err := decompress(br, c)
	return rc, c, err
}

// Decompress returns a reader of r decompressed with c.
func Decompress(r io.Reader, c Compression) (io.ReadCloser, error) {
	return decompress(r, c)
}

func decompress(r io.Reader, c Compression) (io.ReadCloser, error) {
	switch c {
	case Uncompressed:
		return io.NopCloser(r), nil
	case Gzip:
		return newGzipReader(r)
	case Zstd:
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(2), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(1<<27))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return &readCloser{Reader: d, close: func() error { d.Close(); return nil }}, nil
	}
	return nil, fmt.Errorf("compression %s: %w", c, errdefs.ErrNotImplemented)
}
