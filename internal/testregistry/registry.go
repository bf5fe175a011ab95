package testregistry

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// AuthMode is how the registry authenticates.
type AuthMode int

const (
	AuthNone   AuthMode = iota
	AuthBasic           // HTTP basic on every request
	AuthBearer          // bearer tokens from this server's /token realm
)

// Options shape a registry.
type Options struct {
	Auth     AuthMode
	User     string // credentials accepted (basic, and by the token server)
	Password string
	// AnonymousPull lets the token server give pull-only tokens without
	// credentials (as public registries do).
	AnonymousPull bool
	// TokenTTL is the expires_in of tokens (default 300s).
	TokenTTL time.Duration
	// RedirectBlobs answers blob GETs with a 307 to a second server (another
	// host:port), which records whether Authorization reached it.
	RedirectBlobs bool
	// IgnoreRange serves whole blobs (200) even to Range requests.
	IgnoreRange bool
	// NoHEADDigest omits Docker-Content-Digest from manifest HEAD answers.
	NoHEADDigest bool
	// TagPageSize paginates tag lists (with a Link header) even when the
	// client asks for no page size.
	TagPageSize int
}

// Request is one request as the registry saw it.
type Request struct {
	Method        string
	Path          string
	Query         string
	Authorization string
	Range         string
	Status        int
}

// Registry is a running in-process registry.
type Registry struct {
	Host string // 127.0.0.1:port
	URL  string // http://Host

	opts    Options
	srv     *httptest.Server
	blobSrv *httptest.Server
	closing chan struct{}
	once    sync.Once

	mu       sync.Mutex
	repos    map[string]*repo
	blobs    map[digest.Digest][]byte
	uploads  map[string]*upload
	tokens   map[string]token
	faults   []*Fault
	requests []Request
	blobAuth []string // Authorization headers seen by the redirect target
}

type repo struct {
	manifests map[digest.Digest]manifest
	tags      map[string]digest.Digest
	blobs     map[digest.Digest]bool
}

type manifest struct {
	mediaType string
	data      []byte
}

type upload struct {
	repo string
	data []byte
}

type token struct {
	scopes  map[string]string // repository → "pull" or "pull,push"
	expires time.Time
}

// New starts a registry; it is closed when the test ends.
func New(t testing.TB, opts Options) *Registry {
	r := Start(opts)
	t.Cleanup(r.Close)
	return r
}

// Start starts a registry; the caller must Close it.
func Start(opts Options) *Registry {
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 300 * time.Second
	}
	r := &Registry{
		opts: opts, closing: make(chan struct{}),
		repos: map[string]*repo{}, blobs: map[digest.Digest][]byte{}, uploads: map[string]*upload{}, tokens: map[string]token{},
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.srv.URL
	r.Host = strings.TrimPrefix(r.srv.URL, "http://")
	if opts.RedirectBlobs {
		r.blobSrv = httptest.NewServer(http.HandlerFunc(r.serveRedirected))
	}
	return r
}

// Close stops the registry; hanging requests are released.
func (r *Registry) Close() {
	r.once.Do(func() {
		close(r.closing)
		r.srv.CloseClientConnections()
		r.srv.Close()
		if r.blobSrv != nil {
			r.blobSrv.CloseClientConnections()
			r.blobSrv.Close()
		}
	})
}

// BlobHost is host:port of the redirect target ("" without RedirectBlobs).
func (r *Registry) BlobHost() string {
	if r.blobSrv == nil {
		return ""
	}
	return strings.TrimPrefix(r.blobSrv.URL, "http://")
}

// RedirectedAuthorizations lists the Authorization headers the redirect
// target received (empty strings for requests without one).
func (r *Registry) RedirectedAuthorizations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.blobAuth...)
}

// Requests returns every request served so far, in order.
func (r *Registry) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// CountRequests counts requests with method (any if "") whose path contains substr.
func (r *Registry) CountRequests(method, substr string) int {
	n := 0
	for _, q := range r.Requests() {
		if (method == "" || q.Method == method) && strings.Contains(q.Path, substr) {
			n++
		}
	}
	return n
}

func (r *Registry) repo(name string) *repo {
	rp, ok := r.repos[name]
	if !ok {
		rp = &repo{manifests: map[digest.Digest]manifest{}, tags: map[string]digest.Digest{}, blobs: map[digest.Digest]bool{}}
		r.repos[name] = rp
	}
	return rp
}

// PutBlob stores a blob in repository name and returns its digest.
func (r *Registry) PutBlob(name string, b []byte) digest.Digest {
	d := digest.FromBytes(b)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.blobs[d] = append([]byte(nil), b...)
	r.repo(name).blobs[d] = true
	return d
}

// PutManifest stores a manifest (any bytes, any media type: tests use it to
// serve malformed or schema 1 manifests) under its digest and, if tag is not
// empty, the tag.
func (r *Registry) PutManifest(name, tag, mediaType string, b []byte) ocispec.Descriptor {
	d := digest.FromBytes(b)
	r.mu.Lock()
	defer r.mu.Unlock()
	rp := r.repo(name)
	rp.manifests[d] = manifest{mediaType: mediaType, data: append([]byte(nil), b...)}
	if tag != "" {
		rp.tags[tag] = d
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

// Seed stores every blob of an image (manifests by media type from descs)
// in repository name and tags root.
func (r *Registry) Seed(name, tag string, blobs map[digest.Digest][]byte, root ocispec.Descriptor, manifests ...ocispec.Descriptor) {
	isManifest := map[digest.Digest]string{root.Digest: root.MediaType}
	for _, m := range manifests {
		isManifest[m.Digest] = m.MediaType
	}
	for d, b := range blobs {
		if mt, ok := isManifest[d]; ok {
			r.PutManifest(name, "", mt, b)
		} else {
			r.PutBlob(name, b)
		}
	}
	r.PutManifest(name, tag, root.MediaType, blobs[root.Digest])
}

// HasBlob reports whether repository name links blob d.
func (r *Registry) HasBlob(name string, d digest.Digest) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rp, ok := r.repos[name]
	return ok && rp.blobs[d]
}

// Manifest returns the manifest tag (or digest) names in repository name.
func (r *Registry) Manifest(name, ref string) (mediaType string, data []byte, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rp, found := r.repos[name]
	if !found {
		return "", nil, false
	}
	d, err := digest.Parse(ref)
	if err != nil {
		if d, found = rp.tags[ref]; !found {
			return "", nil, false
		}
	}
	m, found := rp.manifests[d]
	return m.mediaType, m.data, found
}

var (
	reManifest = regexp.MustCompile(`^/v2/(.+)/manifests/([^/]+)$`)
	reUpload   = regexp.MustCompile(`^/v2/(.+)/blobs/uploads/([^/]*)$`)
	reBlob     = regexp.MustCompile(`^/v2/(.+)/blobs/([^/]+)$`)
	reTags     = regexp.MustCompile(`^/v2/(.+)/tags/list$`)
)

// errorBody writes a distribution-spec error answer.
func errorBody(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{"code": code, "message": msg}}})
}

// statusRecorder remembers the status for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *Registry) serve(w http.ResponseWriter, req *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	logged := Request{Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery,
		Authorization: req.Header.Get("Authorization"), Range: req.Header.Get("Range")}
	defer func() {
		logged.Status = rec.status
		r.mu.Lock()
		r.requests = append(r.requests, logged)
		r.mu.Unlock()
	}()
	if req.URL.Path == "/token" {
		r.serveToken(rec, req)
		return
	}
	var ww http.ResponseWriter = rec
	if f := r.matchFault(req); f != nil {
		var done bool
		ww, done = r.applyFault(f, rec, req)
		if done {
			return
		}
	}
	r.route(ww, req)
}

func (r *Registry) route(w http.ResponseWriter, req *http.Request) {
	p := req.URL.Path
	if p == "/v2/" || p == "/v2" {
		if !r.authorize(w, req, "", "") {
			return
		}
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
		return
	}
	if m := reTags.FindStringSubmatch(p); m != nil {
		if !r.authorize(w, req, m[1], "pull") {
			return
		}
		r.serveTags(w, req, m[1])
		return
	}
	if m := reManifest.FindStringSubmatch(p); m != nil {
		action := "pull"
		if req.Method == http.MethodPut || req.Method == http.MethodDelete {
			action = "push"
		}
		if !r.authorize(w, req, m[1], action) {
			return
		}
		r.serveManifest(w, req, m[1], m[2])
		return
	}
	if m := reUpload.FindStringSubmatch(p); m != nil {
		if !r.authorize(w, req, m[1], "push") {
			return
		}
		if from := req.URL.Query().Get("from"); from != "" && !r.authorize(nil, req, from, "pull") {
			// Mount source not readable: a plain upload starts instead.
			q := req.URL.Query()
			q.Del("mount")
			req.URL.RawQuery = q.Encode()
		}
		r.serveUpload(w, req, m[1], m[2])
		return
	}
	if m := reBlob.FindStringSubmatch(p); m != nil {
		if !r.authorize(w, req, m[1], "pull") {
			return
		}
		r.serveBlob(w, req, m[1], m[2])
		return
	}
	errorBody(w, http.StatusNotFound, "NOT_FOUND", "no route for "+p)
}

func (r *Registry) serveTags(w http.ResponseWriter, req *http.Request, name string) {
	r.mu.Lock()
	rp, ok := r.repos[name]
	var tags []string
	if ok {
		for t := range rp.tags {
			tags = append(tags, t)
		}
	}
	r.mu.Unlock()
	if !ok {
		errorBody(w, http.StatusNotFound, "NAME_UNKNOWN", "repository "+name+" not known")
		return
	}
	sort.Strings(tags)
	// Pagination as the distribution spec has it: n per page, after last.
	if last := req.URL.Query().Get("last"); last != "" {
		i := sort.SearchStrings(tags, last)
		if i < len(tags) && tags[i] == last {
			i++
		}
		tags = tags[i:]
	}
	if n, err := strconv.Atoi(req.URL.Query().Get("n")); err == nil && n > 0 && n < len(tags) {
		tags = tags[:n]
		w.Header().Set("Link", fmt.Sprintf(`</v2/%s/tags/list?n=%d&last=%s>; rel="next"`, name, n, tags[n-1]))
	} else if r.opts.TagPageSize > 0 && r.opts.TagPageSize < len(tags) {
		tags = tags[:r.opts.TagPageSize]
		w.Header().Set("Link", fmt.Sprintf(`</v2/%s/tags/list?n=%d&last=%s>; rel="next"`, name, r.opts.TagPageSize, tags[len(tags)-1]))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"name": name, "tags": tags})
}

func (r *Registry) serveManifest(w http.ResponseWriter, req *http.Request, name, ref string) {
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		mt, data, ok := r.Manifest(name, ref)
		if !ok {
			errorBody(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown: "+name+":"+ref)
			return
		}
		if mt != "" {
			w.Header().Set("Content-Type", mt)
		}
		if !(req.Method == http.MethodHead && r.opts.NoHEADDigest) {
			w.Header().Set("Docker-Content-Digest", digest.FromBytes(data).String())
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		if req.Method == http.MethodGet {
			_, _ = w.Write(data)
		}
	case http.MethodPut:
		body, err := io.ReadAll(io.LimitReader(req.Body, 8<<20))
		if err != nil {
			errorBody(w, http.StatusBadRequest, "MANIFEST_INVALID", err.Error())
			return
		}
		d := digest.FromBytes(body)
		tag := ""
		if want, err := digest.Parse(ref); err == nil {
			if want != d {
				errorBody(w, http.StatusBadRequest, "DIGEST_INVALID", "manifest digest "+d.String()+" does not match "+ref)
				return
			}
		} else {
			tag = ref
		}
		if !json.Valid(body) {
			errorBody(w, http.StatusBadRequest, "MANIFEST_INVALID", "not JSON")
			return
		}
		r.PutManifest(name, tag, req.Header.Get("Content-Type"), body)
		w.Header().Set("Docker-Content-Digest", d.String())
		w.Header().Set("Location", "/v2/"+name+"/manifests/"+d.String())
		w.WriteHeader(http.StatusCreated)
	default:
		errorBody(w, http.StatusMethodNotAllowed, "UNSUPPORTED", req.Method)
	}
}

func (r *Registry) blob(name, ref string) ([]byte, digest.Digest, bool) {
	d, err := digest.Parse(ref)
	if err != nil {
		return nil, "", false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rp, ok := r.repos[name]
	if !ok || !rp.blobs[d] {
		return nil, d, false
	}
	return r.blobs[d], d, true
}

func (r *Registry) serveBlob(w http.ResponseWriter, req *http.Request, name, ref string) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		errorBody(w, http.StatusMethodNotAllowed, "UNSUPPORTED", req.Method)
		return
	}
	data, d, ok := r.blob(name, ref)
	if !ok {
		errorBody(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown: "+ref)
		return
	}
	if r.opts.RedirectBlobs && req.Method == http.MethodGet {
		http.Redirect(w, req, r.blobSrv.URL+"/blobs/"+d.String(), http.StatusTemporaryRedirect)
		return
	}
	r.writeBlob(w, req, data, d)
}

func (r *Registry) writeBlob(w http.ResponseWriter, req *http.Request, data []byte, d digest.Digest) {
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Content-Type", "application/octet-stream")
	if r.opts.IgnoreRange {
		req.Header.Del("Range")
	}
	http.ServeContent(w, req, "", time.Time{}, strings.NewReader(string(data)))
}

func (r *Registry) serveRedirected(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.blobAuth = append(r.blobAuth, req.Header.Get("Authorization"))
	r.mu.Unlock()
	d, err := digest.Parse(strings.TrimPrefix(req.URL.Path, "/blobs/"))
	if err != nil {
		http.NotFound(w, req)
		return
	}
	r.mu.Lock()
	data, ok := r.blobs[d]
	r.mu.Unlock()
	if !ok {
		http.NotFound(w, req)
		return
	}
	r.writeBlob(w, req, data, d)
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *Registry) serveUpload(w http.ResponseWriter, req *http.Request, name, id string) {
	q := req.URL.Query()
	switch {
	case req.Method == http.MethodPost && id == "":
		if mount := q.Get("mount"); mount != "" {
			if _, d, ok := r.blob(q.Get("from"), mount); ok {
				r.mu.Lock()
				r.repo(name).blobs[d] = true
				r.mu.Unlock()
				w.Header().Set("Location", "/v2/"+name+"/blobs/"+d.String())
				w.Header().Set("Docker-Content-Digest", d.String())
				w.WriteHeader(http.StatusCreated)
				return
			}
		}
		body, _ := io.ReadAll(req.Body)
		if dg := q.Get("digest"); dg != "" {
			r.finishUpload(w, name, dg, body)
			return
		}
		id = newID()
		r.mu.Lock()
		r.uploads[id] = &upload{repo: name, data: body}
		r.mu.Unlock()
		w.Header().Set("Location", "/v2/"+name+"/blobs/uploads/"+id+"?_state=x")
		w.Header().Set("Docker-Upload-UUID", id)
		w.Header().Set("Range", "0-0")
		w.WriteHeader(http.StatusAccepted)
	case req.Method == http.MethodPatch || req.Method == http.MethodPut:
		r.mu.Lock()
		up, ok := r.uploads[id]
		r.mu.Unlock()
		if !ok || up.repo != name {
			errorBody(w, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "upload "+id+" unknown")
			return
		}
		if cr := req.Header.Get("Content-Range"); cr != "" && req.Method == http.MethodPatch {
			start, _, _ := strings.Cut(cr, "-")
			if s, err := strconv.Atoi(start); err != nil || s != len(up.data) {
				w.Header().Set("Range", fmt.Sprintf("0-%d", len(up.data)-1))
				errorBody(w, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID", "chunk out of order: "+cr)
				return
			}
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			errorBody(w, http.StatusBadRequest, "BLOB_UPLOAD_INVALID", err.Error())
			return
		}
		r.mu.Lock()
		up.data = append(up.data, body...)
		n := len(up.data)
		r.mu.Unlock()
		if req.Method == http.MethodPatch {
			w.Header().Set("Location", "/v2/"+name+"/blobs/uploads/"+id)
			w.Header().Set("Range", fmt.Sprintf("0-%d", n-1))
			w.WriteHeader(http.StatusAccepted)
			return
		}
		r.mu.Lock()
		delete(r.uploads, id)
		r.mu.Unlock()
		r.finishUpload(w, name, q.Get("digest"), up.data)
	default:
		errorBody(w, http.StatusMethodNotAllowed, "UNSUPPORTED", req.Method)
	}
}

func (r *Registry) finishUpload(w http.ResponseWriter, name, dg string, data []byte) {
	want, err := digest.Parse(dg)
	if err != nil {
		errorBody(w, http.StatusBadRequest, "DIGEST_INVALID", "digest "+dg+": "+err.Error())
		return
	}
	if got := want.Algorithm().FromBytes(data); got != want {
		errorBody(w, http.StatusBadRequest, "DIGEST_INVALID", "uploaded content has digest "+got.String())
		return
	}
	r.mu.Lock()
	r.blobs[want] = data
	r.repo(name).blobs[want] = true
	r.mu.Unlock()
	w.Header().Set("Location", "/v2/"+name+"/blobs/"+want.String())
	w.Header().Set("Docker-Content-Digest", want.String())
	w.WriteHeader(http.StatusCreated)
}
