package daemon

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
)

// Config is berthd's configuration (/etc/berth/config.toml). Every key has a
// default; DefaultConfigTOML prints them with their documentation.
type Config struct {
	// Root holds persistent state: metadata, content, snapshots.
	Root string `toml:"root"`
	// State holds runtime state that does not survive a reboot: sockets, shim state.
	State string `toml:"state"`
	// Address is the unix socket the API is served on.
	Address string `toml:"address"`
	// LogLevel is one of debug, info, warn, error.
	LogLevel string `toml:"log_level"`
	// LogFormat is text or json.
	LogFormat string `toml:"log_format"`
	// Snapshotter is auto, overlayfs or native. auto uses overlayfs when it
	// can be mounted on root's filesystem, native otherwise.
	Snapshotter string `toml:"snapshotter"`
	// MaxConcurrentDownloads bounds the layers one pull fetches at once.
	MaxConcurrentDownloads int `toml:"max_concurrent_downloads"`
	// Registry configures how registries are reached.
	Registry RegistryConfig `toml:"registry"`
	// Network configures the default bridge network.
	Network NetworkConfig `toml:"network"`
	// Runtimes are named OCI runtime handlers (`berth run --runtime NAME`),
	// beside the built-in berth-runtime, runc and crun.
	Runtimes map[string]RuntimeConfig `toml:"runtimes"`
}

// RuntimeConfig is one [runtimes.NAME] table.
type RuntimeConfig struct {
	// Path is the runtime binary (absolute).
	Path string `toml:"path"`
	// Root is its --root; "" means <state>/runtime/NAME.
	Root string `toml:"root"`
}

// NetworkConfig is the [network] table.
type NetworkConfig struct {
	// DefaultBridge is the Linux bridge of the default network ("" berth0).
	DefaultBridge string `toml:"default_bridge"`
	// DefaultSubnet is the default network's IPv4 subnet ("" 10.88.0.0/16).
	DefaultSubnet string `toml:"default_subnet"`
}

// RegistryConfig is the [registry] table.
type RegistryConfig struct {
	// ConfigPath is a certs.d directory: <dir>/<host[:port]>/hosts.toml
	// (containerd semantics), ca.crt, client *.cert/*.key.
	ConfigPath string `toml:"config_path"`
	// AuthFile is the docker-style config.json holding credentials that
	// `berth login` writes; "" means <root>/auth/config.json.
	AuthFile string `toml:"auth_file"`
	// Mirrors maps a registry host to mirror URLs tried before it (pull and
	// resolve only), e.g. "docker.io" = ["https://mirror.example.com"].
	Mirrors map[string][]string `toml:"mirrors"`
	// PlainHTTP lists hosts ("host:port" or "host") reached over plain HTTP.
	// Loopback hosts are plain HTTP already unless their certs.d configures TLS.
	PlainHTTP []string `toml:"plain_http"`
	// SkipVerify lists hosts whose TLS certificates are not verified.
	SkipVerify []string `toml:"skip_verify"`
}

// DefaultConfig returns the built-in defaults.
func DefaultConfig() Config {
	return Config{
		Root:                   "/var/lib/berth",
		State:                  "/run/berth",
		Address:                "/run/berth/berthd.sock",
		LogLevel:               "info",
		LogFormat:              "text",
		Snapshotter:            "auto",
		MaxConcurrentDownloads: 6,
		Registry: RegistryConfig{
			ConfigPath: "/etc/berth/certs.d",
		},
	}
}

// AuthFile is where credentials are kept.
func (c Config) AuthFile() string {
	if c.Registry.AuthFile != "" {
		return c.Registry.AuthFile
	}
	return filepath.Join(c.Root, "auth", "config.json")
}

// LoadConfig reads path over the defaults. A missing file at the default path
// is not an error (the defaults apply); a missing explicit path is.
func LoadConfig(path string, mustExist bool) (Config, error) {
	c := DefaultConfig()
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) && !mustExist {
			return c, nil
		}
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return c, fmt.Errorf("config %s: unknown key %q", path, und[0].String())
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Validate checks values that TOML types cannot.
func (c Config) Validate() error {
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("config: log_format %q: want text or json", c.LogFormat)
	}
	for _, kv := range [][2]string{{"root", c.Root}, {"state", c.State}, {"address", c.Address}} {
		if v := kv[1]; v == "" || v[0] != '/' {
			return fmt.Errorf("config: %s %q: must be an absolute path", kv[0], v)
		}
	}
	switch c.Snapshotter {
	case "auto", "overlayfs", "native":
	default:
		return fmt.Errorf("config: snapshotter %q: want auto, overlayfs or native", c.Snapshotter)
	}
	if c.MaxConcurrentDownloads < 1 || c.MaxConcurrentDownloads > 64 {
		return fmt.Errorf("config: max_concurrent_downloads %d: want 1..64", c.MaxConcurrentDownloads)
	}
	for _, kv := range [][2]string{{"registry.config_path", c.Registry.ConfigPath}, {"registry.auth_file", c.Registry.AuthFile}} {
		if v := kv[1]; v != "" && v[0] != '/' {
			return fmt.Errorf("config: %s %q: must be an absolute path", kv[0], v)
		}
	}
	for host, urls := range c.Registry.Mirrors {
		if host == "" || strings.ContainsAny(host, "/ ") {
			return fmt.Errorf("config: registry.mirrors key %q: want a registry host such as \"docker.io\"", host)
		}
		for i, u := range urls {
			if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
				return fmt.Errorf("config: registry.mirrors.%q[%d] %q: want an http:// or https:// URL", host, i, u)
			}
		}
	}
	for name, r := range c.Runtimes {
		if name == "" || strings.ContainsAny(name, "/ .") {
			return fmt.Errorf("config: runtimes key %q: want a name without '/', '.' or spaces", name)
		}
		if !filepath.IsAbs(r.Path) {
			return fmt.Errorf("config: runtimes.%s.path %q: must be an absolute path", name, r.Path)
		}
		if r.Root != "" && !filepath.IsAbs(r.Root) {
			return fmt.Errorf("config: runtimes.%s.root %q: must be an absolute path", name, r.Root)
		}
	}
	for i, h := range c.Registry.PlainHTTP {
		if h == "" || strings.ContainsAny(h, "/ ") {
			return fmt.Errorf("config: registry.plain_http[%d] %q: want host or host:port", i, h)
		}
	}
	for i, h := range c.Registry.SkipVerify {
		if h == "" || strings.ContainsAny(h, "/ ") {
			return fmt.Errorf("config: registry.skip_verify[%d] %q: want host or host:port", i, h)
		}
	}
	return nil
}

// DefaultConfigTOML renders the defaults with a comment per key.
func DefaultConfigTOML() string {
	d := DefaultConfig()
	var b bytes.Buffer
	fmt.Fprintf(&b, "# berthd configuration. Every key is shown with its default.\n\n")
	fmt.Fprintf(&b, "# Persistent state: metadata, content, snapshots.\nroot = %q\n\n", d.Root)
	fmt.Fprintf(&b, "# Runtime state (sockets, shim state); cleared by a reboot.\nstate = %q\n\n", d.State)
	fmt.Fprintf(&b, "# Unix socket the berth API is served on.\naddress = %q\n\n", d.Address)
	fmt.Fprintf(&b, "# debug, info, warn or error.\nlog_level = %q\n\n", d.LogLevel)
	fmt.Fprintf(&b, "# text or json.\nlog_format = %q\n\n", d.LogFormat)
	fmt.Fprintf(&b, "# auto, overlayfs or native. auto uses overlayfs when it can be mounted on\n# root's filesystem and the copying native snapshotter otherwise.\nsnapshotter = %q\n\n", d.Snapshotter)
	fmt.Fprintf(&b, "# Layers one pull downloads (and unpacks) at once, 1..64.\nmax_concurrent_downloads = %d\n\n", d.MaxConcurrentDownloads)
	fmt.Fprintf(&b, "[registry]\n")
	fmt.Fprintf(&b, "# certs.d directory: <dir>/<host[:port]>/hosts.toml (containerd semantics: a\n# mirror serves the repository path without the upstream host), ca.crt and\n# client *.cert/*.key pairs.\nconfig_path = %q\n\n", d.Registry.ConfigPath)
	fmt.Fprintf(&b, "# Docker-style config.json with the credentials `berth login` stores;\n# empty means <root>/auth/config.json.\nauth_file = %q\n\n", d.Registry.AuthFile)
	fmt.Fprintf(&b, "# Hosts reached over plain HTTP (\"host:port\" or \"host\"). Loopback registries\n# (localhost, 127.0.0.0/8, ::1) are plain HTTP already unless certs.d sets TLS.\nplain_http = []\n\n")
	fmt.Fprintf(&b, "# Hosts whose TLS certificates are not verified.\nskip_verify = []\n\n")
	fmt.Fprintf(&b, "# Mirrors tried, in order, before a registry host (pull and resolve only).\n[registry.mirrors]\n# \"docker.io\" = [\"https://mirror.example.com\"]\n")
	fmt.Fprintf(&b, "\n# The default bridge network (\"\" = berth0 and 10.88.0.0/16).\n[network]\ndefault_bridge = \"\"\ndefault_subnet = \"\"\n")
	fmt.Fprintf(&b, "\n# More OCI runtime handlers for `berth run --runtime NAME` (berth-runtime, runc\n# and crun are built in). root defaults to <state>/runtime/NAME.\n# [runtimes.myrunc]\n# path = \"/usr/sbin/runc\"\n# root = \"\"\n")
	return b.String()
}
