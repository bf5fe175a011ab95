package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/version"
	"github.com/berth-containers/berth/registry/auth"
	"github.com/berth-containers/berth/registry/hosts"
	"github.com/berth-containers/berth/registry/reference"
)

// Defaults of Options.
const (
	DefaultConcurrency = 8
	DefaultRetries     = 4
	DefaultBackoff     = 250 * time.Millisecond
	DefaultMaxBackoff  = 10 * time.Second
	DefaultIdleTimeout = 30 * time.Second
)

// ErrDenied is wrapped (with errdefs.ErrFailedPrecondition) by errors of
// requests the registry answered 403 Forbidden.
var ErrDenied = errors.New("denied")

// RegistryError is one entry of a registry's {"errors":[…]} answer.
type RegistryError struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

// StatusError is a registry answer with an unexpected status. It unwraps to
// the error kind of its status (404 not found, 401 auth.ErrUnauthorized,
// 403 ErrDenied, 429 and 5xx unavailable, other 4xx failed precondition).
type StatusError struct {
	Method     string
	URL        string
	StatusCode int
	Status     string
	Errors     []RegistryError
	Object     string // what was asked for, e.g. "manifest docker.io/library/busybox:latest"
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s: %s", e.Object, e.Method, e.URL, e.Status)
	switch e.StatusCode {
	case http.StatusNotFound:
		b.WriteString(" (not found)")
	case http.StatusUnauthorized:
		b.WriteString(" (unauthorized: credentials missing or refused)")
	case http.StatusForbidden:
		b.WriteString(" (denied: the credentials do not allow this)")
	case http.StatusTooManyRequests:
		b.WriteString(" (too many requests, retries exhausted)")
	}
	for _, re := range e.Errors {
		fmt.Fprintf(&b, "; %s: %s", re.Code, re.Message)
		if len(re.Detail) > 0 && len(re.Detail) < 512 && string(re.Detail) != "null" {
			fmt.Fprintf(&b, " %s", re.Detail)
		}
	}
	return b.String()
}

// Unwrap gives the error kinds of the status.
func (e *StatusError) Unwrap() []error {
	switch {
	case e.StatusCode == http.StatusNotFound:
		return []error{errdefs.ErrNotFound}
	case e.StatusCode == http.StatusUnauthorized:
		return []error{auth.ErrUnauthorized, errdefs.ErrFailedPrecondition}
	case e.StatusCode == http.StatusForbidden:
		return []error{ErrDenied, errdefs.ErrFailedPrecondition}
	case e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500:
		return []error{errdefs.ErrUnavailable}
	case e.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		return []error{errdefs.ErrInvalidArgument}
	}
	return []error{errdefs.ErrFailedPrecondition}
}

// statusError reads (a bounded part of) resp's body into a StatusError and closes it.
func statusError(resp *http.Response, object string) error {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &StatusError{Method: resp.Request.Method, URL: redact(resp.Request.URL), StatusCode: resp.StatusCode, Status: resp.Status, Object: object}
	var env struct {
		Errors []RegistryError `json:"errors"`
	}
	if json.Unmarshal(body, &env) == nil {
		e.Errors = env.Errors
	}
	return e
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	return c.String()
}

type resolver struct {
	opts   Options
	log    *slog.Logger
	auth   *auth.Authorizer
	mu     sync.Mutex
	byTLS  map[string]*http.Client
	sleepf func(ctx context.Context, d time.Duration) error
}

// NewResolver returns a Resolver. Options' zero values take the defaults.
func NewResolver(opts Options) Resolver { return newResolver(opts) }

func newResolver(opts Options) *resolver {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Retries < 0 {
		opts.Retries = 0
	} else if opts.Retries == 0 {
		opts.Retries = DefaultRetries
	}
	if opts.Backoff <= 0 {
		opts.Backoff = DefaultBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "berth/" + version.Version
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &resolver{opts: opts, log: log, auth: auth.NewAuthorizer(opts.Credentials), byTLS: map[string]*http.Client{}, sleepf: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// checkRedirect follows up to 10 redirects and never carries credentials to
// another host (host:port compared, unlike net/http's default).
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return fmt.Errorf("stopped after 10 redirects")
	}
	if !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
		req.Header.Del("Authorization")
	}
	return nil
}

// client returns the http.Client for an endpoint, one per distinct TLS setup.
func (r *resolver) client(ep hosts.Endpoint) (*http.Client, error) {
	key := "plain"
	if ep.Scheme == "https" {
		key = fmt.Sprintf("tls|%v|%q|%q", ep.SkipVerify, ep.CAFiles, ep.ClientCerts)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.byTLS[key]; ok {
		return c, nil
	}
	var rt http.RoundTripper
	custom := ep.Scheme == "https" && (ep.SkipVerify || len(ep.CAFiles) > 0 || len(ep.ClientCerts) > 0)
	var base *http.Transport
	switch {
	case r.opts.Client != nil && r.opts.Client.Transport != nil:
		if t, ok := r.opts.Client.Transport.(*http.Transport); ok && custom {
			base = t.Clone()
		} else {
			rt = r.opts.Client.Transport
		}
	default:
		base = r.transport()
	}
	if base != nil {
		if custom {
			tc, err := ep.TLSConfig()
			if err != nil {
				return nil, err
			}
			base.TLSClientConfig = tc
		}
		rt = base
	}
	c := &http.Client{Transport: rt, CheckRedirect: checkRedirect}
	if r.opts.Client != nil {
		c.Jar = r.opts.Client.Jar
	}
	r.byTLS[key] = c
	return c, nil
}

func (r *resolver) transport() *http.Transport {
	per := max(2*r.opts.Concurrency, 16)
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   r.opts.IdleTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4 * per,
		MaxIdleConnsPerHost:   per,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   r.opts.IdleTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ReadBufferSize:        64 << 10,
		WriteBufferSize:       64 << 10,
	}
}

// request is one API call, re-creatable for retries.
type request struct {
	method   string
	ep       hosts.Endpoint
	path     string // below the API root, e.g. "/library/busybox/manifests/latest"
	rawURL   string // absolute URL instead of ep+path (upload locations)
	query    url.Values
	header   http.Header
	body     func() (io.Reader, error) // nil: no body
	size     int64                     // body length, -1 unknown
	scopes   []string
	credHost string
	object   string // for errors
	noRetry  bool   // do not retry 5xx (non-idempotent upload steps)
}

func (q *request) url() (*url.URL, error) {
	if q.rawURL != "" {
		u, err := url.Parse(q.rawURL)
		if err != nil {
			return nil, fmt.Errorf("%s: location %q: %v: %w", q.object, q.rawURL, err, errdefs.ErrInvalidArgument)
		}
		if len(q.query) > 0 {
			v := u.Query()
			for k, vs := range q.query {
				for _, x := range vs {
					v.Add(k, x)
				}
			}
			u.RawQuery = v.Encode()
		}
		return u, nil
	}
	u := &url.URL{Scheme: q.ep.Scheme, Host: q.ep.Host, Path: q.ep.Path + q.path}
	v := url.Values{}
	for k, vs := range q.query {
		v[k] = vs
	}
	if q.ep.Mirror && q.ep.Upstream != "" {
		v.Set("ns", q.ep.Upstream)
	}
	u.RawQuery = v.Encode()
	return u, nil
}

// idleBody cancels its request when no byte arrives for the idle timeout.
type idleBody struct {
	rc      io.ReadCloser
	timer   *time.Timer
	idle    time.Duration
	timeout *atomic.Bool
	cancel  context.CancelFunc
	what    string
	closed  atomic.Bool
}

func (b *idleBody) Read(p []byte) (int, error) {
	// Only time spent waiting on the registry counts, not the reader's own pace.
	b.timer.Reset(b.idle)
	n, err := b.rc.Read(p)
	b.timer.Stop()
	if err != nil && err != io.EOF && b.timeout.Load() {
		err = fmt.Errorf("%s: no data for %s: %w", b.what, b.idle, errTimeout)
	}
	return n, err
}

func (b *idleBody) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel()
	return err
}

// errTimeout marks a stalled registry; it wraps errdefs.ErrUnavailable.
var errTimeout = fmt.Errorf("registry stalled: %w", errdefs.ErrUnavailable)

func isRetryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusInternalServerError ||
		code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// backoff is the wait before retry n (0-based): Retry-After when given,
// else Backoff doubled each time; never more than MaxBackoff.
func (r *resolver) backoff(n int, resp *http.Response) time.Duration {
	d := r.opts.Backoff << min(n, 20)
	if resp != nil {
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			if secs, err := strconv.Atoi(strings.TrimSpace(ra)); err == nil && secs >= 0 {
				d = time.Duration(secs) * time.Second
			} else if t, err := http.ParseTime(ra); err == nil {
				d = time.Until(t)
			}
		}
	}
	if d > r.opts.MaxBackoff {
		d = r.opts.MaxBackoff
	}
	if d < 0 {
		d = 0
	}
	return d
}

// do sends q with authentication, retrying 429, 5xx and connection errors
// with backoff. A 2xx or 3xx-final answer is returned with a body that fails
// after IdleTimeout without data; any other status becomes a *StatusError,
// except those listed in accept, which are returned as answers.
func (r *resolver) do(ctx context.Context, q *request, accept ...int) (*http.Response, error) {
	client, err := r.client(q.ep)
	if err != nil {
		return nil, err
	}
	authRetried := false
	for attempt := 0; ; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		u, err := q.url()
		if err != nil {
			return nil, err
		}
		var body io.Reader
		if q.body != nil {
			if body, err = q.body(); err != nil {
				return nil, err
			}
		}
		rctx, cancel := context.WithCancel(ctx)
		req, err := http.NewRequestWithContext(rctx, q.method, u.String(), body)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("%s: %v: %w", q.object, err, errdefs.ErrInvalidArgument)
		}
		if q.body != nil && q.size >= 0 {
			req.ContentLength = q.size
			if q.size == 0 {
				req.Body = http.NoBody
			}
		}
		for k, vs := range q.ep.Header {
			req.Header[k] = append([]string(nil), vs...)
		}
		for k, vs := range q.header {
			req.Header[k] = append([]string(nil), vs...)
		}
		req.Header.Set("User-Agent", r.opts.UserAgent)
		credHost := q.credHost
		if !strings.EqualFold(u.Host, q.ep.Host) {
			// An upload location on another host gets no credentials.
			credHost = ""
		}
		if err := r.auth.Authorize(ctx, client, req, credHost, q.scopes); err != nil {
			cancel()
			return nil, fmt.Errorf("%s: %w", q.object, err)
		}
		sent := req.Header.Get("Authorization")
		var timedOut atomic.Bool
		timer := time.AfterFunc(r.opts.IdleTimeout, func() { timedOut.Store(true); cancel() })
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			timer.Stop()
			cancel()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if timedOut.Load() {
				return nil, fmt.Errorf("%s: %s %s: no answer within %s: %w", q.object, q.method, redact(u), r.opts.IdleTimeout, errTimeout)
			}
			if attempt < r.opts.Retries && !q.noRetry {
				wait := r.backoff(attempt, nil)
				r.log.Debug("registry request failed, retrying", "method", q.method, "url", redact(u), "error", err, "wait", wait)
				attempt++
				if err := r.sleepf(ctx, wait); err != nil {
					return nil, err
				}
				continue
			}
			return nil, fmt.Errorf("%s: %s %s: %w: %w", q.object, q.method, redact(u), err, errdefs.ErrUnavailable)
		}
		r.log.Debug("registry request", "method", q.method, "url", redact(u), "status", resp.StatusCode, "took", time.Since(start))
		for _, a := range accept {
			if resp.StatusCode == a {
				return r.wrapBody(resp, timer, &timedOut, cancel, q.object), nil
			}
		}
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return r.wrapBody(resp, timer, &timedOut, cancel, q.object), nil
		case resp.StatusCode == http.StatusUnauthorized && !authRetried:
			drain(resp)
			timer.Stop()
			cancel()
			if err := r.auth.Challenged(ctx, req.URL.Host, credHost, resp, sent); err != nil {
				return nil, fmt.Errorf("%s: %w", q.object, err)
			}
			authRetried = true
			continue
		case isRetryableStatus(resp.StatusCode) && attempt < r.opts.Retries && !(q.noRetry && resp.StatusCode != http.StatusTooManyRequests):
			wait := r.backoff(attempt, resp)
			drain(resp)
			timer.Stop()
			cancel()
			r.log.Debug("registry busy, retrying", "method", q.method, "url", redact(u), "status", resp.StatusCode, "wait", wait)
			attempt++
			if err := r.sleepf(ctx, wait); err != nil {
				return nil, err
			}
			continue
		}
		timer.Stop()
		if resp.StatusCode == http.StatusUnauthorized {
			// Refused again with the credentials just obtained: say why.
			if cerr := r.auth.Challenged(ctx, req.URL.Host, credHost, resp, sent); cerr != nil {
				drain(resp)
				cancel()
				return nil, fmt.Errorf("%s: %w", q.object, cerr)
			}
		}
		err = statusError(resp, q.object)
		cancel()
		return nil, err
	}
}

func (r *resolver) wrapBody(resp *http.Response, timer *time.Timer, timedOut *atomic.Bool, cancel context.CancelFunc, what string) *http.Response {
	// Armed again by each Read: a caller that waits before reading is not a stalled registry.
	timer.Stop()
	resp.Body = &idleBody{rc: resp.Body, timer: timer, idle: r.opts.IdleTimeout, timeout: timedOut, cancel: cancel, what: what}
	return resp
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

func pullScope(n reference.Named) []string { return []string{"repository:" + n.Path + ":pull"} }
func pushScope(n reference.Named) []string { return []string{"repository:" + n.Path + ":pull,push"} }

// Endpoints lists where ref would be tried, in order (`berth registry resolve`).
func Endpoints(ref string, cfg hosts.Config) ([]hosts.Endpoint, error) {
	n, err := reference.ParseNormalized(ref)
	if err != nil {
		return nil, err
	}
	return cfg.Endpoints(n.Domain)
}

func (r *resolver) endpoints(n reference.Named, want hosts.Capabilities) ([]hosts.Endpoint, error) {
	all, err := r.opts.Hosts.Endpoints(n.Domain)
	if err != nil {
		return nil, err
	}
	var eps []hosts.Endpoint
	for _, e := range all {
		if e.Capabilities.Has(want) {
			eps = append(eps, e)
		}
	}
	if len(eps) == 0 {
		return nil, fmt.Errorf("registry %s: no endpoint has the %s capability: %w", n.Domain, want, errdefs.ErrFailedPrecondition)
	}
	return eps, nil
}

// Login checks credentials against host's upstream endpoint (as configured
// in opts.Hosts) and returns nil if the registry accepts them; store them
// afterwards with auth.ConfigStore.Store.
func Login(ctx context.Context, opts Options, host string, c auth.Credentials) error {
	if host == "" {
		return fmt.Errorf("login: registry host: empty: %w", errdefs.ErrInvalidArgument)
	}
	if host == "index.docker.io" || host == reference.DockerHubEndpoint {
		host = reference.DefaultDomain
	}
	eps, err := opts.Hosts.Endpoints(host)
	if err != nil {
		return err
	}
	up := eps[len(eps)-1]
	r := newResolver(opts)
	client, err := r.client(up)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.IdleTimeout)
	defer cancel()
	return auth.Login(ctx, client, up.URL()+"/", host, c)
}
