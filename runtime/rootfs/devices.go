package rootfs

import (
	"fmt"
	"os"
	"path"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/runtime/spec"
)

func u32(v uint32) *uint32 { return &v }

func fm(m os.FileMode) *os.FileMode { return &m }

// DefaultDevices are created in every container whose /dev the runtime sets
// up (runtime-spec "Default Devices").
var DefaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: fm(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5, FileMode: fm(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7, FileMode: fm(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8, FileMode: fm(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9, FileMode: fm(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0, FileMode: fm(0o666), UID: u32(0), GID: u32(0)},
}

// setupDev reports whether the runtime populates /dev: not when /dev is a
// bind mount from the host.
func (r *Rootfs) setupDev() bool {
	for _, m := range r.spec.Mounts {
		if path.Clean("/"+m.Destination) == "/dev" && spec.IsBind(m) {
			return false
		}
	}
	return true
}

func (r *Rootfs) createDevices() error {
	devs := map[string]bool{}
	for _, d := range r.linux().Devices {
		devs[path.Clean(d.Path)] = true
	}
	for _, d := range DefaultDevices {
		if devs[d.Path] {
			continue
		}
		if err := r.createDevice(d); err != nil {
			return fmt.Errorf("default device %s: %w", d.Path, err)
		}
	}
	for i, d := range r.linux().Devices {
		if err := r.createDevice(d); err != nil {
			return fmt.Errorf("linux.devices[%d] %s: %w", i, d.Path, err)
		}
	}
	return nil
}

func devType(t string) (uint32, error) {
	switch t {
	case "c", "u":
		return unix.S_IFCHR, nil
	case "b":
		return unix.S_IFBLK, nil
	case "p":
		return unix.S_IFIFO, nil
	}
	return 0, fmt.Errorf("unknown device type %q", t)
}

// createDevice makes one device node inside the root: mknod with the
// requested owner and mode, or, in a user namespace where mknod is not
// allowed, a bind mount of the host's node at the same path.
func (r *Rootfs) createDevice(d specs.LinuxDevice) error {
	dest := path.Clean("/" + d.Path)
	typ, err := devType(d.Type)
	if err != nil {
		return err
	}
	if r.userns {
		tfd, err := r.ensure(r.rootfd, dest, fileKind, 0o666)
		if err != nil {
			return err
		}
		defer unix.Close(tfd)
		if err := r.sys.Mount(d.Path, procFd(tfd), "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind the host's %s (mknod is not allowed in a user namespace): %w", d.Path, err)
		}
		return nil
	}
	parent, base := path.Split(dest)
	pfd, err := r.ensure(r.rootfd, parent, dirKind, 0o755)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(d.FileMode.Perm())
	}
	dev := int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))
	err = r.sys.Mknodat(pfd, base, typ|perm, dev)
	if err == unix.EEXIST {
		// The runtime-spec: an existing file must be the requested device.
		var st unix.Stat_t
		if serr := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); serr != nil {
			return serr
		}
		if st.Mode&unix.S_IFMT != typ || (typ != unix.S_IFIFO && st.Rdev != uint64(dev)) {
			return fmt.Errorf("%s exists and is not the requested device", dest)
		}
	} else if err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	// Mode and owner after the fact: mknod is subject to the umask.
	if err := unix.Fchmodat(pfd, base, perm, 0); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if err := r.sys.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	return nil
}

// devSymlinks makes /dev/fd, stdin, stdout, stderr, core (when the host has
// /proc/kcore) and, when devpts is mounted at /dev/pts, /dev/ptmx.
func (r *Rootfs) devSymlinks() error {
	dfd, err := r.ensure(r.rootfd, "/dev", dirKind, 0o755)
	if err != nil {
		return fmt.Errorf("/dev: %w", err)
	}
	defer unix.Close(dfd)
	links := [][2]string{
		{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
	}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "core"})
	}
	for _, l := range links {
		if err := r.sys.Symlinkat(l[0], dfd, l[1]); err != nil && err != unix.EEXIST {
			return fmt.Errorf("symlink /dev/%s: %w", l[1], err)
		}
	}
	ptsMounted := false
	for _, m := range r.spec.Mounts {
		if path.Clean("/"+m.Destination) == "/dev/pts" && m.Type == "devpts" {
			ptsMounted = true
		}
	}
	if ptsMounted {
		if err := unix.Unlinkat(dfd, "ptmx", 0); err != nil && err != unix.ENOENT {
			return fmt.Errorf("remove /dev/ptmx: %w", err)
		}
		if err := r.sys.Symlinkat("pts/ptmx", dfd, "ptmx"); err != nil {
			return fmt.Errorf("symlink /dev/ptmx: %w", err)
		}
	}
	return nil
}

// mountConsole binds the pty slave Options.ConsolePath onto /dev/console.
func (r *Rootfs) mountConsole() error {
	tfd, err := r.ensure(r.rootfd, "/dev/console", fileKind, 0o666)
	if err != nil {
		return fmt.Errorf("/dev/console: %w", err)
	}
	defer unix.Close(tfd)
	if err := r.sys.Mount(r.opts.ConsolePath, procFd(tfd), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind console %s on /dev/console: %w", r.opts.ConsolePath, err)
	}
	return nil
}

// BindConsole binds the pty slave (opened by the caller) onto /dev/console
// inside the root. It is for a console allocated inside the container after
// Pivot (Options.ConsolePath covers one allocated before Mount); call it
// before Finalize.
func (r *Rootfs) BindConsole(slave *os.File) error {
	if r.rootfd < 0 {
		return fmt.Errorf("rootfs: BindConsole before Mount")
	}
	if !r.mountns {
		return nil
	}
	tfd, err := r.ensure(r.rootfd, "/dev/console", fileKind, 0o600)
	if err != nil {
		return fmt.Errorf("/dev/console: %w", err)
	}
	defer unix.Close(tfd)
	if err := r.sys.Mount(procFd(int(slave.Fd())), procFd(tfd), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind console %s on /dev/console: %w", slave.Name(), err)
	}
	return nil
}
