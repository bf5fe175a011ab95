package rootfs

import (
	"fmt"
	"log/slog"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
)

// Options tune how the root filesystem is built.
type Options struct {
	// NoPivot uses MS_MOVE + chroot instead of pivot_root (runc's --no-pivot).
	NoPivot bool
	// ConsolePath, when set, is the pty slave (host path, e.g. /dev/pts/3) that
	// Mount binds onto /dev/console inside the root.
	ConsolePath string
	// CgroupPaths maps a v1 controller name (as in /proc/self/cgroup, e.g.
	// "cpu,cpuacct", "memory", "name=systemd") or "" for the v2 hierarchy to the
	// container's cgroup path. Used for a "cgroup" mount without a cgroup
	// namespace. Nil: read from /proc/self/cgroup at Mount time.
	CgroupPaths map[string]string
	// UserNS tells Mount it runs in a new user namespace: devices are then
	// bind-mounted from the host instead of created with mknod.
	// Zero value: derived from the spec (a user namespace without a path).
	UserNS *bool
	// Sys is the syscall seam; nil means the real kernel.
	Sys Sys
	// Log receives debug records; nil discards.
	Log *slog.Logger
}

// Rootfs is one container's root filesystem being assembled. Call, in order:
// Mount (before the createContainer hooks), Pivot, Finalize; Close always.
type Rootfs struct {
	spec   *specs.Spec
	bundle string
	root   string // absolute host path of the rootfs
	opts   Options
	sys    Sys
	log    *slog.Logger
	rootfd int // O_PATH fd of root, -1 when closed
}

// New prepares building s's root filesystem; bundle resolves a relative
// root.path. It performs no mount.
func New(s *specs.Spec, bundle string, opts Options) (*Rootfs, error) {
	if s == nil || s.Root == nil || s.Root.Path == "" {
		return nil, fmt.Errorf("root.path: missing: %w", errdefs.ErrInvalidArgument)
	}
	return nil, fmt.Errorf("rootfs: %w", errdefs.ErrNotImplemented)
}

// Root returns the absolute host path of the root filesystem.
func (r *Rootfs) Root() string { return r.root }

// Mount makes / a slave (or private) mount, binds the rootfs onto itself, then
// performs every spec mount in order, creates devices and /dev symlinks and,
// with Options.ConsolePath, /dev/console. Runs in the container's mount
// namespace before pivot.
func (r *Rootfs) Mount() error { return errdefs.ErrNotImplemented }

// Pivot makes the rootfs the process's root (pivot_root, or MS_MOVE + chroot
// with Options.NoPivot), detaches the old root, and applies
// linux.rootfsPropagation. The working directory is "/" afterwards.
func (r *Rootfs) Pivot() error { return errdefs.ErrNotImplemented }

// Finalize applies linux.maskedPaths, linux.readonlyPaths and root.readonly.
// Runs after Pivot, before the user process is exec'd.
func (r *Rootfs) Finalize() error { return errdefs.ErrNotImplemented }

// Close releases file descriptors held by r. It does not unmount: the mount
// namespace dies with the container.
func (r *Rootfs) Close() error { return nil }
