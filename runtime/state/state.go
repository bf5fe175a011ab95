package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/atomicfile"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/runtime/spec"
)

// DefaultRoot is berth-runtime's default --root.
const DefaultRoot = "/run/berth-runtime"

// File names inside a container's state directory.
const (
	StateFile = "state.json"
	FifoFile  = "exec.fifo"
)

// State is what state.json holds.
type State struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Pid         int               `json:"pid"`
	StartTime   uint64            `json:"startTime"` // field 22 of /proc/<pid>/stat
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// CreateDone is false while create runs (or when it crashed): status "creating".
	CreateDone bool            `json:"createDone"`
	Cgroup     json.RawMessage `json:"cgroup,omitempty"` // cgroups.Saved
	Rootless   bool            `json:"rootless,omitempty"`
	// Hooks are the configuration's hooks, kept apart so that start and delete
	// run theirs without decoding the whole configuration.
	Hooks *specs.Hooks `json:"hooks,omitempty"`
	// Format is 2 where Hooks is recorded (earlier files: only in config).
	Format int `json:"format,omitempty"`
	// RawConfig is the container's validated configuration as recorded; Spec
	// decodes it on first use (exec, update).
	RawConfig json.RawMessage `json:"config"`

	config *specs.Spec
}

const stateFormat = 2

// SetSpec records s as the container's configuration; raw, when not nil, is
// s as JSON (config.json's content), recorded as it is.
func (st *State) SetSpec(s *specs.Spec, raw []byte) {
	st.config = s
	st.RawConfig = raw
}

// Spec returns the container's configuration, decoding it on first use; nil
// when none was recorded.
func (st *State) Spec() (*specs.Spec, error) {
	if st.config != nil || len(st.RawConfig) == 0 || string(st.RawConfig) == "null" {
		return st.config, nil
	}
	var s specs.Spec
	if err := spec.DecodeJSON(st.RawConfig, &s); err != nil {
		return nil, fmt.Errorf("container %q: %s: config: %w", st.ID, StateFile, err)
	}
	st.config = &s
	return st.config, nil
}

// ConfigHooks returns the configuration's hooks (nil: none).
func (st *State) ConfigHooks() (*specs.Hooks, error) {
	if st.config != nil {
		return st.config.Hooks, nil
	}
	if st.Format >= stateFormat {
		return st.Hooks, nil
	}
	s, err := st.Spec()
	if err != nil || s == nil {
		return nil, err
	}
	return s.Hooks, nil
}

// Handle is a locked container state directory.
type Handle struct {
	ID  string
	Dir string
	fd  int
}

// Create claims id under root: it validates id, makes the directory (0711) and
// locks it. An existing id is an errdefs.ErrAlreadyExists error.
func Create(root, id string) (*Handle, error) {
	if err := spec.ValidateID(id); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("state root %s: %w", root, err)
	}
	dir := filepath.Join(root, id)
	if err := unix.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("container %q: %w", id, errdefs.ErrAlreadyExists)
		}
		return nil, fmt.Errorf("container %q: make state dir %s: %w", id, dir, err)
	}
	// Mkdir honours the umask; the directory must be traversable by everyone.
	_ = unix.Chmod(dir, 0o711)
	h, err := lock(id, dir)
	if err != nil {
		_ = os.Remove(dir)
		return nil, err
	}
	return h, nil
}

// Open locks the existing state directory of id. A missing container is an
// errdefs.ErrNotFound error.
func Open(root, id string) (*Handle, error) {
	if err := spec.ValidateID(id); err != nil {
		return nil, err
	}
	return lock(id, filepath.Join(root, id))
}

func lock(id, dir string) (*Handle, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("container %q does not exist: %w", id, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("container %q: open state dir: %w", id, err)
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("container %q: lock state dir: %w", id, err)
	}
	// A concurrent delete may have removed the directory while we waited.
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Nlink == 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("container %q does not exist: %w", id, errdefs.ErrNotFound)
	}
	return &Handle{ID: id, Dir: dir, fd: fd}, nil
}

// Unlock releases the lock; the directory stays.
func (h *Handle) Unlock() {
	if h != nil && h.fd >= 0 {
		unix.Close(h.fd)
		h.fd = -1
	}
}

// Remove deletes the state directory and releases the lock.
func (h *Handle) Remove() error {
	err := os.RemoveAll(h.Dir)
	h.Unlock()
	if err != nil {
		return fmt.Errorf("container %q: remove state dir: %w", h.ID, err)
	}
	return nil
}

// Path returns a file name inside the state directory.
func (h *Handle) Path(name string) string { return filepath.Join(h.Dir, name) }

// Save writes st as state.json crash-safely.
func (h *Handle) Save(st *State) error {
	if st.config != nil {
		if st.RawConfig == nil {
			raw, err := json.Marshal(st.config)
			if err != nil {
				return fmt.Errorf("container %q: encode config: %w", h.ID, err)
			}
			st.RawConfig = raw
		}
		st.Hooks = st.config.Hooks
	}
	st.Format = stateFormat
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("container %q: encode state: %w", h.ID, err)
	}
	return atomicfile.Replace(h.Path(StateFile), b, 0o600)
}

// Load reads state.json of a locked handle.
func (h *Handle) Load() (*State, error) { return Read(filepath.Dir(h.Dir), h.ID) }

// Read reads id's state.json without locking (renames keep it consistent).
// A missing file is errdefs.ErrNotFound.
func Read(root, id string) (*State, error) {
	if err := spec.ValidateID(id); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(root, id, StateFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if _, derr := os.Stat(filepath.Join(root, id)); derr == nil {
				return nil, fmt.Errorf("container %q: no state recorded yet: %w", id, errdefs.ErrNotFound)
			}
			return nil, fmt.Errorf("container %q does not exist: %w", id, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("container %q: read state: %w", id, err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("container %q: %s: %w", id, StateFile, err)
	}
	if st.ID != id {
		return nil, fmt.Errorf("container %q: %s names id %q: %w", id, StateFile, st.ID, errdefs.ErrInvalidArgument)
	}
	return &st, nil
}

// List returns the ids that have a state directory under root, sorted.
func List(root string) ([]string, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() && spec.ValidateID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// ProcStat is what berth-runtime needs from /proc/<pid>/stat.
type ProcStat struct {
	State     byte   // R, S, D, Z, T, X, ...
	StartTime uint64 // clock ticks after boot
}

// Stat reads /proc/<pid>/stat. A missing process is errdefs.ErrNotFound.
func Stat(pid int) (ProcStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			return ProcStat{}, fmt.Errorf("process %d: %w", pid, errdefs.ErrNotFound)
		}
		return ProcStat{}, err
	}
	return ParseStat(string(b))
}

// ParseStat parses the text of /proc/<pid>/stat. The command name may hold
// spaces and parentheses, so fields are counted after the last ')'.
func ParseStat(s string) (ProcStat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ProcStat{}, fmt.Errorf("/proc stat: malformed: %w", errdefs.ErrInvalidArgument)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); starttime is field 22 → f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return ProcStat{}, fmt.Errorf("/proc stat: %d fields after comm: %w", len(f), errdefs.ErrInvalidArgument)
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return ProcStat{}, fmt.Errorf("/proc stat: starttime %q: %w", f[19], errdefs.ErrInvalidArgument)
	}
	return ProcStat{State: f[0][0], StartTime: st}, nil
}

// Alive reports whether pid is still the process that started at startTime and
// has not exited (a zombie counts as exited).
func Alive(pid int, startTime uint64) bool {
	if pid <= 0 {
		return false
	}
	ps, err := Stat(pid)
	if err != nil {
		return false
	}
	if ps.State == 'Z' || ps.State == 'X' {
		return false
	}
	return startTime == 0 || ps.StartTime == startTime
}
