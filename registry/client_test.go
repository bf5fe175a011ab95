package registry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/testimage"
	"github.com/berth-containers/berth/internal/testregistry"
	"github.com/berth-containers/berth/registry"
	"github.com/berth-containers/berth/registry/auth"
	"github.com/berth-containers/berth/registry/hosts"
)

// fast are resolver options for tests: short waits everywhere.
func fast(o registry.Options) registry.Options {
	if o.Backoff == 0 {
		o.Backoff = time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 20 * time.Millisecond
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 2 * time.Second
	}
	return o
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func busybox(t *testing.T, o testimage.Options) *testimage.Image {
	t.Helper()
	img, err := testimage.Busybox(o)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func small(t *testing.T, seed uint64, o testimage.Options) *testimage.Image {
	t.Helper()
	img, err := testimage.Generated(seed, 2, 200<<10, o)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func fetchAll(t *testing.T, f registry.Fetcher, desc ocispec.Descriptor) ([]byte, error) {
	t.Helper()
	rc, err := f.Fetch(ctxT(t), desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestRoundTripBearer(t *testing.T) {
	t.Parallel()
	reg := testregistry.New(t, testregistry.Options{Auth: testregistry.AuthBearer, User: "u", Password: "p"})
	creds := auth.Static{reg.Host: {Username: "u", Password: "p"}}
	for _, o := range []testimage.Options{
		{},
		{Docker: true},
		{Compression: testimage.Zstd, Platforms: []testimage.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}}},
		{Compression: testimage.Uncompressed, Index: true},
	} {
		img := small(t, 1, o)
		ref := reg.Host + "/rt/" + strings.ToLower(img.Root.Digest.Encoded()[:8]) + ":v1"
		for _, chunk := range []int64{0, 4096} {
			r := registry.NewResolver(fast(registry.Options{Credentials: creds, ChunkSize: chunk}))
			if err := img.PushTo(ctxT(t), r, ref); err != nil {
				t.Fatalf("push %v: %v", o, err)
			}
		}
		r := registry.NewResolver(fast(registry.Options{Credentials: creds}))
		pullBack(t, r, ref, img)
	}
	// A pull needs one token per scope, not one per request.
	if n := reg.TokenRequests(); n > 20 {
		t.Errorf("%d token requests: tokens are not cached", n)
	}
}

func TestResolveWithoutHEADDigestUsesGET(t *testing.T) {
	t.Parallel()
	reg := testregistry.New(t, testregistry.Options{NoHEADDigest: true})
	img := busybox(t, testimage.Options{})
	reg.Seed("bb", "latest", img.Blobs, img.Root)
	r := registry.NewResolver(fast(registry.Options{}))
	name, desc, err := r.Resolve(ctxT(t), reg.Host+"/bb")
	if err != nil {
		t.Fatal(err)
	}
	if name != reg.Host+"/bb:latest" || desc.Digest != img.Root.Digest || desc.MediaType != ocispec.MediaTypeImageManifest {
		t.Fatalf("got %s %+v", name, desc)
	}
	if reg.CountRequests(http.MethodGet, "/manifests/latest") != 1 {
		t.Fatalf("expected a GET after a HEAD without digest: %+v", reg.Requests())
	}
	// By digest too, and a digest the registry does not have.
	if _, _, err := r.Resolve(ctxT(t), reg.Host+"/bb@"+img.Root.Digest.String()); err != nil {
		t.Fatal(err)
	}
	_, _, err = r.Resolve(ctxT(t), reg.Host+"/bb@"+digest.FromString("x").String())
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "/bb@sha256:") {
		t.Fatalf("missing digest: %v", err)
	}
}

func TestStatusErrors(t *testing.T) {
	t.Parallel()
	reg := testregistry.New(t, testregistry.Options{})
	img := busybox(t, testimage.Options{})
	reg.Seed("bb", "latest", img.Blobs, img.Root)
	r := registry.NewResolver(fast(registry.Options{Retries: 2}))
	ref := reg.Host + "/bb:latest"

	_, _, err := r.Resolve(ctxT(t), reg.Host+"/nothing:here")
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), reg.Host+"/nothing:here") {
		t.Fatalf("404: %v", err)
	}

	reg.AddFault(&testregistry.Fault{Path: "/manifests/", Status: http.StatusForbidden, Times: 1})
	_, _, err = r.Resolve(ctxT(t), ref)
	if !errors.Is(err, registry.ErrDenied) || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("403: %v", err)
	}

	reg.AddFault(&testregistry.Fault{Path: "/manifests/", Status: http.StatusUnauthorized, Times: 1})
	_, _, err = r.Resolve(ctxT(t), ref)
	if !errors.Is(err, auth.ErrUnauthorized) {
		t.Fatalf("401 without challenge: %v", err)
	}

	// 429 twice, then served: retried, Retry-After honoured.
	f := reg.AddFault(&testregistry.Fault{Path: "/manifests/", Status: http.StatusTooManyRequests, RetryAfter: "0", Times: 2})
	if _, _, err := r.Resolve(ctxT(t), ref); err != nil {
		t.Fatalf("429 then ok: %v", err)
	}
	if f.Hits(reg) != 2 {
		t.Fatalf("429 fault hit %d times", f.Hits(reg))
	}
	// 429 for ever: unavailable, "too many requests".
	reg.AddFault(&testregistry.Fault{Path: "/manifests/", Status: http.StatusTooManyRequests, Times: 3})
	_, _, err = r.Resolve(ctxT(t), ref)
	if !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), "too many requests") {
		t.Fatalf("429 always: %v", err)
	}
	// 500 once, then served; 500 always: unavailable with the registry's message.
	reg.AddFault(&testregistry.Fault{Path: "/blobs/", Status: http.StatusInternalServerError, Times: 1})
	fe, _ := r.Fetcher(ctxT(t), ref)
	if _, err := fetchAll(t, fe, img.Config); err != nil {
		t.Fatalf("500 then ok: %v", err)
	}
	reg.AddFault(&testregistry.Fault{Path: "/blobs/", Status: http.StatusInternalServerError, Times: 3,
		Body: `{"errors":[{"code":"UNKNOWN","message":"disk on fire"}]}`})
	_, err = fetchAll(t, fe, img.Config)
	if !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("500 always: %v", err)
	}
}

func TestRetryAfterBounded(t *testing.T) {
	t.Parallel()
	reg := testregistry.New(t, testregistry.Options{})
	img := busybox(t, testimage.Options{})
	reg.Seed("bb", "latest", img.Blobs, img.Root)
	reg.AddFault(&testregistry.Fault{Path: "/manifests/", Status: http.StatusServiceUnavailable, RetryAfter: "3600", Times: 1})
	r := registry.NewResolver(fast(registry.Options{MaxBackoff: 50 * time.Millisecond}))
	start := time.Now()
	if _, _, err := r.Resolve(ctxT(t), reg.Host+"/bb"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Retry-After of an hour waited %s; MaxBackoff must bound it", d)
	}
}

func TestResumeAfterCut(t *testing.T) {
	t.Parallel()
	for _, ignoreRange := range []bool{false, true} {
		reg := testregistry.New(t, testregistry.Options{IgnoreRange: ignoreRange})
		img := small(t, 3, testimage.Options{Compression: testimage.Uncompressed})
		reg.Seed("g", "latest", img.Blobs, img.Root)
		layer := img.Layers[0].Desc
		f := reg.AddFault(&testregistry.Fault{Path: "/blobs/" + layer.Digest.String(), Cut: true, CutAfter: 10000, Times: 2})
		r := registry.NewResolver(fast(registry.Options{}))
		fe, _ := r.Fetcher(ctxT(t), reg.Host+"/g")
		got, err := fetchAll(t, fe, layer)
		if err != nil {
			t.Fatalf("ignoreRange=%v: %v", ignoreRange, err)
		}
		if !bytes.Equal(got, img.Blobs[layer.Digest]) || f.Hits(reg) != 2 {
			t.Fatalf("ignoreRange=%v: wrong content or fault hits %d", ignoreRange, f.Hits(reg))
		}
		ranges := 0
		for _, q := range reg.Requests() {
			if q.Range != "" {
				ranges++
			}
		}
		// Each retry after a cut resumes with Range from what arrived; when the
		// reset discards everything in flight, the retry starts over without it.
		if ranges > 2 {
			t.Fatalf("ignoreRange=%v: %d Range requests, want at most 2", ignoreRange, ranges)
		}
		// FetchFrom resumes an interrupted ingest.
		rc, err := fe.FetchFrom(ctxT(t), layer, 12345)
		if err != nil {
			t.Fatal(err)
		}
		tail, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(tail, img.Blobs[layer.Digest][12345:]) {
			t.Fatalf("FetchFrom: %v", err)
		}
	}
	// Cut every time: the error says so after the retries.
	reg := testregistry.New(t, testregistry.Options{})
	img := small(t, 3, testimage.Options{Compression: testimage.Uncompressed})
	reg.Seed("g", "latest", img.Blobs, img.Root)
	reg.AddFault(&testregistry.Fault{Path: "/blobs/", Cut: true, CutAfter: 100})
	r := registry.NewResolver(fast(registry.Options{Retries: 2}))
	fe, _ := r.Fetcher(ctxT(t), reg.Host+"/g")
	if _, err := fetchAll(t, fe, img.Layers[0].Desc); !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), "connection lost") {
		t.Fatalf("cut always: %v", err)
	}
}

func TestHangingRegistryTimesOut(t *testing.T) {
	t.Parallel()
	reg := testregistry.New(t, testregistry.Options{})
	img := small(t, 4, testimage.Options{Compression: testimage.Uncompressed})
	reg.Seed("g", "latest", img.Blobs, img.Root)
	r := registry.NewResolver(fast(registry.Options{IdleTimeout: 200 * time.Millisecond, Retries: 1}))

	reg.AddFault(&testregistry.Fault{Path: "/manifests/", Hang: true, Times: 1})
	start := time.Now()
	_, _, err := r.Resolve(ctxT(t), reg.Host+"/g")
	if !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), "no answer within") {
		t.Fatalf("hang: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("hang detected after %s", d)
	}

	reg.AddFault(&testregistry.Fault{Path: "/blobs/", HangBody: true, HangAfter: 5000})
	fe, _ := r.Fetcher(ctxT(t), reg.Host+"/g")
	start = time.Now()
	_, err = fetchAll(t, fe, img.Layers[0].Desc)
	if !errdefs.IsUnavailable(err) {
		t.Fatalf("body hang: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("body hang detected after %s", d)
	}
	// A slow but moving body is not a hang.
	reg.ClearFaults()
	reg.AddFault(&testregistry.Fault{Path: "/blobs/", BytesPerSecond: 400 << 10})
	patient := registry.NewResolver(fast(registry.Options{IdleTimeout: 5 * time.Second, Retries: -1}))
	fe, _ = patient.Fetcher(ctxT(t), reg.Host+"/g")
	if _, err := fetchAll(t, fe, img.Layers[0].Desc); err != nil {
		t.Fatalf("slow body: %v", err)
	}
}

func TestRedirectDoesNotLeakAuthorization(t *testing.T) {
	t.Parallel()
	reg := testregistry.New(t, testregistry.Options{Auth: testregistry.AuthBearer, User: "u", Password: "p", RedirectBlobs: true})
	img := busybox(t, testimage.Options{})
	reg.Seed("bb", "latest", img.Blobs, img.Root)
	r := registry.NewResolver(fast(registry.Options{Credentials: auth.Static{reg.Host: {Username: "u", Password: "p"}}}))
	pullBack(t, r, reg.Host+"/bb", img)
	seen := reg.RedirectedAuthorizations()
	if len(seen) == 0 {
		t.Fatal("no request reached the redirect target")
	}
	for _, a := range seen {
		if a != "" {
			t.Fatalf("Authorization %q reached %s", a, reg.BlobHost())
		}
	}
}

func TestDigestMismatch(t *testing.T) {
	t.Parallel()
	reg := testregistry.New(t, testregistry.Options{})
	img := busybox(t, testimage.Options{})
	reg.Seed("bb", "latest", img.Blobs, img.Root)
	r := registry.NewResolver(fast(registry.Options{}))
	fe, _ := r.Fetcher(ctxT(t), reg.Host+"/bb")

	reg.AddFault(&testregistry.Fault{Path: "/blobs/", Corrupt: true, Times: 1})
	if _, err := fetchAll(t, fe, img.Layers[0].Desc); !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "digest") {
		t.Fatalf("corrupt blob: %v", err)
	}
	reg.AddFault(&testregistry.Fault{Method: http.MethodGet, Path: "/manifests/", Corrupt: true, Times: 1})
	if _, err := fetchAll(t, fe, img.Root); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("corrupt manifest: %v", err)
	}
	reg.AddFault(&testregistry.Fault{Method: http.MethodGet, Path: "/manifests/", Header: map[string]string{"Docker-Content-Digest": digest.FromString("other").String()}, Times: 1})
	if _, err := fetchAll(t, fe, img.Root); !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "says") {
		t.Fatalf("wrong Docker-Content-Digest: %v", err)
	}
	// A descriptor smaller than the blob: refused, not read past.
	short := img.Layers[0].Desc
	short.Size -= 10
	if _, err := fetchAll(t, fe, short); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("short descriptor: %v", err)
	}
	// Resolving a digest reference whose content differs.
	other := digest.FromString("nope")
	reg.PutManifest("bb", "", ocispec.MediaTypeImageManifest, img.Blobs[img.Root.Digest])
	if _, _, err := r.Resolve(ctxT(t), reg.Host+"/bb@"+other.String()); err == nil {
		t.Fatal("resolved a digest the registry lacks")
	}
}

func TestSchema1AndMalformedManifests(t *testing.T) {
	t.Parallel()
	reg := testregistry.New(t, testregistry.Options{})
	r := registry.NewResolver(fast(registry.Options{}))
	s1 := []byte(`{"schemaVersion":1,"name":"x","tag":"v1","fsLayers":[]}`)
	reg.PutManifest("old", "v1", registry.MediaTypeDockerSchema1Signed, s1)
	reg.PutManifest("old", "v2", "application/json", s1)
	for _, tag := range []string{"v1", "v2"} {
		_, _, err := r.Resolve(ctxT(t), reg.Host+"/old:"+tag)
		if !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "unsupported") {
			t.Fatalf("schema1 %s: %v", tag, err)
		}
	}
	reg.PutManifest("odd", "v1", "application/vnd.example.thing+json", []byte(`{"schemaVersion":2}`))
	if _, _, err := r.Resolve(ctxT(t), reg.Host+"/odd:v1"); !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "vnd.example.thing") {
		t.Fatalf("unsupported media type: %v", err)
	}
	bad := reg.PutManifest("bad", "v1", ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"config":{"digest":"nope"`))
	_, desc, err := r.Resolve(ctxT(t), reg.Host+"/bad:v1")
	if err != nil {
		// HEAD answers are enough to resolve; the bytes are checked on fetch.
		t.Fatalf("resolve: %v", err)
	}
	fe, _ := r.Fetcher(ctxT(t), reg.Host+"/bad:v1")
	if _, err := fetchAll(t, fe, desc); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "malformed") {
		t.Fatalf("malformed manifest: %v (%v)", err, bad)
	}
	wrong := reg.PutManifest("bad", "v2", ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:zz","size":1},"layers":[]}`))
	if _, err := fetchAll(t, fe, wrong); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "config.digest") {
		t.Fatalf("bad config digest: %v", err)
	}
}

func TestAnonymousAndIdentityToken(t *testing.T) {
	t.Parallel()
	reg := testregistry.New(t, testregistry.Options{Auth: testregistry.AuthBearer, User: "u", Password: "p", AnonymousPull: true})
	img := busybox(t, testimage.Options{})
	reg.Seed("pub", "latest", img.Blobs, img.Root)
	anon := registry.NewResolver(fast(registry.Options{}))
	pullBack(t, anon, reg.Host+"/pub", img)
	if err := img.PushTo(ctxT(t), anon, reg.Host+"/pub:other"); !errors.Is(err, auth.ErrUnauthorized) {
		t.Fatalf("anonymous push: %v", err)
	}
	ident := registry.NewResolver(fast(registry.Options{Credentials: auth.Static{reg.Host: {IdentityToken: testregistry.IdentityToken}}}))
	if err := img.PushTo(ctxT(t), ident, reg.Host+"/pub:other"); err != nil {
		t.Fatalf("push with identity token: %v", err)
	}
	bad := registry.NewResolver(fast(registry.Options{Credentials: auth.Static{reg.Host: {Username: "u", Password: "x"}}}))
	if _, _, err := bad.Resolve(ctxT(t), reg.Host+"/pub"); !errors.Is(err, auth.ErrUnauthorized) || !strings.Contains(err.Error(), `"u"`) {
		t.Fatalf("wrong password: %v", err)
	}
	if err := registry.Login(ctxT(t), registry.Options{}, reg.Host, auth.Credentials{Username: "u", Password: "p"}); err != nil {
		t.Fatalf("login: %v", err)
	}
	if err := registry.Login(ctxT(t), registry.Options{}, reg.Host, auth.Credentials{Username: "u", Password: "x"}); !errors.Is(err, auth.ErrUnauthorized) {
		t.Fatalf("login with a wrong password: %v", err)
	}
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	reg := testregistry.New(t, testregistry.Options{Auth: testregistry.AuthBasic, User: "u", Password: "p"})
	img := busybox(t, testimage.Options{})
	r := registry.NewResolver(fast(registry.Options{Credentials: auth.Static{reg.Host: {Username: "u", Password: "p"}}}))
	if err := img.PushTo(ctxT(t), r, reg.Host+"/b/bb:1"); err != nil {
		t.Fatal(err)
	}
	pullBack(t, r, reg.Host+"/b/bb:1", img)
	anon := registry.NewResolver(fast(registry.Options{}))
	if _, _, err := anon.Resolve(ctxT(t), reg.Host+"/b/bb:1"); !errors.Is(err, auth.ErrUnauthorized) || !strings.Contains(err.Error(), "berth login") {
		t.Fatalf("anonymous: %v", err)
	}
}

func TestCrossRepositoryMount(t *testing.T) {
	t.Parallel()
	reg := testregistry.New(t, testregistry.Options{Auth: testregistry.AuthBearer, User: "u", Password: "p"})
	img := busybox(t, testimage.Options{})
	r := registry.NewResolver(fast(registry.Options{Credentials: auth.Static{reg.Host: {Username: "u", Password: "p"}}}))
	if err := img.PushTo(ctxT(t), r, reg.Host+"/src/bb:1"); err != nil {
		t.Fatal(err)
	}
	p, err := r.Pusher(ctxT(t), reg.Host+"/dst/bb:1")
	if err != nil {
		t.Fatal(err)
	}
	layer := img.Layers[0].Desc
	key, val := registry.SourceLabel(mustParse(t, reg.Host+"/src/bb:1"), "elsewhere/x")
	layer.Annotations = map[string]string{key: val}
	before := reg.CountRequests(http.MethodPut, "/dst/bb/blobs/uploads/")
	if err := p.Push(ctxT(t), layer, img.Provider()); err != nil {
		t.Fatal(err)
	}
	if !reg.HasBlob("dst/bb", layer.Digest) {
		t.Fatal("blob not in dst after mount")
	}
	if reg.CountRequests(http.MethodPut, "/dst/bb/blobs/uploads/") != before || reg.CountRequests(http.MethodPost, "/dst/bb/blobs/uploads/") != 1 {
		t.Fatalf("mount uploaded the blob: %+v", reg.Requests())
	}
	// Present already: only a HEAD.
	posts := reg.CountRequests(http.MethodPost, "")
	if err := p.Push(ctxT(t), layer, img.Provider()); err != nil || reg.CountRequests(http.MethodPost, "") != posts {
		t.Fatalf("second push: %v", err)
	}
}

func TestMirrorsThenUpstream(t *testing.T) {
	t.Parallel()
	up := testregistry.New(t, testregistry.Options{})
	mirror := testregistry.New(t, testregistry.Options{})
	img := busybox(t, testimage.Options{})
	up.Seed("lib/bb", "latest", img.Blobs, img.Root)
	cfg := hosts.Config{Mirrors: map[string][]string{up.Host: {"http://" + mirror.Host}}}
	r := registry.NewResolver(fast(registry.Options{Hosts: cfg}))
	pullBack(t, r, up.Host+"/lib/bb", img)
	if mirror.CountRequests("", "/v2/lib/bb/manifests/latest") == 0 {
		t.Fatal("mirror not tried first")
	}
	for _, q := range mirror.Requests() {
		if v, _ := url.ParseQuery(q.Query); v.Get("ns") != up.Host {
			t.Fatalf("mirror request without ns=: %+v", q)
		}
	}
	// Once the mirror has it, the upstream is not asked.
	mirror.Seed("lib/bb", "latest", img.Blobs, img.Root)
	n := len(up.Requests())
	pullBack(t, r, up.Host+"/lib/bb", img)
	if len(up.Requests()) != n {
		t.Fatal("upstream asked although the mirror had everything")
	}
	// Pushes never go to a config mirror.
	if err := img.PushTo(ctxT(t), r, up.Host+"/lib/pushed:1"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := up.Manifest("lib/pushed", "1"); !ok {
		t.Fatal("push did not reach the upstream")
	}
}

func TestConcurrentFetches(t *testing.T) {
	t.Parallel()
	reg := testregistry.New(t, testregistry.Options{Auth: testregistry.AuthBearer, User: "u", Password: "p"})
	img, err := testimage.Generated(9, 8, 2<<20, testimage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg.Seed("many", "latest", img.Blobs, img.Root)
	r := registry.NewResolver(fast(registry.Options{Credentials: auth.Static{reg.Host: {Username: "u", Password: "p"}}}))
	fe, err := r.Fetcher(ctxT(t), reg.Host+"/many")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(img.Layers))
	for _, l := range img.Layers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := fetchAll(t, fe, l.Desc)
			if err == nil && !bytes.Equal(b, img.Blobs[l.Desc.Digest]) {
				err = errors.New("content differs")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := reg.TokenRequests(); n != 1 {
		t.Fatalf("%d token requests for one scope", n)
	}
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	reg := testregistry.New(t, testregistry.Options{})
	reg.AddFault(&testregistry.Fault{Hang: true})
	r := registry.NewResolver(fast(registry.Options{IdleTimeout: time.Minute}))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, _, err := r.Resolve(ctx, reg.Host+"/x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("canceled: %v", err)
	}
}

func TestTokensExpireAndRenew(t *testing.T) {
	t.Parallel()
	reg := testregistry.New(t, testregistry.Options{Auth: testregistry.AuthBearer, User: "u", Password: "p", TokenTTL: 2 * time.Second})
	img := busybox(t, testimage.Options{})
	reg.Seed("bb", "latest", img.Blobs, img.Root)
	r := registry.NewResolver(fast(registry.Options{Credentials: auth.Static{reg.Host: {Username: "u", Password: "p"}}}))
	if _, _, err := r.Resolve(ctxT(t), reg.Host+"/bb"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Resolve(ctxT(t), reg.Host+"/bb"); err != nil {
		t.Fatal(err)
	}
	if n := reg.TokenRequests(); n != 1 {
		t.Fatalf("%d token requests before expiry", n)
	}
	unauth := reg.CountRequests("", "/manifests/")
	time.Sleep(2100 * time.Millisecond)
	if _, _, err := r.Resolve(ctxT(t), reg.Host+"/bb"); err != nil {
		t.Fatal(err)
	}
	if n := reg.TokenRequests(); n != 2 {
		t.Fatalf("%d token requests after expiry, want 2", n)
	}
	// The renewed token was used up front: one manifest request, no 401.
	if got := reg.CountRequests("", "/manifests/") - unauth; got != 1 {
		t.Fatalf("%d manifest requests after renewal", got)
	}
}

func TestEndpointsForResolve(t *testing.T) {
	t.Parallel()
	eps, err := registry.Endpoints("busybox", hosts.Config{Mirrors: map[string][]string{"docker.io": {"https://mirror.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 2 || eps[0].URL() != "https://mirror.example/v2" || eps[1].URL() != "https://registry-1.docker.io/v2" {
		t.Fatalf("%v", eps)
	}
	if _, err := registry.Endpoints("Bad Ref", hosts.Config{}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad ref: %v", err)
	}
}

func TestPushRetriesFailedUploads(t *testing.T) {
	t.Parallel()
	reg := testregistry.New(t, testregistry.Options{})
	img := busybox(t, testimage.Options{})
	// The first PUT of each upload fails, a PATCH is cut: each blob upload is started again.
	f := reg.AddFault(&testregistry.Fault{Method: http.MethodPut, Path: "/blobs/uploads/", Status: http.StatusInternalServerError, Times: 1})
	c := reg.AddFault(&testregistry.Fault{Method: http.MethodPatch, Path: "/blobs/uploads/", Status: http.StatusBadGateway, Times: 1})
	r := registry.NewResolver(fast(registry.Options{ChunkSize: 64 << 10}))
	if err := img.PushTo(ctxT(t), r, reg.Host+"/retry/bb:1"); err != nil {
		t.Fatal(err)
	}
	if f.Hits(reg) != 1 || c.Hits(reg) != 1 {
		t.Fatalf("faults hit %d and %d times", f.Hits(reg), c.Hits(reg))
	}
	pullBack(t, r, reg.Host+"/retry/bb:1", img)
	// A registry that always fails: the error says so, after the retries.
	reg.AddFault(&testregistry.Fault{Method: http.MethodPost, Path: "/blobs/uploads/", Status: http.StatusServiceUnavailable})
	other := small(t, 11, testimage.Options{})
	err := other.PushTo(ctxT(t), registry.NewResolver(fast(registry.Options{Retries: 1})), reg.Host+"/retry/other:1")
	if !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("push to a failing registry: %v", err)
	}
}

func TestListTagsPaginated(t *testing.T) {
	t.Parallel()
	reg := testregistry.New(t, testregistry.Options{Auth: testregistry.AuthBearer, User: "u", Password: "p", TagPageSize: 2})
	for _, tag := range []string{"a", "b", "c", "d", "e"} {
		reg.PutManifest("lib/x", tag, ocispec.MediaTypeImageManifest, []byte(`{"t":"`+tag+`"}`))
	}
	r := registry.NewResolver(fast(registry.Options{Credentials: auth.Static{reg.Host: {Username: "u", Password: "p"}}}))
	tags, err := registry.ListTags(ctxT(t), r, reg.Host+"/lib/x:ignored")
	if err != nil || strings.Join(tags, ",") != "a,b,c,d,e" {
		t.Fatalf("%v %v", tags, err)
	}
	if _, err := registry.ListTags(ctxT(t), r, reg.Host+"/lib/none"); !errdefs.IsNotFound(err) {
		t.Fatalf("unknown repository: %v", err)
	}
}
