package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/runtime/spec"
)

// procDestAllowed lists the files under /proc a mount may cover (lxcfs and
// friends); anything else there could hide or redirect procfs files the
// runtime itself relies on (CVE-2019-16884 / CVE-2019-19921 class).
var procDestAllowed = map[string]bool{
	"/proc/cpuinfo": true, "/proc/diskstats": true, "/proc/meminfo": true, "/proc/stat": true,
	"/proc/swaps": true, "/proc/uptime": true, "/proc/loadavg": true, "/proc/slabinfo": true,
	"/proc/sys/kernel/ns_last_pid": true, "/proc/pressure": true,
}

const msRecAttrAtime = 0x70 // MOUNT_ATTR__ATIME

// target opens (creating as needed) the destination of m inside the root and
// re-checks the /proc rule on where it really is: a symlink in the image
// ("/myproc" -> "/proc/self") must not lead a mount into procfs.
func (r *Rootfs) target(dest string, m specs.Mount, k kind) (int, error) {
	tfd, err := r.ensure(r.rootfd, dest, k, 0o755)
	if err != nil {
		return -1, fmt.Errorf("destination: %w", err)
	}
	real, err := r.containerPath(tfd)
	if err != nil {
		unix.Close(tfd)
		return -1, fmt.Errorf("destination: %w", err)
	}
	if real != dest {
		if err := r.checkProcDest(real, m); err != nil {
			unix.Close(tfd)
			return -1, fmt.Errorf("destination resolves to %s: %w", real, err)
		}
	}
	return tfd, nil
}

func (r *Rootfs) mountOne(i int, m specs.Mount) error {
	dest := path.Clean("/" + m.Destination)
	field := fmt.Sprintf("mounts[%d] (%s on %s)", i, m.Type, dest)
	if m.Type == "" && spec.IsBind(m) {
		field = fmt.Sprintf("mounts[%d] (bind %s on %s)", i, m.Source, dest)
	}
	o := spec.ParseMountOptions(m.Options)
	if err := r.checkProcDest(dest, m); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	var err error
	switch {
	case spec.IsBind(m):
		err = r.mountBind(i, dest, m, o)
	case m.Type == "cgroup" || m.Type == "cgroup2":
		err = r.mountCgroup(dest, m, o)
	default:
		err = r.mountFS(dest, m, o)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	r.log.Debug("mounted", "index", i, "type", m.Type, "source", m.Source, "destination", dest)
	return nil
}

// checkProcDest refuses mounts that would shadow procfs files: /proc itself
// must be a real procfs, and only a few files below it may be covered.
func (r *Rootfs) checkProcDest(dest string, m specs.Mount) error {
	if dest != "/proc" && !strings.HasPrefix(dest, "/proc/") {
		return nil
	}
	if dest == "/proc" {
		if m.Type == "proc" {
			return nil
		}
		if spec.IsBind(m) {
			var st unix.Statfs_t
			if err := unix.Statfs(r.hostSource(m.Source), &st); err == nil && st.Type == unix.PROC_SUPER_MAGIC {
				return nil
			}
		}
		return fmt.Errorf("/proc must be a procfs mount: %w", errdefs.ErrInvalidArgument)
	}
	if procDestAllowed[dest] || m.Type == "tmpfs" {
		return nil
	}
	if spec.IsBind(m) && m.Source == "/dev/null" {
		return nil
	}
	return fmt.Errorf("mounting over %s is not allowed (only %s): %w", dest, "lxcfs-style files", errdefs.ErrInvalidArgument)
}

func (r *Rootfs) hostSource(src string) string {
	if filepath.IsAbs(src) {
		return src
	}
	return filepath.Join(r.bundle, src)
}

// reopen opens dest again after a mount, so that further changes act on the
// new mount rather than on the directory it covers.
func (r *Rootfs) reopen(dest string) (int, error) {
	fd, err := r.openIn(r.rootfd, dest, unix.O_PATH)
	if err != nil {
		return -1, fmt.Errorf("reopen %s after mount: %w", dest, err)
	}
	return fd, nil
}

func (r *Rootfs) mountBind(i int, dest string, m specs.Mount, o spec.MountOptions) error {
	src := r.hostSource(m.Source)
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	k := fileKind
	if fi.IsDir() {
		k = dirKind
	}
	tfd, err := r.target(dest, m, k)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	if fd, ok := r.opts.IDMapped[i]; ok {
		if err := r.sys.MoveMount(fd, "", tfd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
			return fmt.Errorf("idmap: move_mount of the prepared tree: %w", err)
		}
	} else if o.IDMap || len(m.UIDMappings) > 0 {
		if err := r.mountIDMapped(src, tfd, m, o); err != nil {
			return err
		}
	} else {
		flags := uintptr(unix.MS_BIND)
		if o.Recursive {
			flags |= unix.MS_REC
		}
		if err := r.sys.Mount(src, procFd(tfd), "", flags, ""); err != nil {
			return fmt.Errorf("bind: %w", err)
		}
	}
	nfd, err := r.reopen(dest)
	if err != nil {
		return err
	}
	defer unix.Close(nfd)
	if extra := o.Flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT); extra != 0 || o.ClearFlags != 0 {
		if err := r.bindRemount(nfd, o.Flags&^unix.MS_REMOUNT); err != nil {
			return err
		}
	}
	return r.applyAfter(nfd, o)
}

// bindRemount changes the per-mount flags of the bind mount at fd. In a user
// namespace flags inherited from the source (nosuid, nodev, noexec, ro,
// atime) are locked; on EPERM it retries keeping them.
func (r *Rootfs) bindRemount(fd int, flags uintptr) error {
	base := uintptr(unix.MS_BIND | unix.MS_REMOUNT)
	err := r.sys.Mount("", procFd(fd), "", base|flags, "")
	if err == unix.EPERM {
		var st unix.Statfs_t
		if serr := unix.Fstatfs(fd, &st); serr == nil {
			err = r.sys.Mount("", procFd(fd), "", base|flags|lockedFlags(st.Flags), "")
		}
	}
	if err != nil {
		return fmt.Errorf("remount with options: %w", err)
	}
	return nil
}

// applyAfter applies propagation changes and recursive attributes (rro,
// rnosuid, ...) to the mount at fd.
func (r *Rootfs) applyAfter(fd int, o spec.MountOptions) error {
	for _, p := range o.Propagation {
		if err := r.sys.Mount("", procFd(fd), "", p, ""); err != nil {
			return fmt.Errorf("propagation %s: %w", propName(p), err)
		}
	}
	if o.RecAttrSet != 0 || o.RecAttrClr != 0 || o.RecAtimeSet {
		attr := unix.MountAttr{Attr_set: o.RecAttrSet, Attr_clr: o.RecAttrClr}
		if o.RecAtimeSet {
			attr.Attr_clr |= msRecAttrAtime
			attr.Attr_set |= o.RecAtime
		}
		if err := r.sys.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
			return fmt.Errorf("mount_setattr (recursive options): %w", err)
		}
	}
	return nil
}

func (r *Rootfs) mountFS(dest string, m specs.Mount, o spec.MountOptions) error {
	tfd, err := r.target(dest, m, dirKind)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	var oldfd = -1
	if o.TmpCopyUp {
		oldfd, err = r.openIn(r.rootfd, dest, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("tmpcopyup: open %s: %w", dest, err)
		}
		defer unix.Close(oldfd)
	}
	source := m.Source
	if source == "" {
		source = m.Type
	}
	err = r.sys.Mount(source, procFd(tfd), m.Type, o.Flags, o.DataString())
	if err != nil && (err == unix.EPERM || err == unix.EBUSY) && (m.Type == "sysfs" || m.Type == "mqueue") {
		// Without a network namespace of our own (rootless, or joined),
		// sysfs cannot be mounted; bind the host's, as runc does.
		host := "/sys"
		if m.Type == "mqueue" {
			host = "/dev/mqueue"
		}
		r.log.Debug("mount failed, binding the host's instead", "type", m.Type, "err", err)
		err = r.sys.Mount(host, procFd(tfd), "", unix.MS_BIND|unix.MS_REC, "")
		if err == nil {
			nfd, rerr := r.reopen(dest)
			if rerr != nil {
				return rerr
			}
			defer unix.Close(nfd)
			if o.Flags != 0 {
				if err := r.bindRemount(nfd, o.Flags&^unix.MS_REMOUNT); err != nil {
					return err
				}
			}
			return r.applyAfter(nfd, o)
		}
	}
	if err != nil {
		return err
	}
	nfd, err := r.reopen(dest)
	if err != nil {
		return err
	}
	defer unix.Close(nfd)
	if o.TmpCopyUp {
		if err := r.copyUp(oldfd, nfd); err != nil {
			return fmt.Errorf("tmpcopyup: %w", err)
		}
	}
	return r.applyAfter(nfd, o)
}

// copyUp copies the directory tree at src (the directory a new tmpfs now
// covers) into dst (the new tmpfs), keeping modes and owners.
func (r *Rootfs) copyUp(src, dst int) error {
	d, err := unix.Openat(dst, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(d)
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err == nil {
		_ = unix.Fchmod(d, st.Mode&0o7777)
		_ = unix.Fchown(d, int(st.Uid), int(st.Gid))
	}
	return copyTree(src, d, 0)
}

func copyTree(src, dst int, depth int) error {
	if depth > 64 {
		return errors.New("directory tree too deep")
	}
	sf := os.NewFile(uintptr(dupFd(src)), "copyup")
	if sf == nil {
		return errors.New("dup failed")
	}
	defer sf.Close()
	names, err := sf.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, name := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(src, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if err := unix.Mkdirat(dst, name, st.Mode&0o7777); err != nil && err != unix.EEXIST {
				return err
			}
			s2, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			d2, err := unix.Openat(dst, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				unix.Close(s2)
				return err
			}
			err = copyTree(s2, d2, depth+1)
			unix.Close(s2)
			unix.Close(d2)
			if err != nil {
				return err
			}
		case unix.S_IFREG:
			if err := copyFile(src, dst, name, st.Mode&0o7777); err != nil {
				return err
			}
		case unix.S_IFLNK:
			target, err := readlinkat(src, name)
			if err != nil {
				return err
			}
			if err := unix.Symlinkat(target, dst, name); err != nil {
				return err
			}
		default:
			continue // devices, fifos, sockets are not copied
		}
		_ = unix.Fchownat(dst, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			_ = unix.Fchmodat(dst, name, st.Mode&0o7777, 0)
		}
	}
	return nil
}

func dupFd(fd int) int {
	n, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return n
}

func copyFile(srcDir, dstDir int, name string, mode uint32) error {
	in, err := unix.Openat(srcDir, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	fin := os.NewFile(uintptr(in), name)
	defer fin.Close()
	out, err := unix.Openat(dstDir, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err != nil {
		return err
	}
	fout := os.NewFile(uintptr(out), name)
	defer fout.Close()
	_, err = fout.ReadFrom(fin)
	return err
}

// mountIDMapped bind-mounts src onto the target fd with an id mapping: a
// detached copy of the source tree (open_tree) gets MOUNT_ATTR_IDMAP with a
// user namespace holding the mapping, then is moved into place.
func (r *Rootfs) mountIDMapped(src string, tfd int, m specs.Mount, o spec.MountOptions) error {
	usernsFd, cleanup, err := r.idmapUserns(m)
	if err != nil {
		return fmt.Errorf("idmap: %w", err)
	}
	defer cleanup()
	tree, err := idmappedTree(r.sys, src, usernsFd, o)
	if err != nil {
		return err
	}
	defer unix.Close(tree)
	if err := r.sys.MoveMount(tree, "", tfd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("idmap: move_mount: %w", err)
	}
	return nil
}

// idmappedTree returns a detached copy of src (recursive for rbind) with the
// id mapping of the user namespace usernsFd (recursive for ridmap).
func idmappedTree(sys Sys, src string, usernsFd int, o spec.MountOptions) (int, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if o.Recursive {
		flags |= unix.AT_RECURSIVE
	}
	tree, err := sys.OpenTree(unix.AT_FDCWD, src, flags)
	if err != nil {
		return -1, fmt.Errorf("idmap: open_tree %s: %w", src, err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(usernsFd)}
	aflags := uint(unix.AT_EMPTY_PATH)
	if o.RecursiveIDMap {
		aflags |= unix.AT_RECURSIVE
	}
	if err := sys.MountSetattr(tree, "", aflags, &attr); err != nil {
		unix.Close(tree)
		return -1, fmt.Errorf("idmap: mount_setattr(MOUNT_ATTR_IDMAP): %w", err)
	}
	return tree, nil
}

// PrepareIDMapped runs on the host side for a container in a user
// namespace, after its init exists and before the init calls Mount. For
// every id-mapped bind mount of s it returns a detached, id-mapped mount tree
// keyed by mounts[] index; the caller passes the fds to the init (they become
// Options.IDMapped there) and closes them afterwards. usernsPath is the
// container's user namespace (/proc/<init pid>/ns/user), used for mounts
// without their own uidMappings/gidMappings. On error nothing is left open.
func PrepareIDMapped(s *specs.Spec, bundle, usernsPath string) (map[int]*os.File, error) {
	out := map[int]*os.File{}
	fail := func(err error) (map[int]*os.File, error) {
		for _, f := range out {
			f.Close()
		}
		return nil, err
	}
	for i, m := range s.Mounts {
		o := spec.ParseMountOptions(m.Options)
		if !spec.IsBind(m) || !(o.IDMap || len(m.UIDMappings) > 0) {
			continue
		}
		var usernsFd int
		cleanup := func() {}
		if len(m.UIDMappings) > 0 {
			fd, c, err := newUserns(m.UIDMappings, m.GIDMappings)
			if err != nil {
				return fail(fmt.Errorf("mounts[%d]: idmap: %w", i, err))
			}
			usernsFd, cleanup = fd, c
		} else {
			if usernsPath == "" {
				return fail(fmt.Errorf("mounts[%d]: idmap without mappings needs the container's user namespace: %w", i, errdefs.ErrInvalidArgument))
			}
			fd, err := unix.Open(usernsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fail(fmt.Errorf("mounts[%d]: idmap: open %s: %w", i, usernsPath, err))
			}
			usernsFd, cleanup = fd, func() { unix.Close(fd) }
		}
		src := m.Source
		if !filepath.IsAbs(src) {
			src = filepath.Join(bundle, src)
		}
		tree, err := idmappedTree(Real{}, src, usernsFd, o)
		cleanup()
		if err != nil {
			return fail(fmt.Errorf("mounts[%d]: %w", i, err))
		}
		out[i] = os.NewFile(uintptr(tree), fmt.Sprintf("idmapped-mount-%d", i))
	}
	return out, nil
}

// idmapUserns returns a user namespace fd whose mapping is the mount's
// (uidMappings/gidMappings) or, without them, the container's own.
func (r *Rootfs) idmapUserns(m specs.Mount) (int, func(), error) {
	if len(m.UIDMappings) == 0 {
		if !r.userns {
			return -1, nil, fmt.Errorf("no uidMappings/gidMappings and no user namespace: %w", errdefs.ErrInvalidArgument)
		}
		fd, err := unix.Open("/proc/self/ns/user", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, nil, err
		}
		return fd, func() { unix.Close(fd) }, nil
	}
	return newUserns(m.UIDMappings, m.GIDMappings)
}
