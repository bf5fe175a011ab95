package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/berth-containers/berth/internal/atomicfile"
	"github.com/berth-containers/berth/internal/errdefs"
)

// dockerHubKey is the key Docker writes docker.io credentials under.
const dockerHubKey = "https://index.docker.io/v1/"

// DefaultConfigPath is $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
func DefaultConfigPath() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		home = "/root"
	}
	return filepath.Join(home, ".docker", "config.json")
}

// ConfigStore reads and writes credentials in a Docker-style config.json.
// The file is read at every Get, so a login is seen without a restart; other
// keys of the file are kept as they are when it is rewritten.
type ConfigStore struct {
	path string
	mu   sync.Mutex

	cacheMu  sync.Mutex
	cacheKey string // size, mtime and inode of the file last parsed
	cached   map[string]authEntry
}

// NewConfigStore returns a store over the config.json at path.
func NewConfigStore(path string) *ConfigStore { return &ConfigStore{path: path} }

// Path is the file the store uses.
func (s *ConfigStore) Path() string { return s.path }

type authEntry struct {
	Auth          string `json:"auth,omitempty"`
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

// keysFor lists the config keys that can hold host's credentials, best first.
func keysFor(host string) []string {
	keys := []string{host, "https://" + host, "http://" + host, "https://" + host + "/v1/", "https://" + host + "/v2/"}
	if host == "docker.io" || host == "index.docker.io" || host == "registry-1.docker.io" {
		keys = append([]string{dockerHubKey, "index.docker.io", "docker.io", "registry-1.docker.io", "https://index.docker.io/v1"}, keys...)
	}
	return keys
}

func (s *ConfigStore) load() (map[string]json.RawMessage, map[string]authEntry, error) {
	raw := map[string]json.RawMessage{}
	auths := map[string]authEntry{}
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return raw, auths, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("credentials %s: %w", s.path, err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return raw, auths, nil
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, nil, fmt.Errorf("credentials %s: %v: %w", s.path, err, errdefs.ErrInvalidArgument)
	}
	if a, ok := raw["auths"]; ok {
		if err := json.Unmarshal(a, &auths); err != nil {
			return nil, nil, fmt.Errorf("credentials %s: auths: %v: %w", s.path, err, errdefs.ErrInvalidArgument)
		}
	}
	return raw, auths, nil
}

// auths returns the parsed "auths", parsing the file again only when it changed.
func (s *ConfigStore) auths() (map[string]authEntry, error) {
	key := "absent"
	if fi, err := os.Stat(s.path); err == nil {
		var ino uint64
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ino = st.Ino
		}
		key = fmt.Sprintf("%d|%d|%d", fi.Size(), fi.ModTime().UnixNano(), ino)
	}
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if s.cached != nil && s.cacheKey == key {
		return s.cached, nil
	}
	_, auths, err := s.load()
	if err != nil {
		return nil, err
	}
	s.cacheKey, s.cached = key, auths
	return auths, nil
}

// Get implements CredentialStore.
func (s *ConfigStore) Get(_ context.Context, host string) (Credentials, error) {
	auths, err := s.auths()
	if err != nil {
		return Credentials{}, err
	}
	for _, k := range keysFor(host) {
		e, ok := auths[k]
		if !ok {
			continue
		}
		c := Credentials{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken}
		if e.Auth != "" {
			dec, err := base64.StdEncoding.DecodeString(e.Auth)
			if err != nil {
				return Credentials{}, fmt.Errorf("credentials %s: auths[%q].auth: not base64: %w", s.path, k, errdefs.ErrInvalidArgument)
			}
			user, pass, ok := strings.Cut(string(dec), ":")
			if !ok {
				return Credentials{}, fmt.Errorf("credentials %s: auths[%q].auth: not user:password: %w", s.path, k, errdefs.ErrInvalidArgument)
			}
			c.Username, c.Password = user, pass
		}
		return c, nil
	}
	return Credentials{}, nil
}

// Store records c for host (replacing what was there) with a crash-safe rewrite.
func (s *ConfigStore) Store(host string, c Credentials) error {
	if host == "" {
		return fmt.Errorf("credentials: host: empty: %w", errdefs.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	raw, auths, err := s.load()
	if err != nil {
		return err
	}
	for _, k := range keysFor(host) {
		delete(auths, k)
	}
	key := host
	if keysFor(host)[0] == dockerHubKey {
		key = dockerHubKey
	}
	e := authEntry{IdentityToken: c.IdentityToken}
	if c.Username != "" || c.Password != "" {
		e.Auth = base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + c.Password))
	}
	auths[key] = e
	return s.save(raw, auths)
}

// Erase removes host's credentials; it returns an ErrNotFound error if there were none.
func (s *ConfigStore) Erase(host string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	raw, auths, err := s.load()
	if err != nil {
		return err
	}
	found := false
	for _, k := range keysFor(host) {
		if _, ok := auths[k]; ok {
			found = true
			delete(auths, k)
		}
	}
	if !found {
		return fmt.Errorf("credentials for %s: %w", host, errdefs.ErrNotFound)
	}
	return s.save(raw, auths)
}

func (s *ConfigStore) save(raw map[string]json.RawMessage, auths map[string]authEntry) error {
	a, err := json.Marshal(auths)
	if err != nil {
		return err
	}
	raw["auths"] = a
	data, err := json.MarshalIndent(raw, "", "\t")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.path, append(data, '\n'), 0o600)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("credentials %s: %w", path, err)
	}
	if err := atomicfile.Write(path, data, mode); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	return nil
}
