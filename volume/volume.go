package volume

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berth-containers/berth/internal/errdefs"
)

// Driver is the only driver there is.
const Driver = "local"

// Volume is one named volume as Inspect and List report it.
type Volume struct {
	Name       string            `json:"name"`
	Driver     string            `json:"driver"`
	Mountpoint string            `json:"mountpoint"` // the host directory mounted into containers
	CreatedAt  time.Time         `json:"createdAt"`
	Labels     map[string]string `json:"labels,omitempty"`
	// UsedBy lists the containers using the volume (from the UsageFunc).
	UsedBy   []string `json:"usedBy,omitempty"`
	RefCount int      `json:"refCount"`
}

type meta struct {
	Name      string            `json:"name"`
	CreatedAt time.Time         `json:"createdAt"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// UsageFunc reports, per volume name, the IDs of the containers using it.
type UsageFunc func(ctx context.Context) (map[string][]string, error)

// Store is the volume store under one root directory.
type Store struct {
	root  string
	mu    sync.Mutex
	usage UsageFunc
}

// Option configures New.
type Option func(*Store)

// WithUsage sets where in-use counts come from (default: nothing in use).
func WithUsage(f UsageFunc) Option { return func(s *Store) { s.usage = f } }

// SetUsage sets the UsageFunc after construction (the daemon builds the
// container store after the volume store).
func (s *Store) SetUsage(f UsageFunc) {
	s.mu.Lock()
	s.usage = f
	s.mu.Unlock()
}

// New opens (creating) the store at root, e.g. <berthd root>/volumes, and
// removes temporary directories a crash left behind.
func New(root string, opts ...Option) (*Store, error) {
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("volume root %q: must be absolute: %w", root, errdefs.ErrInvalidArgument)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("volume root %s: %w", root, err)
	}
	s := &Store{root: root}
	for _, o := range opts {
		o(s)
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("volume root %s: %w", root, err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
	return s, nil
}

// Root returns the store's directory.
func (s *Store) Root() string { return s.root }

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ValidateName checks a volume name with Docker's rule for local volumes.
func ValidateName(name string) error {
	if len(name) > 255 || !nameRE.MatchString(name) {
		return fmt.Errorf("%q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path: %w", name, errdefs.ErrInvalidArgument)
	}
	return nil
}

// NewName returns a random 64-hex name, as anonymous volumes get.
func NewName() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Store) dir(name string) string { return filepath.Join(s.root, name) }

// Create creates the named volume, or returns the existing one unchanged
// (labels of an existing volume are not changed). An empty name makes an
// anonymous-style random name.
func (s *Store) Create(ctx context.Context, name string, labels map[string]string) (Volume, error) {
	v, _, err := s.Ensure(ctx, name, labels)
	return v, err
}

// Ensure is Create that also reports whether the volume was made now.
func (s *Store) Ensure(ctx context.Context, name string, labels map[string]string) (Volume, bool, error) {
	if name == "" {
		name = NewName()
	}
	if err := ValidateName(name); err != nil {
		return Volume{}, false, fmt.Errorf("create volume: %w", err)
	}
	for k := range labels {
		if k == "" {
			return Volume{}, false, fmt.Errorf("create volume %s: label with an empty key: %w", name, errdefs.ErrInvalidArgument)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, err := s.readMeta(name); err == nil {
		return s.toVolume(m), false, nil
	} else if !errdefs.IsNotFound(err) {
		return Volume{}, false, err
	}
	tmp, err := os.MkdirTemp(s.root, ".tmp-")
	if err != nil {
		return Volume{}, false, fmt.Errorf("create volume %s: %w", name, err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o701); err != nil {
		return Volume{}, false, fmt.Errorf("create volume %s: %w", name, err)
	}
	if err := os.Mkdir(filepath.Join(tmp, "_data"), 0o755); err != nil {
		return Volume{}, false, fmt.Errorf("create volume %s: %w", name, err)
	}
	m := meta{Name: name, CreatedAt: time.Now().UTC().Truncate(time.Second), Labels: labels}
	data, _ := json.Marshal(m)
	if err := writeFileSync(filepath.Join(tmp, "meta.json"), data); err != nil {
		return Volume{}, false, fmt.Errorf("create volume %s: %w", name, err)
	}
	if err := syncDir(tmp); err != nil {
		return Volume{}, false, fmt.Errorf("create volume %s: %w", name, err)
	}
	if err := os.Rename(tmp, s.dir(name)); err != nil {
		return Volume{}, false, fmt.Errorf("create volume %s: %w", name, err)
	}
	done = true
	if err := syncDir(s.root); err != nil {
		return Volume{}, false, fmt.Errorf("create volume %s: %w", name, err)
	}
	return s.toVolume(m), true, nil
}

func (s *Store) toVolume(m meta) Volume {
	return Volume{Name: m.Name, Driver: Driver, Mountpoint: filepath.Join(s.dir(m.Name), "_data"), CreatedAt: m.CreatedAt, Labels: m.Labels}
}

func (s *Store) readMeta(name string) (meta, error) {
	data, err := os.ReadFile(filepath.Join(s.dir(name), "meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return meta{}, fmt.Errorf("get %s: no such volume: %w", name, errdefs.ErrNotFound)
	}
	if err != nil {
		return meta{}, fmt.Errorf("volume %s: %w", name, err)
	}
	var m meta
	if err := json.Unmarshal(data, &m); err != nil {
		return meta{}, fmt.Errorf("volume %s: meta.json: %w", name, err)
	}
	m.Name = name
	return m, nil
}

func (s *Store) usageMap(ctx context.Context) (map[string][]string, error) {
	if s.usage == nil {
		return nil, nil
	}
	u, err := s.usage(ctx)
	if err != nil {
		return nil, fmt.Errorf("volume usage: %w", err)
	}
	return u, nil
}

// Inspect returns the named volume with its users.
func (s *Store) Inspect(ctx context.Context, name string) (Volume, error) {
	if err := ValidateName(name); err != nil {
		return Volume{}, fmt.Errorf("get %s: no such volume: %w", name, errdefs.ErrNotFound)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.readMeta(name)
	if err != nil {
		return Volume{}, err
	}
	u, err := s.usageMap(ctx)
	if err != nil {
		return Volume{}, err
	}
	v := s.toVolume(m)
	v.UsedBy = u[name]
	v.RefCount = len(v.UsedBy)
	return v, nil
}

// Filter selects volumes in List and Prune; empty fields match all.
type Filter struct {
	Name     string            // substring of the name
	Labels   map[string]string // each key must be present; a non-empty value must match
	Dangling *bool             // true: only volumes no container uses
}

// List returns the volumes matching f, sorted by name.
func (s *Store) List(ctx context.Context, f Filter) ([]Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.list(ctx, f)
}

func (s *Store) list(ctx context.Context, f Filter) ([]Volume, error) {
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	u, err := s.usageMap(ctx)
	if err != nil {
		return nil, err
	}
	var out []Volume
	for _, e := range ents {
		if !e.IsDir() || ValidateName(e.Name()) != nil {
			continue
		}
		m, err := s.readMeta(e.Name())
		if err != nil {
			continue
		}
		v := s.toVolume(m)
		v.UsedBy = u[v.Name]
		v.RefCount = len(v.UsedBy)
		if f.Name != "" && !strings.Contains(v.Name, f.Name) {
			continue
		}
		if !matchLabels(v.Labels, f.Labels) {
			continue
		}
		if f.Dangling != nil && *f.Dangling != (v.RefCount == 0) {
			continue
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func matchLabels(have, want map[string]string) bool {
	for k, v := range want {
		hv, ok := have[k]
		if !ok || (v != "" && hv != v) {
			return false
		}
	}
	return true
}

// Remove deletes the volume and its data. A volume some container uses is
// refused (errdefs.ErrFailedPrecondition, docker's "volume is in use"
// message) unless force is set.
func (s *Store) Remove(ctx context.Context, name string, force bool) error {
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("get %s: no such volume: %w", name, errdefs.ErrNotFound)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.readMeta(name); err != nil {
		return err
	}
	if !force {
		u, err := s.usageMap(ctx)
		if err != nil {
			return err
		}
		if users := u[name]; len(users) > 0 {
			return fmt.Errorf("remove %s: volume is in use - [%s]: %w", name, strings.Join(users, ", "), errdefs.ErrFailedPrecondition)
		}
	}
	return s.removeLocked(name)
}

func (s *Store) removeLocked(name string) error {
	// Rename first so a crash never leaves a half-deleted volume that
	// still looks like one.
	tmp := filepath.Join(s.root, ".tmp-rm-"+NewName()[:16])
	if err := os.Rename(s.dir(name), tmp); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// Prune removes every volume matching f that no container uses and
// returns the names removed. Like Docker, only anonymous volumes are pruned
// unless all is set (anonymous: labelled anonLabel).
func (s *Store) Prune(ctx context.Context, f Filter, all bool, anonLabel string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vols, err := s.list(ctx, f)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, v := range vols {
		if v.RefCount > 0 {
			continue
		}
		if !all && anonLabel != "" {
			if _, ok := v.Labels[anonLabel]; !ok {
				continue
			}
		}
		if err := s.removeLocked(v.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, v.Name)
	}
	slices.Sort(removed)
	return removed, errors.Join(errs...)
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
