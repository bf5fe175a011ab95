package auth

import (
	"context"
	"net/http"
)

// Credentials for one registry host. IdentityToken, when set, is an OAuth2
// refresh token used instead of the password.
type Credentials struct {
	Username      string
	Password      string
	IdentityToken string
}

// CredentialStore finds credentials for a registry host ("docker.io",
// "127.0.0.1:5000"). A host without credentials gives zero Credentials and a
// nil error.
type CredentialStore interface {
	Get(ctx context.Context, host string) (Credentials, error)
}

// Challenge is one parsed WWW-Authenticate challenge.
type Challenge struct {
	Scheme string            // lower case: "basic", "bearer"
	Params map[string]string // keys lower case: realm, service, scope, error
}

// ParseChallenges parses a WWW-Authenticate header value (several
// challenges may be listed, separated by commas).
func ParseChallenges(header string) ([]Challenge, error) { return nil, nil }

// Authorizer adds credentials to requests and learns from 401 answers. It is
// safe for concurrent use.
type Authorizer struct {
	creds  CredentialStore
	client *http.Client
}

// NewAuthorizer returns an Authorizer using creds (may be nil: anonymous)
// and client for token requests.
func NewAuthorizer(creds CredentialStore, client *http.Client) *Authorizer {
	return &Authorizer{creds: creds, client: client}
}
