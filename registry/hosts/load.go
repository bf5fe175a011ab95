package hosts

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/registry/reference"
)

// HostsFile is the name of the per-host file in a certs.d directory.
const HostsFile = "hosts.toml"

// DefaultDir is the directory berthd reads unless configured otherwise.
const DefaultDir = "/etc/berth/certs.d"

// hostFields are the settings shared by the top level (the upstream server)
// and each [host."…"] table of hosts.toml.
type hostFields struct {
	Capabilities []string       `toml:"capabilities"`
	CA           any            `toml:"ca"`     // "path" or ["path", …]
	Client       any            `toml:"client"` // "cert" or ["cert","key"] or [["cert","key"], …]
	SkipVerify   *bool          `toml:"skip_verify"`
	OverridePath bool           `toml:"override_path"`
	Header       map[string]any `toml:"header"` // "v" or ["v1","v2"]
}

type hostsTOML struct {
	Server string `toml:"server"`
	hostFields
	Host map[string]hostFields `toml:"host"`
}

// File is a parsed hosts.toml: the upstream server (zero if not set) and the
// hosts in the order they appear.
type File struct {
	Server *Endpoint
	Hosts  []Endpoint
}

// ParseFile parses hosts.toml data; dir resolves relative ca/client paths and
// path names the file in errors.
func ParseFile(data []byte, dir, path string) (File, error) {
	var raw hostsTOML
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		return File{}, fmt.Errorf("%s: %v: %w", path, err, errdefs.ErrInvalidArgument)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return File{}, fmt.Errorf("%s: unknown key %q: %w", path, und[0].String(), errdefs.ErrInvalidArgument)
	}
	var f File
	src := "hosts.toml " + path
	if raw.Server != "" {
		ep, err := endpointFrom(raw.Server, raw.hostFields, dir, "server")
		if err != nil {
			return File{}, fmt.Errorf("%s: %w", path, err)
		}
		ep.Source = src
		f.Server = &ep
	} else if len(raw.Capabilities) > 0 || raw.CA != nil || raw.Client != nil || raw.SkipVerify != nil || raw.OverridePath || len(raw.Header) > 0 {
		// Settings without a server apply to the default upstream.
		ep, err := endpointFrom("", raw.hostFields, dir, "server")
		if err != nil {
			return File{}, fmt.Errorf("%s: %w", path, err)
		}
		ep.Source = src
		f.Server = &ep
	}
	// Keep the order of [host."…"] tables as written.
	var order []string
	seen := map[string]bool{}
	for _, k := range md.Keys() {
		if len(k) >= 2 && k[0] == "host" && !seen[k[1]] {
			seen[k[1]] = true
			order = append(order, k[1])
		}
	}
	for _, name := range order {
		if strings.TrimSpace(name) == "" {
			return File{}, fmt.Errorf("%s: %w", path, fieldErr(`host.""`, "empty URL"))
		}
		ep, err := endpointFrom(name, raw.Host[name], dir, fmt.Sprintf("host.%q", name))
		if err != nil {
			return File{}, fmt.Errorf("%s: %w", path, err)
		}
		ep.Mirror = true
		ep.Source = src
		f.Hosts = append(f.Hosts, ep)
	}
	return f, nil
}

func fieldErr(field, format string, a ...any) error {
	return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, a...), errdefs.ErrInvalidArgument)
}

// endpointFrom builds an endpoint from a URL ("" = unset, filled later) and its settings.
func endpointFrom(rawURL string, h hostFields, dir, field string) (Endpoint, error) {
	var ep Endpoint
	if rawURL != "" {
		u, err := parseHostURL(rawURL)
		if err != nil {
			return Endpoint{}, fieldErr(field, "%v", err)
		}
		ep.Scheme, ep.Host = u.Scheme, u.Host
		ep.Path = apiPath(u.Path, h.OverridePath)
	}
	ep.Capabilities = CapAll
	if len(h.Capabilities) > 0 {
		ep.Capabilities = 0
		for _, c := range h.Capabilities {
			switch c {
			case "pull":
				ep.Capabilities |= CapPull
			case "resolve":
				ep.Capabilities |= CapResolve
			case "push":
				ep.Capabilities |= CapPush
			default:
				return Endpoint{}, fieldErr(field+".capabilities", "unknown capability %q (pull, resolve, push)", c)
			}
		}
	}
	if h.SkipVerify != nil {
		ep.SkipVerify = *h.SkipVerify
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) || dir == "" {
			return p
		}
		return filepath.Join(dir, p)
	}
	switch ca := h.CA.(type) {
	case nil:
	case string:
		ep.CAFiles = []string{abs(ca)}
	case []any:
		for i, c := range ca {
			s, ok := c.(string)
			if !ok {
				return Endpoint{}, fieldErr(fmt.Sprintf("%s.ca[%d]", field, i), "must be a path string")
			}
			ep.CAFiles = append(ep.CAFiles, abs(s))
		}
	default:
		return Endpoint{}, fieldErr(field+".ca", "must be a path or a list of paths")
	}
	switch cl := h.Client.(type) {
	case nil:
	case string:
		ep.ClientCerts = [][2]string{{abs(cl), ""}}
	case []any:
		if len(cl) == 2 {
			a, aok := cl[0].(string)
			b, bok := cl[1].(string)
			if aok && bok {
				ep.ClientCerts = [][2]string{{abs(a), abs(b)}}
				break
			}
		}
		for i, pair := range cl {
			p, ok := pair.([]any)
			if !ok || len(p) != 2 {
				return Endpoint{}, fieldErr(fmt.Sprintf("%s.client[%d]", field, i), "must be [cert, key]")
			}
			a, aok := p[0].(string)
			b, bok := p[1].(string)
			if !aok || !bok {
				return Endpoint{}, fieldErr(fmt.Sprintf("%s.client[%d]", field, i), "must be [cert, key] path strings")
			}
			ep.ClientCerts = append(ep.ClientCerts, [2]string{abs(a), abs(b)})
		}
	default:
		return Endpoint{}, fieldErr(field+".client", "must be a path, [cert, key] or a list of [cert, key]")
	}
	if len(h.Header) > 0 {
		ep.Header = http.Header{}
		keys := make([]string, 0, len(h.Header))
		for k := range h.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch v := h.Header[k].(type) {
			case string:
				ep.Header.Add(k, v)
			case []any:
				for i, x := range v {
					s, ok := x.(string)
					if !ok {
						return Endpoint{}, fieldErr(fmt.Sprintf("%s.header.%s[%d]", field, k, i), "must be a string")
					}
					ep.Header.Add(k, s)
				}
			default:
				return Endpoint{}, fieldErr(field+".header."+k, "must be a string or a list of strings")
			}
		}
	}
	return ep, nil
}

// parseHostURL accepts "https://host[:port][/path]" or a bare "host[:port]"
// (taken as https).
func parseHostURL(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q: %v", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: scheme %q, want http or https", s, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q: no host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%q: query, fragment and user info are not allowed", s)
	}
	return u, nil
}

// apiPath is the API root for a URL path: "/v2" appended unless already there
// or override_path is set.
func apiPath(p string, override bool) string {
	p = strings.TrimRight(p, "/")
	if override {
		return p
	}
	if !strings.HasSuffix(p, "/v2") {
		p += "/v2"
	}
	return p
}

// hostDirName is the certs.d directory name of a host: as written, with the
// port (Docker's and containerd's convention).
func hostDirName(host string) string { return host }

func matchHost(list []string, host string) bool {
	for _, h := range list {
		if strings.EqualFold(h, host) {
			return true
		}
		if !strings.Contains(h, ":") || strings.HasPrefix(h, "[") && !strings.Contains(h, "]:") {
			if hn := hostOnly(host); strings.EqualFold(strings.Trim(h, "[]"), hn) {
				return true
			}
		}
	}
	return false
}

func hostOnly(hostport string) string {
	if strings.HasPrefix(hostport, "[") {
		if i := strings.Index(hostport, "]"); i > 0 {
			return hostport[1:i]
		}
	}
	if strings.Count(hostport, ":") == 1 {
		return hostport[:strings.Index(hostport, ":")]
	}
	return hostport
}

// legacyCerts reads Docker's certs.d layout in dir: *.crt are CAs, *.cert
// with the *.key of the same name are client certificates.
func legacyCerts(dir string) (cas []string, clients [][2]string, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".crt"):
			cas = append(cas, filepath.Join(dir, name))
		case strings.HasSuffix(name, ".cert"):
			key := strings.TrimSuffix(name, ".cert") + ".key"
			if _, err := os.Stat(filepath.Join(dir, key)); err != nil {
				return nil, nil, fmt.Errorf("client certificate %s: missing key %s", filepath.Join(dir, name), key)
			}
			clients = append(clients, [2]string{filepath.Join(dir, name), filepath.Join(dir, key)})
		}
	}
	return cas, clients, nil
}

// Endpoints returns the ordered endpoints for registry host (a reference's
// domain, e.g. "docker.io" or "127.0.0.1:5000"): the [host] entries of its
// hosts.toml in file order, then the configured mirrors, then the upstream.
func (c Config) Endpoints(host string) ([]Endpoint, error) {
	if host == "" {
		return nil, fmt.Errorf("registry host: empty: %w", errdefs.ErrInvalidArgument)
	}
	var file File
	hostDir := ""
	var legacyCA []string
	var legacyClient [][2]string
	if c.Dir != "" {
		hostDir = filepath.Join(c.Dir, hostDirName(host))
		data, err := os.ReadFile(filepath.Join(hostDir, HostsFile))
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(hostDir); serr != nil {
				// No directory for this host: containerd's _default applies.
				def := filepath.Join(c.Dir, "_default")
				if d2, err2 := os.ReadFile(filepath.Join(def, HostsFile)); err2 == nil {
					hostDir, data, err = def, d2, nil
				}
			}
		}
		switch {
		case err == nil:
			file, err = ParseFile(data, hostDir, filepath.Join(hostDir, HostsFile))
			if err != nil {
				return nil, err
			}
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("registry host %s: %w", host, err)
		}
		legacyCA, legacyClient, err = legacyCerts(hostDir)
		if err != nil {
			return nil, fmt.Errorf("registry host %s: certs.d: %w", host, err)
		}
	}
	var eps []Endpoint
	for _, h := range file.Hosts {
		h.Upstream = host
		eps = append(eps, c.finish(h))
	}
	for i, m := range c.Mirrors[host] {
		u, err := parseHostURL(m)
		if err != nil {
			return nil, fmt.Errorf("mirrors[%q][%d]: %v: %w", host, i, err, errdefs.ErrInvalidArgument)
		}
		scheme := u.Scheme
		if !strings.Contains(m, "://") && (reference.IsLoopbackHost(u.Host) || matchHost(c.PlainHTTP, u.Host)) {
			scheme = "http"
		}
		eps = append(eps, c.finish(Endpoint{
			Host: u.Host, Scheme: scheme, Path: apiPath(u.Path, false),
			Capabilities: CapPull | CapResolve, Mirror: true, Upstream: host, Source: "config mirrors",
		}))
	}
	up := Endpoint{Capabilities: CapAll, Source: "default"}
	if file.Server != nil {
		up = *file.Server
	}
	up.Upstream = host
	if up.Host == "" {
		up.Host = host
		if host == reference.DefaultDomain {
			up.Host = reference.DockerHubEndpoint
		}
		up.Path = "/v2"
		if len(up.CAFiles) == 0 {
			up.CAFiles = legacyCA
		}
		if len(up.ClientCerts) == 0 {
			up.ClientCerts = legacyClient
		}
		tlsConfigured := len(up.CAFiles) > 0 || len(up.ClientCerts) > 0 || up.SkipVerify
		switch {
		case matchHost(c.PlainHTTP, host):
			up.Scheme = "http"
		case reference.IsLoopbackHost(host) && !tlsConfigured:
			up.Scheme = "http"
		default:
			up.Scheme = "https"
		}
	} else {
		if len(up.CAFiles) == 0 {
			up.CAFiles = legacyCA
		}
		if len(up.ClientCerts) == 0 {
			up.ClientCerts = legacyClient
		}
	}
	up.Mirror = false
	eps = append(eps, c.finish(up))
	return eps, nil
}

func (c Config) finish(e Endpoint) Endpoint {
	if matchHost(c.SkipVerify, e.Host) {
		e.SkipVerify = true
	}
	if e.Scheme == "http" {
		e.SkipVerify = false
		e.CAFiles, e.ClientCerts = nil, nil
	}
	return e
}

// TLSConfig builds the TLS client configuration of an https endpoint: the
// system roots plus CAFiles, the client certificates, and SkipVerify.
func (e Endpoint) TLSConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: e.SkipVerify} //nolint:gosec // asked for by configuration
	if len(e.CAFiles) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		for _, f := range e.CAFiles {
			pem, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("registry %s: ca %s: %w", e.Host, f, err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("registry %s: ca %s: no PEM certificate found: %w", e.Host, f, errdefs.ErrInvalidArgument)
			}
		}
		cfg.RootCAs = pool
	}
	for _, pair := range e.ClientCerts {
		keyFile := pair[1]
		if keyFile == "" {
			keyFile = pair[0]
		}
		cert, err := tls.LoadX509KeyPair(pair[0], keyFile)
		if err != nil {
			return nil, fmt.Errorf("registry %s: client certificate %s: %w", e.Host, pair[0], err)
		}
		cfg.Certificates = append(cfg.Certificates, cert)
	}
	return cfg, nil
}

// Validate checks the configuration as a daemon loads it: mirror URLs parse,
// host lists are not empty strings, and Dir, when set, is a directory (it may
// be absent: no host is configured). hosts.toml files are read, and checked,
// when a host is first used.
func (c Config) Validate() error {
	for host, ms := range c.Mirrors {
		if host == "" {
			return fmt.Errorf("mirrors: empty registry host: %w", errdefs.ErrInvalidArgument)
		}
		for i, m := range ms {
			if _, err := parseHostURL(m); err != nil {
				return fmt.Errorf("mirrors[%q][%d]: %v: %w", host, i, err, errdefs.ErrInvalidArgument)
			}
		}
	}
	for name, list := range map[string][]string{"plain_http": c.PlainHTTP, "skip_verify": c.SkipVerify} {
		for i, h := range list {
			if strings.TrimSpace(h) == "" || strings.Contains(h, "/") {
				return fmt.Errorf("%s[%d] %q: want host or host:port: %w", name, i, h, errdefs.ErrInvalidArgument)
			}
		}
	}
	if c.Dir != "" {
		fi, err := os.Stat(c.Dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return fmt.Errorf("config_path %s: %w", c.Dir, err)
		case !fi.IsDir():
			return fmt.Errorf("config_path %s: not a directory: %w", c.Dir, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}
