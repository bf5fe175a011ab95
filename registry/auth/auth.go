package auth

import (
	"context"
	"fmt"
	"strings"

	"github.com/berth-containers/berth/internal/errdefs"
)

// Credentials for one registry host. IdentityToken, when set, is an OAuth2
// refresh token used instead of the password.
type Credentials struct {
	Username      string
	Password      string
	IdentityToken string
}

// Empty reports whether there is nothing to authenticate with.
func (c Credentials) Empty() bool {
	return c.Username == "" && c.Password == "" && c.IdentityToken == ""
}

// CredentialStore finds credentials for a registry host ("docker.io",
// "127.0.0.1:5000"). A host without credentials gives zero Credentials and a
// nil error.
type CredentialStore interface {
	Get(ctx context.Context, host string) (Credentials, error)
}

// Static is a fixed CredentialStore keyed by host.
type Static map[string]Credentials

// Get implements CredentialStore.
func (s Static) Get(_ context.Context, host string) (Credentials, error) { return s[host], nil }

// Challenge is one parsed WWW-Authenticate challenge.
type Challenge struct {
	Scheme string            // lower case: "basic", "bearer"
	Params map[string]string // keys lower case: realm, service, scope, error
}

// MaxChallengeLength bounds the header parsed.
const MaxChallengeLength = 16 << 10

// ParseChallenges parses a WWW-Authenticate header value: one or more
// challenges "Scheme k=v, k="quoted", Scheme2 …" (RFC 7235).
func ParseChallenges(header string) ([]Challenge, error) {
	if len(header) > MaxChallengeLength {
		return nil, fmt.Errorf("WWW-Authenticate: longer than %d bytes: %w", MaxChallengeLength, errdefs.ErrInvalidArgument)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("WWW-Authenticate %q: %s: %w", header, fmt.Sprintf(format, a...), errdefs.ErrInvalidArgument)
	}
	var out []Challenge
	s := header
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			break
		}
		tok, rest := readToken(s)
		if tok == "" {
			return nil, bad("expected an auth scheme at %q", s)
		}
		ch := Challenge{Scheme: strings.ToLower(tok), Params: map[string]string{}}
		s = rest
		// Parameters: key=value, separated by commas, until a token not
		// followed by '=' (the next scheme) or the end.
		for {
			t := strings.TrimLeft(s, " \t,")
			key, after := readToken(t)
			after = strings.TrimLeft(after, " \t")
			if key == "" || !strings.HasPrefix(after, "=") {
				// The next challenge, or the end.
				break
			}
			after = strings.TrimLeft(after[1:], " \t")
			var val string
			if strings.HasPrefix(after, `"`) {
				v, r, ok := readQuoted(after)
				if !ok {
					return nil, bad("unterminated quoted value of %q", key)
				}
				val, s = v, r
			} else {
				val, s = readToken(after)
			}
			ch.Params[strings.ToLower(key)] = val
		}
		out = append(out, ch)
	}
	if len(out) == 0 {
		return nil, bad("no challenge")
	}
	return out, nil
}

func isTokenChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	return !strings.ContainsRune(`()<>@,;:\"/[]?={} `, rune(c))
}

func readToken(s string) (tok, rest string) {
	i := 0
	for i < len(s) && (isTokenChar(s[i]) || s[i] == '/' || s[i] == ':') {
		// '/' and ':' appear unquoted in some registries' realm and scope values.
		i++
	}
	return s[:i], s[i:]
}

func readQuoted(s string) (val, rest string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:], true
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", false
}
