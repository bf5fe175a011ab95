package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
)

// DefaultRoot is where the cgroup filesystems are mounted on a normal host.
const DefaultRoot = "/sys/fs/cgroup"

// Modes returned by Mode and stored in Saved.Mode.
const (
	ModeV1     = "v1"     // only v1 hierarchies
	ModeHybrid = "hybrid" // v1 hierarchies plus cgroup2 at <root>/unified
	ModeV2     = "v2"     // cgroup2 mounted at <root>
)

// Unified is the key of the cgroup2 directory in Saved.Paths (v2 and hybrid).
const Unified = "unified"

// Config says where and for which container cgroups are made.
type Config struct {
	Root      string // cgroupfs mount root, default "/sys/fs/cgroup"
	Path      string // linux.cgroupsPath: absolute, relative, or "" (→ /berth/<ID>)
	ID        string // container id
	Resources *specs.LinuxResources
	Rootless  bool // tolerate EPERM on creation and writes
}

// Saved is what a Manager needs to be re-opened by a later command. It is
// JSON-serialisable and stored in the container's state.json.
type Saved struct {
	Mode     string            `json:"mode"`
	Root     string            `json:"root"`
	Path     string            `json:"path"`  // the cleaned cgroup path inside every hierarchy, e.g. /berth/abc
	Paths    map[string]string `json:"paths"` // controller (or "unified") → absolute directory
	Rootless bool              `json:"rootless,omitempty"`
}

// Manager manages one container's cgroup(s).
type Manager interface {
	// Apply creates the cgroup(s) and moves pid in (pid <= 0: create only).
	// The first cgroup.procs write waits for an RCU grace period in the
	// kernel (cgroup_threadgroup_rwsem), about 10ms on a small VM, whoever
	// the runtime: it is idle time, worth overlapping with other work.
	Apply(pid int) error
	// Set writes the limits in r (create and `update`).
	Set(r *specs.LinuxResources) error
	// Freeze stops every process of the cgroup and waits until it is frozen.
	Freeze() error
	// Thaw resumes a frozen cgroup.
	Thaw() error
	// FreezerState is "frozen", "thawed" or "freezing".
	FreezerState() (string, error)
	// Pids lists every process of the container's cgroup subtree.
	Pids() ([]int, error)
	// Stats reads usage counters, shaped like runc's `events --stats` data.
	Stats() (*Stats, error)
	// OOMKillCount is the number of processes the OOM killer killed.
	OOMKillCount() (uint64, error)
	// Destroy removes the cgroup directories; it kills nothing and is idempotent.
	Destroy() error
	// Exists reports whether the container's cgroup exists.
	Exists() bool
	// Save returns what Load needs.
	Save() Saved
	// Path is the directory for a controller ("memory", "cpu", ...); "" or
	// "unified" gives the cgroup2 directory (v2 and hybrid).
	Path(controller string) string
}

// Killer is implemented by managers that can kill the whole cgroup at once
// through cgroup v2's cgroup.kill (Linux 5.14+): on v2, and on hybrid hosts
// through the cgroup2 hierarchy the container also belongs to. Kill returns
// an error wrapping errdefs.ErrNotImplemented where the host cannot, and the
// caller then signals the pids itself.
type Killer interface {
	Kill() error
}

// SelfJoiner is implemented by managers whose cgroups a single-threaded
// process can join by itself (cgroup v1 and hybrid hosts): it writes "0" to
// each TaskFiles entry, which moves only the writer and so skips the kernel's
// global threadgroup lock (and the RCU grace period that lock waits for),
// and on a hybrid host it is forked straight into UnifiedDir
// (CLONE_INTO_CGROUP), which needs no lock either. Apply(0) must have created
// the directories (and Set written the limits) before the tasks files are
// written; UnifiedDir carries no limits on a hybrid host.
type SelfJoiner interface {
	// TaskFiles lists the "tasks" file of the container's cgroup in every
	// v1 hierarchy, once each.
	TaskFiles() []string
	// UnifiedDir is the container's cgroup2 directory ("" on pure v1).
	UnifiedDir() string
}

// Freezer states returned by FreezerState.
const (
	Thawed   = "thawed"
	Frozen   = "frozen"
	Freezing = "freezing"
)

// New detects the mode under c.Root and returns a manager; it creates nothing.
// Resources, when given, are checked against the controllers the host has, so
// a spec asking for a missing controller fails here, before anything exists.
func New(c Config) (Manager, error) {
	if c.Root == "" {
		c.Root = DefaultRoot
	}
	p, err := CleanPath(c.Path, c.ID)
	if err != nil {
		return nil, err
	}
	mode := Mode(c.Root)
	s := Saved{Mode: mode, Root: c.Root, Path: p, Paths: map[string]string{}, Rootless: c.Rootless}
	switch mode {
	case ModeV2:
		s.Paths[Unified] = filepath.Join(c.Root, p)
	default:
		h, err := discoverV1(c.Root)
		if err != nil {
			return nil, err
		}
		for ctrl, dir := range h {
			s.Paths[ctrl] = filepath.Join(dir, p)
		}
		if mode == ModeHybrid {
			s.Paths[Unified] = filepath.Join(c.Root, "unified", p)
		}
	}
	m, err := Load(s)
	if err != nil {
		return nil, err
	}
	if v2, ok := m.(*v2Manager); ok {
		v2.initial = c.Resources
	}
	if c.Resources != nil {
		if err := m.(validator).validate(c.Resources); err != nil {
			return nil, err
		}
	}
	return m, nil
}

type validator interface {
	validate(r *specs.LinuxResources) error
}

// Load re-opens a manager from what Save returned.
func Load(s Saved) (Manager, error) {
	if len(s.Paths) == 0 {
		return nil, fmt.Errorf("cgroups: saved state has no paths: %w", errdefs.ErrInvalidArgument)
	}
	if s.Root == "" || !filepath.IsAbs(s.Root) || s.Path == "" || s.Path == "/" {
		return nil, fmt.Errorf("cgroups: saved state has root %q, path %q: %w", s.Root, s.Path, errdefs.ErrInvalidArgument)
	}
	for c, d := range s.Paths {
		// Every directory must be <root>/.../<path>: a damaged state file
		// must not make Destroy remove anything else.
		if d != filepath.Clean(d) || !strings.HasPrefix(d, s.Root+"/") || !strings.HasSuffix(d, s.Path) {
			return nil, fmt.Errorf("cgroups: saved paths[%q] = %q is not a cgroup %s under %s: %w", c, d, s.Path, s.Root, errdefs.ErrInvalidArgument)
		}
	}
	switch s.Mode {
	case ModeV1, ModeHybrid:
		return newV1(s), nil
	case ModeV2:
		if s.Paths[Unified] == "" {
			return nil, fmt.Errorf("cgroups: saved v2 state has no unified path: %w", errdefs.ErrInvalidArgument)
		}
		return newV2(s), nil
	}
	return nil, fmt.Errorf("cgroups: saved mode %q unknown: %w", s.Mode, errdefs.ErrInvalidArgument)
}

// Mode reports the cgroup layout under root: "v1", "hybrid" or "v2". It looks
// for the cgroup2 marker file cgroup.controllers at root, then at root/unified.
func Mode(root string) string {
	if root == "" {
		root = DefaultRoot
	}
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		return ModeV2
	}
	if _, err := os.Stat(filepath.Join(root, "unified", "cgroup.controllers")); err == nil {
		return ModeHybrid
	}
	return ModeV1
}
