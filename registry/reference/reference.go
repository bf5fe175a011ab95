package reference

import (
	"fmt"
	"net"
	"strings"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-containers/berth/internal/errdefs"
)

const (
	// DefaultDomain is the registry of names that carry no host.
	DefaultDomain = "docker.io"
	// DefaultTag is added to names that carry neither tag nor digest.
	DefaultTag = "latest"
	// DockerHubEndpoint is the host that serves the distribution API for docker.io.
	DockerHubEndpoint = "registry-1.docker.io"
	// legacyDomain is normalised to DefaultDomain.
	legacyDomain = "index.docker.io"
	// officialRepoPrefix is added to single-component docker.io paths.
	officialRepoPrefix = "library/"

	// MaxNameLength bounds the full name (domain + "/" + path).
	MaxNameLength = 255
	maxTagLength  = 128
)

// Named is a parsed reference. Domain and Path are always set; Tag and Digest
// may both be empty only for references parsed with Parse that had neither.
type Named struct {
	Domain string        // "docker.io", "127.0.0.1:5000", "[::1]:5000"
	Path   string        // "library/busybox"
	Tag    string        // "latest"
	Digest digest.Digest // "sha256:…"
}

// Name is the repository name with its domain: "docker.io/library/busybox".
func (n Named) Name() string { return n.Domain + "/" + n.Path }

// String is the full reference: name, then ":tag" and/or "@digest".
func (n Named) String() string {
	s := n.Name()
	if n.Tag != "" {
		s += ":" + n.Tag
	}
	if n.Digest != "" {
		s += "@" + n.Digest.String()
	}
	return s
}

// Familiar is the short form people type: docker.io and library/ removed.
func (n Named) Familiar() string {
	name := n.Name()
	if n.Domain == DefaultDomain {
		name = n.Path
		if rest, ok := strings.CutPrefix(n.Path, officialRepoPrefix); ok && !strings.Contains(rest, "/") {
			name = rest
		}
	}
	if n.Tag != "" {
		name += ":" + n.Tag
	}
	if n.Digest != "" {
		name += "@" + n.Digest.String()
	}
	return name
}

// Object is what the manifests endpoint is asked for: the digest if there is
// one (it pins the content), else the tag.
func (n Named) Object() string {
	if n.Digest != "" {
		return n.Digest.String()
	}
	return n.Tag
}

// IsLoopback reports whether the domain names this machine: localhost,
// 127.0.0.0/8 or ::1, with any port.
func (n Named) IsLoopback() bool { return IsLoopbackHost(n.Domain) }

// IsLoopbackHost reports whether host[:port] names this machine.
func IsLoopbackHost(hostport string) bool {
	h := hostport
	if strings.HasPrefix(h, "[") {
		if i := strings.Index(h, "]"); i > 0 {
			h = h[1:i]
		}
	} else if i := strings.LastIndex(h, ":"); i >= 0 && strings.Count(h, ":") == 1 {
		h = h[:i]
	}
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func invalid(ref, format string, a ...any) error {
	return fmt.Errorf("reference %q: %s: %w", ref, fmt.Sprintf(format, a...), errdefs.ErrInvalidArgument)
}

// ParseNormalized parses a reference the way `docker pull` reads it: a name
// without a host is on docker.io, a one-component docker.io path is under
// library/, and a name with neither tag nor digest gets the tag "latest".
func ParseNormalized(s string) (Named, error) {
	n, err := parse(s, true)
	if err != nil {
		return Named{}, err
	}
	if n.Tag == "" && n.Digest == "" {
		n.Tag = DefaultTag
	}
	return n, nil
}

// ParseNormalizedName is ParseNormalized without adding the default tag (for
// repository names, e.g. a `from` repository of a cross-repository mount).
func ParseNormalizedName(s string) (Named, error) { return parse(s, true) }

// Parse parses a fully qualified reference: the first component must be a
// host (it contains '.' or ':' or is "localhost"). No tag is added.
func Parse(s string) (Named, error) { return parse(s, false) }

func parse(s string, normalize bool) (Named, error) {
	if s == "" {
		return Named{}, invalid(s, "empty reference")
	}
	if len(s) > 4*MaxNameLength {
		return Named{}, invalid(s[:32]+"…", "longer than %d bytes", 4*MaxNameLength)
	}
	var n Named
	rest := s
	if i := strings.Index(rest, "@"); i >= 0 {
		d, err := digest.Parse(rest[i+1:])
		if err != nil {
			return Named{}, invalid(s, "digest %q: %v", rest[i+1:], err)
		}
		n.Digest = d
		rest = rest[:i]
	}
	// The tag is after the last ':' that follows the last '/'.
	slash := strings.LastIndex(rest, "/")
	if i := strings.LastIndex(rest, ":"); i > slash {
		n.Tag = rest[i+1:]
		rest = rest[:i]
		if err := validTag(n.Tag); err != nil {
			return Named{}, invalid(s, "tag %q: %v", n.Tag, err)
		}
	}
	if rest == "" {
		return Named{}, invalid(s, "repository name is empty")
	}
	domain, path := "", rest
	if i := strings.Index(rest, "/"); i >= 0 {
		first := rest[:i]
		if looksLikeDomain(first) {
			domain, path = first, rest[i+1:]
		}
	}
	if domain == "" {
		if !normalize {
			return Named{}, invalid(s, "no registry host (the first component must contain '.' or ':' or be \"localhost\")")
		}
		domain = DefaultDomain
	}
	if err := validDomain(domain); err != nil {
		return Named{}, invalid(s, "host %q: %v", domain, err)
	}
	if normalize && strings.EqualFold(domain, legacyDomain) {
		domain = DefaultDomain
	}
	if domain == DefaultDomain && normalize && !strings.Contains(path, "/") {
		path = officialRepoPrefix + path
	}
	if err := validPath(path); err != nil {
		return Named{}, invalid(s, "repository path %q: %v", path, err)
	}
	n.Domain, n.Path = domain, path
	if l := len(n.Name()); l > MaxNameLength {
		return Named{}, invalid(s, "repository name is %d bytes, longer than %d", l, MaxNameLength)
	}
	return n, nil
}

func looksLikeDomain(s string) bool {
	return strings.ContainsAny(s, ".:[") || s == "localhost" || s != strings.ToLower(s)
}

func isAlnumLower(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
func isAlnum(c byte) bool      { return isAlnumLower(c) || c >= 'A' && c <= 'Z' }

func validTag(t string) error {
	if t == "" {
		return fmt.Errorf("empty")
	}
	if len(t) > maxTagLength {
		return fmt.Errorf("longer than %d characters", maxTagLength)
	}
	if !(isAlnum(t[0]) || t[0] == '_') {
		return fmt.Errorf("must start with a letter, digit or '_'")
	}
	for i := 1; i < len(t); i++ {
		c := t[i]
		if !(isAlnum(c) || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("character %q not allowed (letters, digits, '_', '.', '-')", c)
		}
	}
	return nil
}

func validDomain(d string) error {
	host, port := d, ""
	if strings.HasPrefix(d, "[") {
		end := strings.Index(d, "]")
		if end < 0 {
			return fmt.Errorf("unclosed '['")
		}
		ip := net.ParseIP(d[1:end])
		if ip == nil || ip.To4() != nil {
			return fmt.Errorf("%q is not an IPv6 address", d[1:end])
		}
		host, port = "", d[end+1:]
		if port != "" {
			if port[0] != ':' {
				return fmt.Errorf("unexpected %q after ']'", port)
			}
			port = port[1:]
			if port == "" {
				return fmt.Errorf("empty port")
			}
		}
	} else if i := strings.Index(d, ":"); i >= 0 {
		host, port = d[:i], d[i+1:]
		if port == "" {
			return fmt.Errorf("empty port")
		}
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return fmt.Errorf("port %q is not a number", port)
		}
	}
	if len(port) > 5 {
		return fmt.Errorf("port %q out of range", port)
	}
	if strings.HasPrefix(d, "[") {
		return nil
	}
	if host == "" {
		return fmt.Errorf("empty host name")
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" {
			return fmt.Errorf("empty label in host name")
		}
		if !isAlnum(label[0]) || !isAlnum(label[len(label)-1]) {
			return fmt.Errorf("label %q must start and end with a letter or digit", label)
		}
		for i := 0; i < len(label); i++ {
			if !(isAlnum(label[i]) || label[i] == '-') {
				return fmt.Errorf("character %q not allowed in host name", label[i])
			}
		}
	}
	return nil
}

// validPath checks components of lowercase letters and digits separated by
// '.', '_', '__' or runs of '-', joined by '/'.
func validPath(p string) error {
	if p == "" {
		return fmt.Errorf("empty")
	}
	for ci, comp := range strings.Split(p, "/") {
		if comp == "" {
			return fmt.Errorf("component %d is empty", ci)
		}
		if comp != strings.ToLower(comp) {
			return fmt.Errorf("component %q: uppercase letters are not allowed", comp)
		}
		if !isAlnumLower(comp[0]) || !isAlnumLower(comp[len(comp)-1]) {
			return fmt.Errorf("component %q must start and end with a lowercase letter or digit", comp)
		}
		for i := 0; i < len(comp); i++ {
			c := comp[i]
			switch {
			case isAlnumLower(c), c == '-':
			case c == '.':
				if comp[i-1] == '.' || comp[i-1] == '_' || comp[i-1] == '-' {
					return fmt.Errorf("component %q: separators may not be adjacent", comp)
				}
			case c == '_':
				if comp[i-1] == '.' || comp[i-1] == '-' || (comp[i-1] == '_' && i >= 2 && comp[i-2] == '_') || (comp[i-1] == '_' && comp[i+1] == '_') {
					return fmt.Errorf("component %q: at most two '_' in a row, not next to other separators", comp)
				}
			default:
				if c >= 'A' && c <= 'Z' {
					return fmt.Errorf("component %q: uppercase letters are not allowed", comp)
				}
				return fmt.Errorf("component %q: character %q not allowed", comp, c)
			}
			if c == '-' && (comp[i-1] == '.' || comp[i-1] == '_') {
				return fmt.Errorf("component %q: separators may not be adjacent", comp)
			}
		}
	}
	return nil
}
