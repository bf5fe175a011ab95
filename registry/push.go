package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/registry/hosts"
	"github.com/berth-containers/berth/registry/reference"
)

// SourceLabelPrefix prefixes the label (on a content blob) or annotation (on
// a descriptor given to Push) that names the repositories a blob came from
// on a registry: "berth.io/distribution.source.<host>" = "repo[,repo…]".
// Push tries to mount the blob from those repositories instead of uploading.
const SourceLabelPrefix = "berth.io/distribution.source."

// SourceLabel is the label key and value recording that a blob was pulled
// from ref's repository, merged with existing (a previous value, may be "").
func SourceLabel(ref reference.Named, existing string) (key, value string) {
	repos := []string{}
	for _, r := range strings.Split(existing, ",") {
		if r != "" && r != ref.Path {
			repos = append(repos, r)
		}
	}
	repos = append([]string{ref.Path}, repos...)
	if len(repos) > 8 {
		repos = repos[:8]
	}
	return SourceLabelPrefix + ref.Domain, strings.Join(repos, ",")
}

type pusher struct {
	r  *resolver
	n  reference.Named
	ep hosts.Endpoint
}

// Pusher implements Resolver. Pushes go to the first endpoint with the push
// capability (normally the upstream).
func (r *resolver) Pusher(ctx context.Context, ref string) (Pusher, error) {
	n, err := reference.ParseNormalized(ref)
	if err != nil {
		return nil, err
	}
	eps, err := r.endpoints(n, hosts.CapPush)
	if err != nil {
		return nil, err
	}
	return &pusher{r: r, n: n, ep: eps[0]}, nil
}

func (p *pusher) req(method, path, object string) *request {
	return &request{method: method, ep: p.ep, path: "/" + p.n.Path + path, scopes: pushScope(p.n), credHost: p.n.Domain, object: object}
}

func (p *pusher) exists(ctx context.Context, kind string, desc ocispec.Descriptor, object string) (bool, error) {
	q := p.req(http.MethodHead, "/"+kind+"/"+desc.Digest.String(), object)
	if kind == "manifests" {
		q.header = manifestHeader()
	}
	resp, err := p.r.do(ctx, q, http.StatusNotFound)
	if err != nil {
		return false, err
	}
	drain(resp)
	return resp.StatusCode == http.StatusOK, nil
}

// Push implements Pusher.
func (p *pusher) Push(ctx context.Context, desc ocispec.Descriptor, prov content.Provider) error {
	if err := desc.Digest.Validate(); err != nil {
		return fmt.Errorf("push: descriptor digest %q: %v: %w", desc.Digest, err, errdefs.ErrInvalidArgument)
	}
	if IsSchema1(desc.MediaType) {
		return unsupported("push "+desc.Digest.String(), desc.MediaType)
	}
	if IsManifestType(desc.MediaType) || IsIndexType(desc.MediaType) {
		object := "manifest " + p.n.Name() + "@" + desc.Digest.String()
		ok, err := p.exists(ctx, "manifests", desc, object)
		if err != nil || ok {
			return err
		}
		return p.putManifest(ctx, desc, prov, desc.Digest.String())
	}
	return p.pushBlob(ctx, desc, prov)
}

// Tag implements Pusher.
func (p *pusher) Tag(ctx context.Context, desc ocispec.Descriptor, prov content.Provider) error {
	if p.n.Tag == "" {
		return fmt.Errorf("push %s: reference has no tag: %w", p.n.String(), errdefs.ErrInvalidArgument)
	}
	if !IsManifestType(desc.MediaType) && !IsIndexType(desc.MediaType) {
		return fmt.Errorf("tag %s: media type %q is not a manifest or index: %w", p.n.String(), desc.MediaType, errdefs.ErrInvalidArgument)
	}
	return p.putManifest(ctx, desc, prov, p.n.Tag)
}

func (p *pusher) putManifest(ctx context.Context, desc ocispec.Descriptor, prov content.Provider, object string) error {
	b, err := content.ReadBlob(ctx, prov, desc)
	if err != nil {
		return fmt.Errorf("push manifest %s: %w", desc.Digest, err)
	}
	if _, err := Children(b, desc.MediaType); err != nil {
		return fmt.Errorf("push manifest %s: %w", desc.Digest, err)
	}
	q := p.req(http.MethodPut, "/manifests/"+object, "manifest "+p.n.Name()+" "+object)
	q.header = http.Header{"Content-Type": {desc.MediaType}}
	q.body = func() (io.Reader, error) { return strings.NewReader(string(b)), nil }
	q.size = int64(len(b))
	resp, err := p.r.do(ctx, q)
	if err != nil {
		return err
	}
	drain(resp)
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" && h != desc.Digest.String() {
		return fmt.Errorf("push manifest %s: registry recorded digest %s: %w", desc.Digest, h, errdefs.ErrFailedPrecondition)
	}
	return nil
}

func (p *pusher) pushBlob(ctx context.Context, desc ocispec.Descriptor, prov content.Provider) error {
	object := "blob " + p.n.Name() + "@" + desc.Digest.String()
	ok, err := p.exists(ctx, "blobs", desc, object)
	if err != nil || ok {
		return err
	}
	// An upload that fails on the way (a 5xx, a dropped connection) is
	// started again from the beginning: upload sessions do not survive them.
	for attempt := 0; ; attempt++ {
		err = p.upload(ctx, desc, prov, object)
		if err == nil || !errdefs.IsUnavailable(err) || attempt >= p.r.opts.Retries || ctx.Err() != nil {
			return err
		}
		wait := p.r.backoff(attempt, nil)
		p.r.log.Debug("blob upload failed, starting again", "digest", desc.Digest, "error", err, "wait", wait)
		if err := p.r.sleepf(ctx, wait); err != nil {
			return err
		}
	}
}

func (p *pusher) upload(ctx context.Context, desc ocispec.Descriptor, prov content.Provider, object string) error {
	var location string
	// Cross-repository mount from a repository the blob is known to be in.
	if from := desc.Annotations[SourceLabelPrefix+p.n.Domain]; from != "" {
		for _, repo := range strings.Split(from, ",") {
			if repo == "" || repo == p.n.Path {
				continue
			}
			q := p.req(http.MethodPost, "/blobs/uploads/", object)
			q.query = url.Values{"mount": {desc.Digest.String()}, "from": {repo}}
			q.scopes = append(pushScope(p.n), "repository:"+repo+":pull")
			q.body = func() (io.Reader, error) { return strings.NewReader(""), nil }
			q.size = 0
			resp, err := p.r.do(ctx, q)
			if err != nil {
				p.r.log.Debug("blob mount refused, uploading", "digest", desc.Digest, "from", repo, "error", err)
				continue
			}
			drain(resp)
			if resp.StatusCode == http.StatusCreated {
				p.r.log.Debug("blob mounted", "digest", desc.Digest, "from", repo)
				return nil
			}
			if resp.StatusCode == http.StatusAccepted {
				location = resp.Header.Get("Location")
				break
			}
		}
	}
	if location == "" {
		q := p.req(http.MethodPost, "/blobs/uploads/", object)
		q.body = func() (io.Reader, error) { return strings.NewReader(""), nil }
		q.size = 0
		resp, err := p.r.do(ctx, q)
		if err != nil {
			return err
		}
		drain(resp)
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("%s: upload start answered %s, want 202: %w", object, resp.Status, errdefs.ErrFailedPrecondition)
		}
		location = resp.Header.Get("Location")
		if location, err = resolveLocation(resp, location); err != nil {
			return fmt.Errorf("%s: %w", object, err)
		}
	} else {
		var err error
		if location, err = resolveLocation(nil, joinURL(p.ep, location)); err != nil {
			return fmt.Errorf("%s: %w", object, err)
		}
	}
	ra, err := prov.ReaderAt(ctx, desc)
	if err != nil {
		return fmt.Errorf("%s: %w", object, err)
	}
	defer ra.Close()
	if ra.Size() != desc.Size {
		return fmt.Errorf("%s: local blob has %d bytes, descriptor says %d: %w", object, ra.Size(), desc.Size, errdefs.ErrFailedPrecondition)
	}
	chunk := p.r.opts.ChunkSize
	var off int64
	if chunk > 0 && desc.Size > chunk {
		for off < desc.Size {
			n := min(chunk, desc.Size-off)
			start := off
			q := &request{method: http.MethodPatch, ep: p.ep, rawURL: location, scopes: pushScope(p.n), credHost: p.n.Domain, object: object, noRetry: true,
				header: http.Header{"Content-Type": {"application/octet-stream"}, "Content-Range": {fmt.Sprintf("%d-%d", start, start+n-1)}},
				body:   func() (io.Reader, error) { return io.NewSectionReader(ra, start, n), nil }, size: n}
			resp, err := p.r.do(ctx, q)
			if err != nil {
				return err
			}
			drain(resp)
			if location, err = resolveLocation(resp, resp.Header.Get("Location")); err != nil {
				return fmt.Errorf("%s: %w", object, err)
			}
			off += n
		}
	}
	rest := desc.Size - off
	q := &request{method: http.MethodPut, ep: p.ep, rawURL: location, query: url.Values{"digest": {desc.Digest.String()}},
		scopes: pushScope(p.n), credHost: p.n.Domain, object: object, noRetry: true,
		header: http.Header{"Content-Type": {"application/octet-stream"}},
		body:   func() (io.Reader, error) { return io.NewSectionReader(ra, off, rest), nil }, size: rest}
	resp, err := p.r.do(ctx, q)
	if err != nil {
		return err
	}
	drain(resp)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("%s: upload end answered %s, want 201: %w", object, resp.Status, errdefs.ErrFailedPrecondition)
	}
	return nil
}

func joinURL(ep hosts.Endpoint, loc string) string {
	if strings.Contains(loc, "://") {
		return loc
	}
	return ep.Scheme + "://" + ep.Host + loc
}

// resolveLocation makes an upload Location absolute, relative to the request.
func resolveLocation(resp *http.Response, loc string) (string, error) {
	if loc == "" {
		return "", fmt.Errorf("registry gave no upload Location: %w", errdefs.ErrFailedPrecondition)
	}
	u, err := url.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("upload Location %q: %v: %w", loc, err, errdefs.ErrFailedPrecondition)
	}
	if resp != nil && resp.Request != nil {
		u = resp.Request.URL.ResolveReference(u)
	}
	return u.String(), nil
}

// PushImage pushes the image rooted at root from prov through pusher:
// blobs (up to concurrency at a time), then manifests, children before
// parents, and finally root under the pusher reference's tag (or by digest
// when the reference has none).
func PushImage(ctx context.Context, p Pusher, root ocispec.Descriptor, prov content.Provider, concurrency int) error {
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	once := &pushOnce{done: map[digest.Digest]*pushCall{}}
	if err := pushTree(ctx, p, root, prov, concurrency, 0, once); err != nil {
		return err
	}
	if pp, ok := p.(*pusher); ok && pp.n.Tag == "" {
		return p.Push(ctx, root, prov)
	}
	return p.Tag(ctx, root, prov)
}

// pushOnce makes a descriptor that appears several times in one image (a
// config or layer shared by two platforms' manifests) be pushed once: two
// concurrent uploads of one digest can leave a registry (docker-registry's
// filesystem driver among them) briefly without the blob, failing the
// manifest that names it.
type pushOnce struct {
	mu   sync.Mutex
	done map[digest.Digest]*pushCall
}

type pushCall struct {
	wg  sync.WaitGroup
	err error
}

func (o *pushOnce) do(d digest.Digest, fn func() error) error {
	o.mu.Lock()
	if c, ok := o.done[d]; ok {
		o.mu.Unlock()
		c.wg.Wait()
		return c.err
	}
	c := &pushCall{}
	c.wg.Add(1)
	o.done[d] = c
	o.mu.Unlock()
	c.err = fn()
	c.wg.Done()
	return c.err
}

func pushTree(ctx context.Context, p Pusher, desc ocispec.Descriptor, prov content.Provider, concurrency, depth int, once *pushOnce) error {
	if depth > 8 {
		return fmt.Errorf("push %s: indexes nested deeper than 8: %w", desc.Digest, errdefs.ErrInvalidArgument)
	}
	if !IsManifestType(desc.MediaType) && !IsIndexType(desc.MediaType) {
		return once.do(desc.Digest, func() error { return p.Push(ctx, desc, prov) })
	}
	b, err := content.ReadBlob(ctx, prov, desc)
	if err != nil {
		return fmt.Errorf("push %s: %w", desc.Digest, err)
	}
	kids, err := Children(b, desc.MediaType)
	if err != nil {
		return fmt.Errorf("push %s: %w", desc.Digest, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for _, k := range kids {
		g.Go(func() error { return pushTree(gctx, p, k, prov, concurrency, depth+1, once) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if depth == 0 {
		return nil // the root is pushed by the caller (tag or digest)
	}
	return once.do(desc.Digest, func() error { return p.Push(ctx, desc, prov) })
}
