package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/registry/hosts"
	"github.com/berth-containers/berth/registry/reference"
)

type fetcher struct {
	r   *resolver
	n   reference.Named
	eps []hosts.Endpoint
}

// Fetcher implements Resolver.
func (r *resolver) Fetcher(ctx context.Context, ref string) (Fetcher, error) {
	n, err := reference.ParseNormalized(ref)
	if err != nil {
		return nil, err
	}
	eps, err := r.endpoints(n, hosts.CapPull)
	if err != nil {
		return nil, err
	}
	return &fetcher{r: r, n: n, eps: eps}, nil
}

func (f *fetcher) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	return f.FetchFrom(ctx, desc, 0)
}

// FetchFrom implements Fetcher. Manifests and indexes are read whole and
// verified; blobs stream, bounded by desc.Size, resumed with Range after a
// lost connection, and (from offset 0) verified against desc.Digest at the
// end: a mismatch is the error of the last Read instead of io.EOF.
func (f *fetcher) FetchFrom(ctx context.Context, desc ocispec.Descriptor, offset int64) (io.ReadCloser, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("fetch: descriptor digest %q: %v: %w", desc.Digest, err, errdefs.ErrInvalidArgument)
	}
	if desc.Size < 0 {
		return nil, fmt.Errorf("fetch %s: descriptor size %d: %w", desc.Digest, desc.Size, errdefs.ErrInvalidArgument)
	}
	if offset < 0 || offset > desc.Size {
		return nil, fmt.Errorf("fetch %s: offset %d outside 0..%d: %w", desc.Digest, offset, desc.Size, errdefs.ErrInvalidArgument)
	}
	if IsSchema1(desc.MediaType) {
		return nil, unsupported("fetch "+desc.Digest.String(), desc.MediaType)
	}
	manifest := IsManifestType(desc.MediaType) || IsIndexType(desc.MediaType)
	var firstErr error
	for _, ep := range f.eps {
		var rc io.ReadCloser
		var err error
		if manifest {
			rc, err = f.fetchManifest(ctx, ep, desc, offset)
		} else {
			rc, err = f.openBlob(ctx, ep, desc, offset)
		}
		if err == nil {
			return rc, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		f.r.log.Debug("fetch failed at endpoint", "digest", desc.Digest, "endpoint", ep.URL(), "error", err)
		if errdefs.IsNotImplemented(err) {
			return nil, err
		}
		if firstErr == nil || errdefs.IsNotFound(firstErr) && !errdefs.IsNotFound(err) {
			firstErr = err
		}
	}
	return nil, firstErr
}

func (f *fetcher) fetchManifest(ctx context.Context, ep hosts.Endpoint, desc ocispec.Descriptor, offset int64) (io.ReadCloser, error) {
	if desc.Size > MaxManifestSize {
		return nil, fmt.Errorf("manifest %s: size %d, more than the %d allowed: %w", desc.Digest, desc.Size, MaxManifestSize, errdefs.ErrInvalidArgument)
	}
	got, b, err := f.r.getManifest(ctx, ep, f.n, desc.Digest.String(), desc.MediaType)
	if err != nil {
		return nil, err
	}
	if got.Size != desc.Size {
		return nil, fmt.Errorf("manifest %s: %d bytes, descriptor says %d: %w", desc.Digest, got.Size, desc.Size, errdefs.ErrFailedPrecondition)
	}
	return io.NopCloser(bytes.NewReader(b[offset:])), nil
}

// openBlob GETs a blob from offset and checks that a Range was honoured;
// when a registry ignores it (200), the bytes before offset are skipped.
func (f *fetcher) openBlob(ctx context.Context, ep hosts.Endpoint, desc ocispec.Descriptor, offset int64) (io.ReadCloser, error) {
	body, err := f.get(ctx, ep, desc, offset)
	if err != nil {
		return nil, err
	}
	rr := &resumingReader{ctx: ctx, f: f, ep: ep, desc: desc, off: offset, body: body}
	if offset == 0 && !f.r.opts.SkipBlobDigest {
		rr.hash = desc.Digest.Algorithm().Hash()
	}
	return rr, nil
}

func (f *fetcher) get(ctx context.Context, ep hosts.Endpoint, desc ocispec.Descriptor, offset int64) (io.ReadCloser, error) {
	what := "blob " + f.n.Name() + "@" + desc.Digest.String()
	q := &request{method: http.MethodGet, ep: ep, path: "/" + f.n.Path + "/blobs/" + desc.Digest.String(),
		scopes: pullScope(f.n), credHost: f.n.Domain, object: what, header: http.Header{}}
	if offset > 0 {
		q.header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	if offset > 0 && offset == desc.Size {
		// Nothing left to read (a Range past the end would be refused).
		return io.NopCloser(strings.NewReader("")), nil
	}
	resp, err := f.r.do(ctx, q)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength >= 0 && resp.StatusCode == http.StatusOK && resp.ContentLength != desc.Size {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: registry %s sends %d bytes, descriptor says %d: %w", what, ep.Host, resp.ContentLength, desc.Size, errdefs.ErrFailedPrecondition)
	}
	if offset > 0 {
		switch resp.StatusCode {
		case http.StatusPartialContent:
			start, err := contentRangeStart(resp.Header.Get("Content-Range"))
			if err != nil || start != offset {
				resp.Body.Close()
				return nil, fmt.Errorf("%s: asked for bytes from %d, registry answered Content-Range %q: %w", what, offset, resp.Header.Get("Content-Range"), errdefs.ErrUnavailable)
			}
		case http.StatusOK:
			// Range ignored: skip what we already have.
			if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil {
				resp.Body.Close()
				return nil, fmt.Errorf("%s: skipping %d bytes the registry resent: %w: %w", what, offset, err, errdefs.ErrUnavailable)
			}
		default:
			resp.Body.Close()
			return nil, fmt.Errorf("%s: unexpected %s to a Range request: %w", what, resp.Status, errdefs.ErrUnavailable)
		}
	}
	return resp.Body, nil
}

func contentRangeStart(h string) (int64, error) {
	s, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, fmt.Errorf("not bytes")
	}
	a, _, ok := strings.Cut(s, "-")
	if !ok {
		return 0, fmt.Errorf("no range")
	}
	return strconv.ParseInt(a, 10, 64)
}

// resumingReader reads a blob, bounded by its size, reopening it from the
// current offset (up to Retries times) when the connection drops.
type resumingReader struct {
	ctx     context.Context
	f       *fetcher
	ep      hosts.Endpoint
	desc    ocispec.Descriptor
	off     int64
	body    io.ReadCloser
	hash    hash.Hash
	resumes int
	err     error
}

func (r *resumingReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	for {
		if r.off >= r.desc.Size {
			return 0, r.finish()
		}
		if rem := r.desc.Size - r.off; int64(len(p)) > rem {
			p = p[:rem]
		}
		n, err := r.body.Read(p)
		if n > 0 {
			r.off += int64(n)
			if r.hash != nil {
				r.hash.Write(p[:n])
			}
			if r.off == r.desc.Size {
				if ferr := r.finish(); ferr != io.EOF {
					return n, ferr
				}
			}
			return n, nil
		}
		if err == nil {
			continue
		}
		// The body ended or broke before desc.Size bytes: resume.
		if r.ctx.Err() != nil {
			r.err = r.ctx.Err()
			return 0, r.err
		}
		if r.resumes >= r.f.r.opts.Retries {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			r.err = fmt.Errorf("blob %s: connection lost at byte %d of %d after %d resumes: %w: %w", r.desc.Digest, r.off, r.desc.Size, r.resumes, err, errdefs.ErrUnavailable)
			return 0, r.err
		}
		wait := r.f.r.backoff(r.resumes, nil)
		r.f.r.log.Debug("blob download interrupted, resuming", "digest", r.desc.Digest, "offset", r.off, "error", err, "wait", wait)
		r.resumes++
		r.body.Close()
		r.body = io.NopCloser(strings.NewReader(""))
		if err := r.f.r.sleepf(r.ctx, wait); err != nil {
			r.err = err
			return 0, err
		}
		body, err := r.f.get(r.ctx, r.ep, r.desc, r.off)
		if err != nil {
			if errors.Is(err, errdefs.ErrUnavailable) && r.resumes < r.f.r.opts.Retries {
				continue
			}
			r.err = fmt.Errorf("blob %s: resuming at byte %d: %w", r.desc.Digest, r.off, err)
			return 0, r.err
		}
		r.body = body
	}
}

// finish checks the end of the blob: nothing more sent, digest matches.
func (r *resumingReader) finish() error {
	var one [1]byte
	if n, _ := r.body.Read(one[:]); n > 0 {
		r.err = fmt.Errorf("blob %s: registry sent more than the descriptor's %d bytes: %w", r.desc.Digest, r.desc.Size, errdefs.ErrFailedPrecondition)
		return r.err
	}
	if r.hash != nil {
		got := digest.NewDigest(r.desc.Digest.Algorithm(), r.hash)
		if got != r.desc.Digest {
			r.err = fmt.Errorf("blob %s: content has digest %s: %w", r.desc.Digest, got, errdefs.ErrFailedPrecondition)
			return r.err
		}
		r.hash = nil
	}
	r.err = io.EOF
	return io.EOF
}

func (r *resumingReader) Close() error { return r.body.Close() }
