package shim

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
)

// SocketDir holds sockets whose path under a long state directory would not
// fit a unix socket address (108 bytes).
const SocketDir = "/run/berth-shim"

// SocketPath is where a socket called name for stateDir lives: in stateDir
// when the path is short enough, else in SocketDir under a hash of it.
func SocketPath(stateDir, name string) string {
	p := filepath.Join(stateDir, name)
	if len(p) < 100 {
		return p
	}
	h := fnv.New64a()
	h.Write([]byte(stateDir))
	return filepath.Join(SocketDir, strconv.FormatUint(h.Sum64(), 36)+"-"+name)
}

// ReadConfig reads StateDir/shim.json.
func ReadConfig(stateDir string) (*Config, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, ConfigFile))
	if err != nil {
		return nil, err
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(stateDir, ConfigFile), err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(stateDir, ConfigFile), err)
	}
	return &c, nil
}

// ReadExit reads an exit record; (nil, nil) when there is none.
func ReadExit(path string) (*ExitStatus, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var e ExitStatus
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &e, nil
}

// Validate checks a Config.
func (c *Config) Validate() error {
	switch {
	case c.ID == "":
		return fmt.Errorf("shim config: id: missing")
	case !filepath.IsAbs(c.Bundle):
		return fmt.Errorf("shim config: bundle %q: must be an absolute path", c.Bundle)
	case !filepath.IsAbs(c.StateDir):
		return fmt.Errorf("shim config: stateDir %q: must be an absolute path", c.StateDir)
	case c.Runtime == "":
		return fmt.Errorf("shim config: runtime: missing")
	case c.Socket == "":
		return fmt.Errorf("shim config: socket: missing")
	}
	return nil
}
