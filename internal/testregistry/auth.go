package testregistry

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// IdentityToken is the refresh token the token server accepts (with the
// OAuth2 refresh_token grant) in place of Options.Password.
const IdentityToken = "berth-test-identity-token"

// Service is the service name in bearer challenges.
const Service = "testregistry"

// authorize checks req for action ("pull", "push") on repo ("" for /v2/)
// and, when w is not nil, answers 401 with a challenge if it fails.
func (r *Registry) authorize(w http.ResponseWriter, req *http.Request, repo, action string) bool {
	switch r.opts.Auth {
	case AuthBasic:
		u, p, ok := req.BasicAuth()
		if ok && u == r.opts.User && p == r.opts.Password {
			return true
		}
		if w != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="testregistry"`)
			errorBody(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		}
		return false
	case AuthBearer:
		errParam := ""
		if tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok {
			r.mu.Lock()
			t, found := r.tokens[tok]
			r.mu.Unlock()
			switch {
			case !found || time.Now().After(t.expires):
				errParam = "invalid_token"
			case repo == "":
				return true
			case strings.Contains(t.scopes[repo], action):
				return true
			default:
				errParam = "insufficient_scope"
			}
		}
		if w != nil {
			c := fmt.Sprintf(`Bearer realm="%s/token",service="%s"`, r.URL, Service)
			if repo != "" {
				scope := "repository:" + repo + ":" + action
				if action == "push" {
					scope = "repository:" + repo + ":pull,push"
				}
				c += fmt.Sprintf(`,scope="%s"`, scope)
			}
			if errParam != "" {
				c += fmt.Sprintf(`,error="%s"`, errParam)
			}
			w.Header().Set("WWW-Authenticate", c)
			errorBody(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		}
		return false
	}
	return true
}

// serveToken is the bearer token realm: GET with optional basic
// credentials, or the OAuth2 POST form (password or refresh_token grant).
func (r *Registry) serveToken(w http.ResponseWriter, req *http.Request) {
	var user, pass, ident string
	var scopes []string
	switch req.Method {
	case http.MethodGet:
		user, pass, _ = req.BasicAuth()
		scopes = req.URL.Query()["scope"]
	case http.MethodPost:
		if err := req.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		switch req.PostForm.Get("grant_type") {
		case "password":
			user, pass = req.PostForm.Get("username"), req.PostForm.Get("password")
		case "refresh_token":
			ident = req.PostForm.Get("refresh_token")
		default:
			http.Error(w, "unsupported grant_type", http.StatusBadRequest)
			return
		}
		scopes = strings.Fields(req.PostForm.Get("scope"))
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	authed := false
	switch {
	case ident != "":
		if ident != IdentityToken {
			http.Error(w, `{"details":"invalid refresh token"}`, http.StatusUnauthorized)
			return
		}
		authed = true
	case user != "" || pass != "":
		if user != r.opts.User || pass != r.opts.Password {
			http.Error(w, `{"details":"incorrect username or password"}`, http.StatusUnauthorized)
			return
		}
		authed = true
	}
	t := token{scopes: map[string]string{}, expires: time.Now().Add(r.opts.TokenTTL)}
	for _, s := range scopes {
		parts := strings.Split(s, ":")
		if len(parts) != 3 || parts[0] != "repository" {
			continue
		}
		switch {
		case authed:
			t.scopes[parts[1]] = parts[2]
		case r.opts.AnonymousPull && strings.Contains(parts[2], "pull"):
			t.scopes[parts[1]] = "pull"
		}
	}
	id := newID()
	r.mu.Lock()
	r.tokens[id] = t
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token": id, "expires_in": int(r.opts.TokenTTL / time.Second), "issued_at": time.Now().UTC().Format(time.RFC3339)})
}

// TokenRequests counts requests to the token realm.
func (r *Registry) TokenRequests() int { return r.CountRequests("", "/token") }
