package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/registry/hosts"
	"github.com/berth-containers/berth/registry/reference"
)

// Resolve implements Resolver.
func (r *resolver) Resolve(ctx context.Context, ref string) (string, ocispec.Descriptor, error) {
	n, err := reference.ParseNormalized(ref)
	if err != nil {
		return "", ocispec.Descriptor{}, err
	}
	eps, err := r.endpoints(n, hosts.CapResolve)
	if err != nil {
		return "", ocispec.Descriptor{}, err
	}
	var firstErr error
	for _, ep := range eps {
		desc, err := r.resolveAt(ctx, ep, n)
		if err == nil {
			return n.String(), desc, nil
		}
		if ctx.Err() != nil {
			return "", ocispec.Descriptor{}, ctx.Err()
		}
		r.log.Debug("resolve failed at endpoint", "ref", n.String(), "endpoint", ep.URL(), "error", err)
		if errdefs.IsNotImplemented(err) || errors.Is(err, errdefs.ErrFailedPrecondition) && !ep.Mirror {
			// A definitive answer: schema 1, a digest mismatch, refused credentials upstream.
			return "", ocispec.Descriptor{}, err
		}
		if firstErr == nil || errdefs.IsNotFound(firstErr) && !errdefs.IsNotFound(err) {
			firstErr = err
		}
	}
	if errdefs.IsNotFound(firstErr) {
		return "", ocispec.Descriptor{}, fmt.Errorf("resolve %s: manifest not found at %d endpoint(s): %w", n.String(), len(eps), firstErr)
	}
	return "", ocispec.Descriptor{}, fmt.Errorf("resolve %s: %w", n.String(), firstErr)
}

func manifestHeader() http.Header {
	return http.Header{"Accept": {strings.Join(manifestAccept, ", ")}}
}

func contentType(h http.Header) string {
	ct := h.Get("Content-Type")
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return mt
}

func isGenericType(mt string) bool {
	return mt == "" || mt == "application/json" || mt == "text/plain" || mt == "application/octet-stream"
}

// resolveAt asks one endpoint: HEAD first (cheap), GET when the answer lacks
// what a descriptor needs.
func (r *resolver) resolveAt(ctx context.Context, ep hosts.Endpoint, n reference.Named) (ocispec.Descriptor, error) {
	object := "manifest " + n.String()
	q := &request{method: http.MethodHead, ep: ep, path: "/" + n.Path + "/manifests/" + n.Object(),
		header: manifestHeader(), scopes: pullScope(n), credHost: n.Domain, object: object}
	resp, err := r.do(ctx, q)
	if err == nil {
		drain(resp)
		mt := contentType(resp.Header)
		if IsSchema1(mt) {
			return ocispec.Descriptor{}, unsupported(object, mt)
		}
		dg, derr := digest.Parse(resp.Header.Get("Docker-Content-Digest"))
		if derr == nil && resp.ContentLength > 0 && !isGenericType(mt) {
			if n.Digest != "" && dg != n.Digest {
				return ocispec.Descriptor{}, fmt.Errorf("%s: registry %s reports digest %s: %w", object, ep.Host, dg, errdefs.ErrFailedPrecondition)
			}
			if !IsManifestType(mt) && !IsIndexType(mt) {
				return ocispec.Descriptor{}, fmt.Errorf("%s: media type %q is not an image manifest or index: %w", object, mt, errdefs.ErrNotImplemented)
			}
			return ocispec.Descriptor{MediaType: mt, Digest: dg, Size: resp.ContentLength}, nil
		}
	} else {
		var se *StatusError
		if !errors.As(err, &se) || se.StatusCode == http.StatusNotFound || se.StatusCode == http.StatusUnauthorized ||
			se.StatusCode == http.StatusForbidden || se.StatusCode == http.StatusTooManyRequests || se.StatusCode >= 500 {
			return ocispec.Descriptor{}, err
		}
		// Some registries refuse HEAD (405 and such): ask with GET.
	}
	desc, _, err := r.getManifest(ctx, ep, n, n.Object(), "")
	return desc, err
}

// getManifest GETs a manifest by tag or digest and checks it: bounded size,
// digest (against the reference's, the header's and the expected one),
// media type, JSON shape. It returns the descriptor and the bytes.
func (r *resolver) getManifest(ctx context.Context, ep hosts.Endpoint, n reference.Named, object string, wantMT string) (ocispec.Descriptor, []byte, error) {
	what := "manifest " + n.Name() + "@" + object
	if !strings.Contains(object, ":") {
		what = "manifest " + n.Name() + ":" + object
	}
	q := &request{method: http.MethodGet, ep: ep, path: "/" + n.Path + "/manifests/" + object,
		header: manifestHeader(), scopes: pullScope(n), credHost: n.Domain, object: what}
	resp, err := r.do(ctx, q)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	defer resp.Body.Close()
	if resp.ContentLength > MaxManifestSize {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s: %d bytes, more than the %d allowed: %w", what, resp.ContentLength, MaxManifestSize, errdefs.ErrInvalidArgument)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxManifestSize+1))
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s: reading: %w", what, err)
	}
	if len(b) > MaxManifestSize {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s: more than the %d bytes allowed: %w", what, MaxManifestSize, errdefs.ErrInvalidArgument)
	}
	if resp.ContentLength >= 0 && int64(len(b)) != resp.ContentLength {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s: got %d bytes of %d: %w", what, len(b), resp.ContentLength, errdefs.ErrUnavailable)
	}
	mt := contentType(resp.Header)
	if isGenericType(mt) {
		if mt, err = DetectMediaType(b); err != nil {
			return ocispec.Descriptor{}, nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	if IsSchema1(mt) {
		return ocispec.Descriptor{}, nil, unsupported(what, mt)
	}
	alg := digest.Canonical
	if n.Digest != "" {
		alg = n.Digest.Algorithm()
	}
	if d, err := digest.Parse(object); err == nil {
		alg = d.Algorithm()
	}
	if !alg.Available() {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s: digest algorithm %q: %w", what, alg, errdefs.ErrNotImplemented)
	}
	got := alg.FromBytes(b)
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" {
		hd, err := digest.Parse(h)
		if err != nil {
			return ocispec.Descriptor{}, nil, fmt.Errorf("%s: Docker-Content-Digest %q: %v: %w", what, h, err, errdefs.ErrInvalidArgument)
		}
		if hd.Algorithm() == alg && hd != got {
			return ocispec.Descriptor{}, nil, fmt.Errorf("%s: content has digest %s, registry %s says %s: %w", what, got, ep.Host, hd, errdefs.ErrFailedPrecondition)
		}
	}
	for _, want := range []string{string(n.Digest), object} {
		if d, err := digest.Parse(want); err == nil && d != got {
			return ocispec.Descriptor{}, nil, fmt.Errorf("%s: content has digest %s, expected %s: %w", what, got, d, errdefs.ErrFailedPrecondition)
		}
	}
	switch {
	case IsManifestType(mt):
		_, err = DecodeManifest(b, mt)
	case IsIndexType(mt):
		_, err = DecodeIndex(b, mt)
	default:
		err = fmt.Errorf("media type %q is not an image manifest or index: %w", mt, errdefs.ErrNotImplemented)
	}
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s: %w", what, err)
	}
	if wantMT != "" && wantMT != mt && !(IsManifestType(wantMT) && IsManifestType(mt)) && !(IsIndexType(wantMT) && IsIndexType(mt)) {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s: registry served %q, descriptor says %q: %w", what, mt, wantMT, errdefs.ErrFailedPrecondition)
	}
	return ocispec.Descriptor{MediaType: mt, Digest: got, Size: int64(len(b))}, b, nil
}
