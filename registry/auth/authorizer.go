package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/berth-containers/berth/internal/errdefs"
)

// ErrUnauthorized is wrapped (with errdefs.ErrFailedPrecondition) by errors
// of requests the registry refused for lack of valid credentials.
var ErrUnauthorized = errors.New("unauthorized")

// Unauthorized builds an error of kind ErrUnauthorized.
func Unauthorized(format string, a ...any) error {
	return fmt.Errorf("%s: %w: %w", fmt.Sprintf(format, a...), ErrUnauthorized, errdefs.ErrFailedPrecondition)
}

// DefaultTokenLifetime is assumed for tokens whose answer gives no expires_in.
const DefaultTokenLifetime = 60 * time.Second

// maxTokenResponse bounds a token server's answer.
const maxTokenResponse = 1 << 20

// Authorizer adds credentials to requests and learns from 401 answers: which
// scheme each host asks for, and bearer tokens per scope until they expire. It
// is safe for concurrent use; concurrent requests for the same token share
// one token request.
type Authorizer struct {
	creds CredentialStore
	now   func() time.Time

	mu     sync.Mutex
	hosts  map[string]Challenge
	tokens map[string]cachedToken
	group  singleflight.Group
}

type cachedToken struct {
	token   string
	expires time.Time
}

// NewAuthorizer returns an Authorizer using creds (nil: anonymous).
func NewAuthorizer(creds CredentialStore) *Authorizer {
	return &Authorizer{creds: creds, now: time.Now, hosts: map[string]Challenge{}, tokens: map[string]cachedToken{}}
}

func (a *Authorizer) credentials(ctx context.Context, host string) (Credentials, error) {
	if a.creds == nil {
		return Credentials{}, nil
	}
	c, err := a.creds.Get(ctx, host)
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials for %s: %w", host, err)
	}
	return c, nil
}

// Authorize sets req's Authorization header for scopes (e.g.
// "repository:library/busybox:pull") if req's host has challenged before.
// credHost is the registry host credentials are kept under (the reference's
// domain, which may differ from req.URL.Host for mirrors and docker.io).
// client makes token requests.
func (a *Authorizer) Authorize(ctx context.Context, client *http.Client, req *http.Request, credHost string, scopes []string) error {
	a.mu.Lock()
	ch, ok := a.hosts[req.URL.Host]
	a.mu.Unlock()
	if !ok {
		return nil
	}
	switch ch.Scheme {
	case "basic":
		c, err := a.credentials(ctx, credHost)
		if err != nil {
			return err
		}
		if c.Username != "" || c.Password != "" {
			req.SetBasicAuth(c.Username, c.Password)
		}
		return nil
	case "bearer":
		tok, err := a.token(ctx, client, ch, credHost, scopes)
		if err != nil {
			return err
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		return nil
	}
	return nil
}

// Challenged learns from a 401 answer to a request to host that carried
// the Authorization header sent (may be ""). It returns nil when a retry
// with Authorize may succeed, else an ErrUnauthorized error.
func (a *Authorizer) Challenged(ctx context.Context, host, credHost string, resp *http.Response, sent string) error {
	hdrs := resp.Header.Values("WWW-Authenticate")
	if len(hdrs) == 0 {
		return Unauthorized("registry %s: 401 without a WWW-Authenticate challenge", host)
	}
	var chosen *Challenge
	for _, h := range hdrs {
		chs, err := ParseChallenges(h)
		if err != nil {
			return Unauthorized("registry %s: %v", host, err)
		}
		for i := range chs {
			c := chs[i]
			if c.Scheme == "bearer" && c.Params["realm"] != "" {
				chosen = &c
				break
			}
			if c.Scheme == "basic" && chosen == nil {
				chosen = &c
			}
		}
		if chosen != nil && chosen.Scheme == "bearer" {
			break
		}
	}
	if chosen == nil {
		return Unauthorized("registry %s: no supported challenge in %q (Basic, Bearer)", host, strings.Join(hdrs, ", "))
	}
	c, err := a.credentials(ctx, credHost)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.hosts[host] = *chosen
	if strings.HasPrefix(sent, "Bearer ") {
		tok := strings.TrimPrefix(sent, "Bearer ")
		for k, t := range a.tokens {
			if t.token == tok {
				delete(a.tokens, k)
			}
		}
	}
	a.mu.Unlock()
	switch {
	case chosen.Scheme == "basic" && c.Username == "" && c.Password == "":
		return Unauthorized("registry %s asks for a user name and password and none is stored for %s (berth login %s)", host, credHost, credHost)
	case chosen.Scheme == "basic" && strings.HasPrefix(sent, "Basic "):
		return Unauthorized("registry %s refused the credentials of user %q", host, c.Username)
	case chosen.Scheme == "bearer" && strings.HasPrefix(sent, "Bearer ") && chosen.Params["error"] != "invalid_token":
		if c.Empty() {
			return Unauthorized("registry %s refused anonymous access (%s); log in with berth login %s", host, chosen.Params["error"], credHost)
		}
		return Unauthorized("registry %s refused the token issued for user %q (%s)", host, c.Username, chosen.Params["error"])
	}
	return nil
}

func (a *Authorizer) token(ctx context.Context, client *http.Client, ch Challenge, credHost string, scopes []string) (string, error) {
	all := append([]string(nil), scopes...)
	if s := ch.Params["scope"]; s != "" {
		all = append(all, strings.Fields(s)...)
	}
	sort.Strings(all)
	all = dedup(all)
	key := ch.Params["realm"] + "|" + ch.Params["service"] + "|" + credHost + "|" + strings.Join(all, " ")
	a.mu.Lock()
	t, ok := a.tokens[key]
	a.mu.Unlock()
	if ok && a.now().Before(t.expires) {
		return t.token, nil
	}
	v, err, _ := a.group.Do(key, func() (any, error) {
		// Another caller may have just fetched it.
		a.mu.Lock()
		t, ok := a.tokens[key]
		a.mu.Unlock()
		if ok && a.now().Before(t.expires) {
			return t.token, nil
		}
		c, err := a.credentials(ctx, credHost)
		if err != nil {
			return "", err
		}
		tok, lifetime, err := fetchToken(ctx, client, ch, c, all)
		if err != nil {
			return "", err
		}
		// Renew a little early so a token does not expire in flight.
		a.mu.Lock()
		a.tokens[key] = cachedToken{token: tok, expires: a.now().Add(lifetime * 9 / 10)}
		a.mu.Unlock()
		return tok, nil
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

func dedup(s []string) []string {
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

type tokenResponse struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// fetchToken asks the challenge's realm for a token: an OAuth2 POST with the
// identity (refresh) token when there is one, else a GET with basic
// credentials (or anonymous); a realm that does not take GET with
// credentials is asked with the OAuth2 password grant.
func fetchToken(ctx context.Context, client *http.Client, ch Challenge, c Credentials, scopes []string) (string, time.Duration, error) {
	realm, err := url.Parse(ch.Params["realm"])
	if err != nil || (realm.Scheme != "https" && realm.Scheme != "http") || realm.Host == "" {
		return "", 0, Unauthorized("bearer challenge realm %q: not an http(s) URL", ch.Params["realm"])
	}
	service := ch.Params["service"]
	if c.IdentityToken != "" {
		return postToken(ctx, client, realm, service, scopes, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.IdentityToken}})
	}
	u := *realm
	q := u.Query()
	if service != "" {
		q.Set("service", service)
	}
	for _, s := range scopes {
		q.Add("scope", s)
	}
	if c.Username != "" {
		q.Set("account", c.Username)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", 0, err
	}
	if c.Username != "" || c.Password != "" {
		req.SetBasicAuth(c.Username, c.Password)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("token from %s: %w: %w", realm.Host, err, errdefs.ErrUnavailable)
	}
	defer resp.Body.Close()
	if (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed) && c.Username != "" {
		return postToken(ctx, client, realm, service, scopes, url.Values{"grant_type": {"password"}, "username": {c.Username}, "password": {c.Password}})
	}
	return readTokenResponse(resp, realm, c)
}

func postToken(ctx context.Context, client *http.Client, realm *url.URL, service string, scopes []string, form url.Values) (string, time.Duration, error) {
	form.Set("client_id", "berth")
	if service != "" {
		form.Set("service", service)
	}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, realm.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("token from %s: %w: %w", realm.Host, err, errdefs.ErrUnavailable)
	}
	defer resp.Body.Close()
	return readTokenResponse(resp, realm, Credentials{Username: form.Get("username")})
}

func readTokenResponse(resp *http.Response, realm *url.URL, c Credentials) (string, time.Duration, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	if err != nil {
		return "", 0, fmt.Errorf("token from %s: %w: %w", realm.Host, err, errdefs.ErrUnavailable)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		who := "anonymous access"
		if c.Username != "" {
			who = fmt.Sprintf("user %q", c.Username)
		}
		return "", 0, Unauthorized("token server %s refused %s: %s", realm.Host, who, strings.TrimSpace(string(body)))
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return "", 0, fmt.Errorf("token server %s: %s: %w", realm.Host, resp.Status, errdefs.ErrUnavailable)
	case resp.StatusCode != http.StatusOK:
		return "", 0, Unauthorized("token server %s: %s", realm.Host, resp.Status)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return "", 0, fmt.Errorf("token from %s: malformed JSON: %v: %w", realm.Host, err, errdefs.ErrInvalidArgument)
	}
	tok := tr.Token
	if tok == "" {
		tok = tr.AccessToken
	}
	if tok == "" {
		return "", 0, fmt.Errorf("token from %s: answer has no token: %w", realm.Host, errdefs.ErrInvalidArgument)
	}
	life := DefaultTokenLifetime
	if tr.ExpiresIn > 0 {
		life = time.Duration(tr.ExpiresIn) * time.Second
	}
	return tok, life, nil
}

// Login checks c against a registry's API root (apiURL, e.g.
// "https://registry.example.com/v2/") and returns nil if the registry accepts
// them (or asks for no authentication). Store the credentials afterwards
// with ConfigStore.Store.
func Login(ctx context.Context, client *http.Client, apiURL, host string, c Credentials) error {
	a := NewAuthorizer(Static{host: c})
	u, err := url.Parse(apiURL)
	if err != nil {
		return fmt.Errorf("login %s: %v: %w", apiURL, err, errdefs.ErrInvalidArgument)
	}
	sent := ""
	for attempt := 0; attempt < 2; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return err
		}
		if err := a.Authorize(ctx, client, req, host, nil); err != nil {
			return fmt.Errorf("login %s: %w", host, err)
		}
		sent = req.Header.Get("Authorization")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("login %s: %w: %w", host, err, errdefs.ErrUnavailable)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			// Accepted (or the registry asks for no authentication).
			return nil
		case resp.StatusCode == http.StatusUnauthorized:
			if err := a.Challenged(ctx, u.Host, host, resp, sent); err != nil {
				return fmt.Errorf("login %s: %w", host, err)
			}
		default:
			return fmt.Errorf("login %s: %s answered %s: %w", host, apiURL, resp.Status, errdefs.ErrUnavailable)
		}
	}
	return Unauthorized("login %s: credentials of user %q refused", host, c.Username)
}
