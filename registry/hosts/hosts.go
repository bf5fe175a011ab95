package hosts

import (
	"net/http"
	"strings"
)

// Capabilities is what an endpoint may be used for.
type Capabilities uint8

const (
	CapPull Capabilities = 1 << iota
	CapResolve
	CapPush

	CapAll = CapPull | CapResolve | CapPush
)

// String lists the capabilities as "pull,resolve,push".
func (c Capabilities) String() string {
	var s []string
	if c&CapPull != 0 {
		s = append(s, "pull")
	}
	if c&CapResolve != 0 {
		s = append(s, "resolve")
	}
	if c&CapPush != 0 {
		s = append(s, "push")
	}
	return strings.Join(s, ",")
}

// Has reports whether all of want are in c.
func (c Capabilities) Has(want Capabilities) bool { return c&want == want }

// Config is where to find registry host settings.
// The TOML keys let a daemon configuration embed it as a table.
type Config struct {
	// Dir is the certs.d directory (e.g. /etc/berth/certs.d); "" reads none.
	Dir string `toml:"config_path"`
	// Mirrors maps an upstream host ("docker.io") to mirror URLs
	// ("https://mirror.example.com", "http://10.0.0.1:5000/v2/proxy"). They
	// are tried, in order, after those of the host's hosts.toml and before
	// the upstream, for pull and resolve only.
	Mirrors map[string][]string `toml:"mirrors"`
	// PlainHTTP lists hosts ("host:port", or "host" for any port) reached
	// over plain HTTP instead of HTTPS.
	PlainHTTP []string `toml:"plain_http"`
	// SkipVerify lists hosts whose TLS certificates are not verified.
	SkipVerify []string `toml:"skip_verify"`
}

// Endpoint is one place a repository can be reached.
type Endpoint struct {
	Host         string // host[:port] the requests go to
	Scheme       string // "https" or "http"
	Path         string // API root, "/v2" unless overridden
	Capabilities Capabilities
	Mirror       bool   // true when this endpoint is not the upstream itself
	Upstream     string // the reference's registry host (for the ns= query on mirrors)
	SkipVerify   bool
	CAFiles      []string    // extra CA certificates (PEM files)
	ClientCerts  [][2]string // cert, key PEM file pairs
	Header       http.Header // extra request headers
	Source       string      // where this endpoint came from: "default", "hosts.toml <path>", "config mirrors"
}

// String is a one-line description: "https://mirror.example.com/v2 (pull,resolve; mirror; hosts.toml /etc/…)".
func (e Endpoint) String() string {
	var notes []string
	notes = append(notes, e.Capabilities.String())
	if e.Mirror {
		notes = append(notes, "mirror")
	}
	if e.SkipVerify {
		notes = append(notes, "skip-verify")
	}
	if len(e.CAFiles) > 0 {
		notes = append(notes, "ca="+strings.Join(e.CAFiles, ","))
	}
	if e.Source != "" {
		notes = append(notes, e.Source)
	}
	return e.URL() + " (" + strings.Join(notes, "; ") + ")"
}

// URL is scheme://host/path of the API root.
func (e Endpoint) URL() string { return e.Scheme + "://" + e.Host + e.Path }
