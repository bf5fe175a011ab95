package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	// Entries whose names start with .wh..wh. are AUFS bookkeeping
	// (.wh..wh.plnk, .wh..wh.aufs) and carry nothing for us.
	whiteoutMeta = ".wh..wh."
)

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Apply extracts the uncompressed tar stream r into root, which must exist,
// and returns the number of bytes read from r (the whole stream: what follows
// the end-of-archive marker is read too, so a digest taken over r is
// complete). Every error names the offending entry; on error, what was
// extracted so far stays in root for the caller to discard.
func Apply(ctx context.Context, root string, r io.Reader, opts ...ApplyOpt) (int64, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	cr := &countingReader{r: r}
	a, err := newApplier(root, o)
	if err != nil {
		return 0, err
	}
	defer a.close()
	a.ctx = ctx
	if err := a.run(ctx, tar.NewReader(cr)); err != nil {
		return cr.n, err
	}
	// Read the rest (padding after the end-of-archive marker), bounded like
	// file data.
	rest, err := io.Copy(io.Discard, io.LimitReader(cr, o.maxBytes-a.bytes+1))
	if err != nil {
		return cr.n, fmt.Errorf("layer: read after end of archive: %w", err)
	}
	if a.bytes+rest > o.maxBytes {
		return cr.n, fmt.Errorf("layer: more than %d bytes: %w", o.maxBytes, errLimit)
	}
	if err := a.finish(); err != nil {
		return cr.n, err
	}
	if !o.noSync {
		if err := unix.Syncfs(a.root); err != nil {
			return cr.n, fmt.Errorf("layer: syncfs %s: %w", root, err)
		}
	}
	return cr.n, nil
}

// errLimit marks a layer that exceeded a configured bound.
var errLimit = fmt.Errorf("layer exceeds its limit (decompression bomb?): %w", errdefs.ErrInvalidArgument)

// IsLimit reports whether err is a layer exceeding its byte or entry bound.
func IsLimit(err error) bool { return errors.Is(err, errLimit) }

// cleanName turns a tar entry name into a clean relative path ("." for the
// root), refusing absolute paths and any ".." component.
func cleanName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("empty name: %w", errdefs.ErrInvalidArgument)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("name contains NUL: %w", errdefs.ErrInvalidArgument)
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("absolute path: %w", errdefs.ErrInvalidArgument)
	}
	parts := strings.Split(name, "/")
	out := parts[:0]
	for _, p := range parts {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("path contains \"..\": %w", errdefs.ErrInvalidArgument)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return ".", nil
	}
	return strings.Join(out, "/"), nil
}

func (a *applier) run(ctx context.Context, tr *tar.Reader) error {
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("layer: read tar header after %d entries: %w", a.entries, err)
		}
		a.entries++
		if a.entries > a.opts.maxEntries {
			return fmt.Errorf("layer entry %q: more than %d entries: %w", hdr.Name, a.opts.maxEntries, errLimit)
		}
		if a.entries&255 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		err = a.entry(hdr, tr)
		a.closeRetired()
		if err != nil {
			return fmt.Errorf("layer entry %q: %w", hdr.Name, err)
		}
	}
}

func (a *applier) entry(hdr *tar.Header, tr *tar.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}

	// Whiteouts.
	if strings.HasPrefix(base, whiteoutPrefix) {
		if base == whiteoutOpaque {
			return a.opaque(dir)
		}
		if strings.HasPrefix(base, whiteoutMeta) {
			return nil
		}
		target := strings.TrimPrefix(base, whiteoutPrefix)
		if target == "" || target == "." || target == ".." || strings.Contains(target, "/") {
			return fmt.Errorf("whiteout of %q: invalid name: %w", target, errdefs.ErrInvalidArgument)
		}
		return a.whiteout(dir, target)
	}

	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("the root must be a directory, not type %q: %w", hdr.Typeflag, errdefs.ErrInvalidArgument)
		}
		return a.rootDir(hdr)
	}

	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeDir, tar.TypeSymlink, tar.TypeLink,
		tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	case tar.TypeXGlobalHeader:
		return nil
	default:
		return fmt.Errorf("unsupported entry type %q: %w", hdr.Typeflag, errdefs.ErrNotImplemented)
	}

	pfd, err := a.parent(dir)
	if err != nil {
		return err
	}
	return a.create(pfd, dir, base, name, hdr, tr)
}
