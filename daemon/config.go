package daemon

import (
	"bytes"
	"fmt"
	"os"

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
}

// DefaultConfig returns the built-in defaults.
func DefaultConfig() Config {
	return Config{
		Root:      "/var/lib/berth",
		State:     "/run/berth",
		Address:   "/run/berth/berthd.sock",
		LogLevel:  "info",
		LogFormat: "text",
	}
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
	return c, c.Validate()
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
	for k, v := range map[string]string{"root": c.Root, "state": c.State, "address": c.Address} {
		if v == "" || v[0] != '/' {
			return fmt.Errorf("config: %s %q: must be an absolute path", k, v)
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
	fmt.Fprintf(&b, "# text or json.\nlog_format = %q\n", d.LogFormat)
	return b.String()
}
