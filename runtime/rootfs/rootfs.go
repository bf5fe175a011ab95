package rootfs

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/runtime/spec"
)

// Options tune how the root filesystem is built.
type Options struct {
	// NoPivot uses MS_MOVE + chroot instead of pivot_root (runc's --no-pivot).
	NoPivot bool
	// ConsolePath, when set, is the pty slave (host path, e.g. /dev/pts/3) that
	// Mount binds onto /dev/console inside the root.
	ConsolePath string
	// CgroupPaths maps a v1 controller list as /proc/self/cgroup names it
	// ("cpu,cpuacct", "memory", "name=systemd"), or "" for the v2 hierarchy, to
	// the container's cgroup path. It is used for a "cgroup" mount without a
	// cgroup namespace. Nil: read from /proc/self/cgroup at Mount time (the
	// process must already be in the container's cgroups).
	CgroupPaths map[string]string
	// UserNS tells Mount whether it runs in a user namespace other than the
	// host's: devices are then bind-mounted from the host instead of created
	// with mknod. Nil: true when linux.namespaces lists a user namespace.
	UserNS *bool
	// IDMapped maps a mounts[] index to an fd (in this process) of a detached,
	// already id-mapped mount tree made by PrepareIDMapped on the host side.
	// A container in a user namespace needs them: inside it, the kernel
	// refuses MOUNT_ATTR_IDMAP on the host's file systems. Mounts without an
	// entry are id-mapped here.
	IDMapped map[int]int
	// Sys is the syscall seam; nil means the real kernel.
	Sys Sys
	// Log receives debug records and warnings; nil discards them.
	Log *slog.Logger
}

// Rootfs is one container's root filesystem being assembled. Call, in order:
// Mount (before the createContainer hooks), Pivot, Finalize; Close always.
type Rootfs struct {
	spec   *specs.Spec
	bundle string
	root   string // absolute host path of the rootfs, symlinks resolved
	opts   Options
	sys    Sys
	log    *slog.Logger
	userns bool
	// mountns is false when the spec has no mount namespace: the container
	// shares the runtime's, so nothing may be mounted (it would change the
	// host); the root is entered with chroot only.
	mountns bool

	rootfd    int    // O_PATH fd of the root bind mount, -1 before Mount / after Close
	devnull   int    // O_PATH fd of the host's verified /dev/null, -1 if none
	pivotRoot string // where the root is after Pivot: "/" (tests: the temp dir)

	mounted, pivoted, finalized bool

	mountinfo []mountInfo // see hostMounts
}

// hostMounts reads /proc/self/mountinfo once per container: what it is
// consulted for (the mount holding the rootfs, the host's cgroup
// hierarchies) is not changed by the container's own mounts below the rootfs.
func (r *Rootfs) hostMounts() ([]mountInfo, error) {
	if r.mountinfo == nil {
		m, err := readMountInfo()
		if err != nil {
			return nil, err
		}
		r.mountinfo = m
	}
	return r.mountinfo, nil
}

// New prepares building s's root filesystem; bundle resolves a relative
// root.path. It performs no mount.
func New(s *specs.Spec, bundle string, opts Options) (*Rootfs, error) {
	if s == nil || s.Root == nil || s.Root.Path == "" {
		return nil, fmt.Errorf("root.path: missing: %w", errdefs.ErrInvalidArgument)
	}
	root := s.Root.Path
	if !filepath.IsAbs(root) {
		root = filepath.Join(bundle, root)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("root.path %s: %v: %w", root, err, errdefs.ErrInvalidArgument)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("root.path %s: %v: %w", root, err, errdefs.ErrInvalidArgument)
	}
	r := &Rootfs{
		spec: s, bundle: bundle, root: real, opts: opts, sys: opts.Sys, log: opts.Log,
		rootfd: -1, devnull: -1, pivotRoot: "/",
	}
	if r.sys == nil {
		r.sys = Real{}
	}
	if r.log == nil {
		// Not slog.Default: in the container's init, stderr is the
		// container's own.
		r.log = slog.New(slog.DiscardHandler)
	}
	r.mountns = r.hasNamespace(specs.MountNamespace)
	if opts.UserNS != nil {
		r.userns = *opts.UserNS
	} else if s.Linux != nil {
		for _, ns := range s.Linux.Namespaces {
			if ns.Type == specs.UserNamespace {
				r.userns = true
			}
		}
	}
	return r, nil
}

// Root returns the absolute host path of the root filesystem.
func (r *Rootfs) Root() string { return r.root }

// curRoot is the path of the container's root in the current view.
func (r *Rootfs) curRoot() string {
	if r.pivoted {
		return r.pivotRoot
	}
	return r.root
}

func (r *Rootfs) linux() *specs.Linux {
	if r.spec.Linux == nil {
		return &specs.Linux{}
	}
	return r.spec.Linux
}

func (r *Rootfs) hasNamespace(t specs.LinuxNamespaceType) bool {
	for _, ns := range r.linux().Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

// Mount makes / a slave (or linux.rootfsPropagation) mount, binds the rootfs
// onto itself, then performs every spec mount in order, creates devices and
// /dev symlinks and, with Options.ConsolePath, /dev/console. It runs in the
// container's mount namespace before pivot.
func (r *Rootfs) Mount() error {
	if r.mounted {
		return fmt.Errorf("rootfs: Mount called twice: %w", errdefs.ErrFailedPrecondition)
	}
	r.mounted = true
	if !r.mountns {
		fd, err := unix.Open(r.root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("root.path: open %s: %w", r.root, err)
		}
		r.rootfd = fd
		if len(r.spec.Mounts) > 0 || len(r.linux().MaskedPaths)+len(r.linux().ReadonlyPaths) > 0 || r.spec.Root.Readonly {
			r.log.Warn("no mount namespace: mounts, devices, masked/read-only paths and root.readonly are not applied (they would change the host's mounts)")
		}
		return nil
	}
	prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if p := r.linux().RootfsPropagation; p != "" {
		f, ok := spec.PropagationFlags(p)
		if !ok {
			return fmt.Errorf("linux.rootfsPropagation: unknown %q: %w", p, errdefs.ErrInvalidArgument)
		}
		prop = f
		if prop&unix.MS_UNBINDABLE != 0 {
			// An unbindable / could not be bound; it is applied after pivot.
			prop = prop&^unix.MS_UNBINDABLE | unix.MS_PRIVATE
		}
	}
	if err := r.sys.Mount("", "/", "", prop, ""); err != nil {
		return fmt.Errorf("make / %s in the container's mount namespace: %w", propName(prop), err)
	}
	if err := r.parentPrivate(); err != nil {
		return err
	}
	if err := r.sys.Mount(r.root, r.root, "bind", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("root.path: bind %s onto itself: %w", r.root, err)
	}
	fd, err := unix.Open(r.root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("root.path: open %s: %w", r.root, err)
	}
	r.rootfd = fd
	for i, m := range r.spec.Mounts {
		if err := r.mountOne(i, m); err != nil {
			return err
		}
	}
	if r.setupDev() {
		if err := r.createDevices(); err != nil {
			return err
		}
		if err := r.devSymlinks(); err != nil {
			return err
		}
	}
	if r.opts.ConsolePath != "" {
		if err := r.mountConsole(); err != nil {
			return err
		}
	}
	return nil
}

// parentPrivate makes the mount holding the rootfs private when it is
// shared: pivot_root refuses a shared parent, and the self-bind would
// otherwise propagate to the host.
func (r *Rootfs) parentPrivate() error {
	mounts, err := r.hostMounts()
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	m, ok := mountOf(mounts, r.root)
	if !ok {
		return nil
	}
	for _, o := range m.Optional {
		if strings.HasPrefix(o, "shared:") {
			if err := r.sys.Mount("", m.Mountpoint, "", unix.MS_PRIVATE, ""); err != nil {
				return fmt.Errorf("make %s (parent mount of the rootfs) private: %w", m.Mountpoint, err)
			}
			break
		}
	}
	return nil
}

// openDevNull opens the container's /dev/null, without following any
// symlink, and checks that it is the null character device (1:3): a file or
// symlink the image planted there must not turn masking into a bind of
// something else. It runs after pivot, when the host's /dev is gone.
func (r *Rootfs) openDevNull() (int, error) {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: inRoot | unix.RESOLVE_NO_SYMLINKS}
	fd, err := r.sys.Openat2(r.rootfd, "dev/null", &how)
	if err != nil {
		return -1, fmt.Errorf("open /dev/null in the container: %w", err)
	}
	if err := r.checkNullDev(fd); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("/dev/null in the container: %w; refusing to mask with it", err)
	}
	return fd, nil
}

func (r *Rootfs) checkNullDev(fd int) error {
	var st unix.Stat_t
	if err := r.sys.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		return errors.New("not the null character device (1:3)")
	}
	return nil
}

// Pivot makes the rootfs the process's root (pivot_root, or MS_MOVE + chroot
// with Options.NoPivot), detaches the old root, and applies
// linux.rootfsPropagation. The working directory is "/" afterwards.
func (r *Rootfs) Pivot() error {
	if !r.mounted || r.rootfd < 0 {
		return fmt.Errorf("rootfs: Pivot before Mount: %w", errdefs.ErrFailedPrecondition)
	}
	if r.pivoted {
		return fmt.Errorf("rootfs: Pivot called twice: %w", errdefs.ErrFailedPrecondition)
	}
	if !r.mountns {
		if err := r.sys.Chdir(r.root); err != nil {
			return fmt.Errorf("chdir %s: %w", r.root, err)
		}
		if err := r.sys.Chroot("."); err != nil {
			return fmt.Errorf("chroot %s: %w", r.root, err)
		}
	} else if r.opts.NoPivot {
		if err := r.sys.Chdir(r.root); err != nil {
			return fmt.Errorf("chdir %s: %w", r.root, err)
		}
		if err := r.sys.Mount(r.root, "/", "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("no-pivot: move %s to /: %w", r.root, err)
		}
		if err := r.sys.Chroot("."); err != nil {
			return fmt.Errorf("no-pivot: chroot: %w", err)
		}
	} else {
		oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("pivot: open old root: %w", err)
		}
		defer unix.Close(oldroot)
		newroot, err := unix.Open(r.root, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("pivot: open %s: %w", r.root, err)
		}
		defer unix.Close(newroot)
		if err := r.sys.Fchdir(newroot); err != nil {
			return fmt.Errorf("pivot: chdir %s: %w", r.root, err)
		}
		if err := r.sys.PivotRoot(".", "."); err != nil {
			return fmt.Errorf("pivot_root %s: %w", r.root, err)
		}
		// The old root is now stacked on "/": step onto it, stop propagation
		// of what follows, and detach it.
		if err := r.sys.Fchdir(oldroot); err != nil {
			return fmt.Errorf("pivot: chdir old root: %w", err)
		}
		if err := r.sys.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("pivot: make old root rslave: %w", err)
		}
		if err := r.sys.Unmount(".", unix.MNT_DETACH); err != nil {
			return fmt.Errorf("pivot: detach old root: %w", err)
		}
	}
	if err := r.sys.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	r.pivoted = true
	if p := r.linux().RootfsPropagation; p != "" && r.mountns {
		f, _ := spec.PropagationFlags(p)
		if err := r.sys.Mount("", r.pivotRoot, "", f, ""); err != nil {
			return fmt.Errorf("linux.rootfsPropagation %s: %w", p, err)
		}
	}
	return nil
}

// Finalize applies linux.readonlyPaths, linux.maskedPaths and root.readonly.
// It runs after Pivot, before the user process is exec'd. Every path is
// resolved inside the root; missing paths are skipped.
func (r *Rootfs) Finalize() error {
	if !r.pivoted {
		return fmt.Errorf("rootfs: Finalize before Pivot: %w", errdefs.ErrFailedPrecondition)
	}
	if r.finalized {
		return fmt.Errorf("rootfs: Finalize called twice: %w", errdefs.ErrFailedPrecondition)
	}
	r.finalized = true
	if !r.mountns {
		return nil
	}
	l := r.linux()
	if len(l.ReadonlyPaths)+len(l.MaskedPaths) > 0 {
		if err := checkProcSelfFd(); err != nil {
			return fmt.Errorf("linux.maskedPaths/readonlyPaths: %w", err)
		}
	}
	for i, p := range l.ReadonlyPaths {
		if err := r.readonlyPath(p); err != nil {
			return fmt.Errorf("linux.readonlyPaths[%d] %s: %w", i, p, err)
		}
	}
	for i, p := range l.MaskedPaths {
		if err := r.maskPath(p); err != nil {
			return fmt.Errorf("linux.maskedPaths[%d] %s: %w", i, p, err)
		}
	}
	if r.spec.Root.Readonly {
		if err := r.remountRO(r.rootfd, r.pivotRoot); err != nil {
			return fmt.Errorf("root.readonly: remount / read-only: %w", err)
		}
	}
	return nil
}

// checkProcSelfFd makes sure /proc/self/fd, through which every mount target
// is named, is the real procfs and not something the container put there.
func checkProcSelfFd() error {
	var st unix.Statfs_t
	if err := unix.Statfs("/proc/self/fd", &st); err != nil {
		return fmt.Errorf("/proc is needed (mount proc at /proc): %w", err)
	}
	if st.Type != unix.PROC_SUPER_MAGIC {
		return errors.New("/proc/self/fd is not on procfs; refusing to mount through it")
	}
	return nil
}

func (r *Rootfs) readonlyPath(p string) error {
	fd, err := r.openIn(r.rootfd, p, unix.O_PATH)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return err
	}
	defer unix.Close(fd)
	if err := r.sys.Mount(procFd(fd), procFd(fd), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind onto itself: %w", err)
	}
	nfd, err := r.openIn(r.rootfd, p, unix.O_PATH)
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	defer unix.Close(nfd)
	return r.remountRO(nfd, procFd(nfd))
}

// remountRO makes the mount at fd read-only, keeping the flags it has
// (nosuid, nodev, noexec, atime), which a user namespace could not clear.
func (r *Rootfs) remountRO(fd int, target string) error {
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err == nil {
		flags |= lockedFlags(st.Flags)
	}
	return r.sys.Mount("", target, "", flags, "")
}

// lockedFlags maps statfs f_flags to the mount flags a bind remount must
// repeat.
func lockedFlags(f int64) uintptr {
	var out uintptr
	for st, ms := range map[int64]uintptr{
		unix.ST_NOSUID: unix.MS_NOSUID, unix.ST_NODEV: unix.MS_NODEV, unix.ST_NOEXEC: unix.MS_NOEXEC,
		unix.ST_NOATIME: unix.MS_NOATIME, unix.ST_NODIRATIME: unix.MS_NODIRATIME, unix.ST_RELATIME: unix.MS_RELATIME,
		unix.ST_RDONLY: unix.MS_RDONLY,
	} {
		if f&st != 0 {
			out |= ms
		}
	}
	return out
}

func (r *Rootfs) maskPath(p string) error {
	fd, err := r.openIn(r.rootfd, p, unix.O_PATH)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return r.sys.Mount("tmpfs", procFd(fd), "tmpfs", unix.MS_RDONLY, "")
	}
	if r.devnull < 0 {
		if r.devnull, err = r.openDevNull(); err != nil {
			return err
		}
	}
	return r.sys.Mount(procFd(r.devnull), procFd(fd), "", unix.MS_BIND, "")
}

// Close releases file descriptors held by r. It does not unmount: the mount
// namespace dies with the container.
func (r *Rootfs) Close() error {
	if r.rootfd >= 0 {
		unix.Close(r.rootfd)
		r.rootfd = -1
	}
	if r.devnull >= 0 {
		unix.Close(r.devnull)
		r.devnull = -1
	}
	return nil
}

func propName(f uintptr) string {
	rec := ""
	if f&unix.MS_REC != 0 {
		rec = "r"
	}
	switch {
	case f&unix.MS_SHARED != 0:
		return rec + "shared"
	case f&unix.MS_SLAVE != 0:
		return rec + "slave"
	case f&unix.MS_PRIVATE != 0:
		return rec + "private"
	case f&unix.MS_UNBINDABLE != 0:
		return rec + "unbindable"
	}
	return fmt.Sprintf("%#x", f)
}
