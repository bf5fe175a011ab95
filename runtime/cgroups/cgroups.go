package cgroups

import (
	"fmt"

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
	Paths    map[string]string `json:"paths"` // controller (or "unified") → absolute directory
	Rootless bool              `json:"rootless,omitempty"`
}

// Manager manages one container's cgroup(s).
type Manager interface {
	// Apply creates the cgroup(s) and moves pid in.
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

// Kill is implemented by managers that can kill the whole cgroup at once
// (cgroup v2's cgroup.kill).
type Killer interface {
	Kill() error
}

// New detects the mode under c.Root and returns a manager; it creates nothing.
func New(c Config) (Manager, error) {
	if c.Root == "" {
		c.Root = DefaultRoot
	}
	return nil, fmt.Errorf("cgroups.New: %w", errdefs.ErrNotImplemented)
}

// Load re-opens a manager from what Save returned.
func Load(s Saved) (Manager, error) {
	return nil, fmt.Errorf("cgroups.Load: %w", errdefs.ErrNotImplemented)
}

// Mode reports the cgroup layout under root: "v1", "hybrid" or "v2".
func Mode(root string) string {
	return ModeV1
}
