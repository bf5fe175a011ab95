package rootfs

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/runtime/spec"
)

const hostCgroupRoot = "/sys/fs/cgroup"

// cgroupMountInfo, when set, lists the mounts the cgroup layout is read from
// instead of the host's; tests set it to present a v1, hybrid or pure v2 host.
var cgroupMountInfo func() ([]mountInfo, error)

// cgroupHierarchy is one host cgroup mount under /sys/fs/cgroup.
type cgroupHierarchy struct {
	name        string // directory under /sys/fs/cgroup ("cpu,cpuacct", "unified"; "" for pure v2)
	v2          bool
	controllers []string // v1: controllers and name=... of the hierarchy
	mi          mountInfo
}

// hostCgroups lists the host's cgroup hierarchies as this mount namespace
// sees them.
func hostCgroups(mounts []mountInfo) []cgroupHierarchy {
	var out []cgroupHierarchy
	seen := map[string]bool{}
	for _, m := range mounts {
		if m.FSType != "cgroup" && m.FSType != "cgroup2" {
			continue
		}
		var name string
		switch {
		case m.Mountpoint == hostCgroupRoot:
			name = ""
		case strings.HasPrefix(m.Mountpoint, hostCgroupRoot+"/"):
			name = strings.TrimPrefix(m.Mountpoint, hostCgroupRoot+"/")
			if strings.Contains(name, "/") {
				continue
			}
		default:
			continue
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		h := cgroupHierarchy{name: name, v2: m.FSType == "cgroup2", mi: m}
		if !h.v2 {
			h.controllers = v1Controllers(m.SuperOpts)
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// v1Controllers keeps, from a cgroup v1 super block's options, the controller
// names and name=...; flags such as rw or xattr are dropped.
func v1Controllers(opts string) []string {
	var out []string
	for _, o := range strings.Split(opts, ",") {
		switch {
		case o == "rw" || o == "ro" || o == "xattr" || o == "noprefix" || o == "clone_children" ||
			o == "cpuset_v2_mode" || o == "favordynmods" || o == "nofavordynmods" || o == "":
		case strings.HasPrefix(o, "release_agent="):
		default:
			out = append(out, o)
		}
	}
	return out
}

// ownCgroups reads /proc/self/cgroup: the controller list ("" for v2) to path.
func ownCgroups() (map[string]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		out[parts[1]] = parts[2]
	}
	return out, sc.Err()
}

// cgroupPaths are the sources of the container's cgroup paths: those the
// caller gave (Options.CgroupPaths; key "*" for every hierarchy) and the
// process's own (/proc/self/cgroup).
type cgroupPaths struct {
	given, own map[string]string
}

// pathIn returns the container's cgroup directory (host path) in h: a given
// path that exists, else the process's own cgroup.
func (c cgroupPaths) pathIn(h cgroupHierarchy) (string, bool) {
	var cands []string
	if p, ok := cgroupPathFor(c.given, h); ok {
		cands = append(cands, p)
	} else if p, ok := c.given["*"]; ok {
		cands = append(cands, p)
	}
	if p, ok := cgroupPathFor(c.own, h); ok {
		cands = append(cands, p)
	}
	for _, p := range cands {
		rel := p
		if h.mi.Root != "/" {
			rel = strings.TrimPrefix(p, h.mi.Root)
		}
		dir := path.Join(h.mi.Mountpoint, rel)
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir, true
		}
	}
	return "", false
}

// cgroupPathFor finds the path for hierarchy h in a /proc/self/cgroup-style map.
func cgroupPathFor(paths map[string]string, h cgroupHierarchy) (string, bool) {
	if h.v2 {
		p, ok := paths[""]
		return p, ok
	}
	want := append([]string(nil), h.controllers...)
	sort.Strings(want)
	for k, p := range paths {
		if k == "" {
			continue
		}
		got := strings.Split(k, ",")
		sort.Strings(got)
		if strings.Join(got, ",") == strings.Join(want, ",") {
			return p, true
		}
	}
	return "", false
}

// mountCgroup mounts the container's view of the cgroup file system at dest.
// On a pure v2 host it is a cgroup2 mount (in a cgroup namespace) or a bind
// of the container's cgroup; on a v1 or hybrid host a tmpfs holding one mount
// per host hierarchy, with the usual symlinks for co-mounted controllers.
func (r *Rootfs) mountCgroup(dest string, m specs.Mount, o spec.MountOptions) error {
	var mounts []mountInfo
	var err error
	if cgroupMountInfo != nil {
		mounts, err = cgroupMountInfo()
	} else {
		mounts, err = r.hostMounts()
	}
	if err != nil {
		return err
	}
	hier := hostCgroups(mounts)
	if len(hier) == 0 {
		return fmt.Errorf("no cgroup file system is mounted under %s on the host", hostCgroupRoot)
	}
	cgroupns := r.hasNamespace(specs.CgroupNamespace)
	var paths cgroupPaths
	if !cgroupns {
		paths.given = r.opts.CgroupPaths
		if paths.own, err = ownCgroups(); err != nil {
			return fmt.Errorf("read /proc/self/cgroup: %w", err)
		}
	}
	flags := o.Flags &^ unix.MS_REMOUNT
	if len(hier) == 1 && hier[0].name == "" && hier[0].v2 {
		tfd, err := r.target(dest, m, dirKind)
		if err != nil {
			return err
		}
		defer unix.Close(tfd)
		if err := r.mountHierarchy(tfd, dest, hier[0], cgroupns, paths, flags); err != nil {
			return err
		}
		nfd, err := r.reopen(dest)
		if err != nil {
			return err
		}
		defer unix.Close(nfd)
		return r.applyAfter(nfd, o)
	}
	tfd, err := r.target(dest, m, dirKind)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	if err := r.sys.Mount("tmpfs", procFd(tfd), "tmpfs", flags&^unix.MS_RDONLY, "mode=755"); err != nil {
		return fmt.Errorf("tmpfs for cgroup v1 hierarchies: %w", err)
	}
	cfd, err := r.reopen(dest)
	if err != nil {
		return err
	}
	defer unix.Close(cfd)
	// The options of the hierarchies and of the tmpfs holding them go on in
	// one recursive mount_setattr at the end where they map onto mount
	// attributes, rather than a remount of each (two dozen system calls).
	attr, oneCall := mountAttrOf(flags)
	eachFlags := flags
	if oneCall {
		eachFlags = 0
	}
	var subs []string
	for _, h := range hier {
		if h.name == "" {
			continue
		}
		sub := path.Join(dest, h.name)
		sfd, err := r.freshDir(cfd, h.name)
		if err != nil {
			sfd, err = r.ensure(r.rootfd, sub, dirKind, 0o755)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", sub, err)
		}
		err = r.mountHierarchy(sfd, sub, h, cgroupns, paths, eachFlags)
		unix.Close(sfd)
		if err != nil {
			return err
		}
		subs = append(subs, sub)
		// "cpu,cpuacct" is also reachable as "cpu" and "cpuacct".
		if strings.Contains(h.name, ",") {
			for _, c := range strings.Split(h.name, ",") {
				if err := r.sys.Symlinkat(h.name, cfd, c); err != nil && err != unix.EEXIST {
					return fmt.Errorf("symlink %s -> %s: %w", path.Join(dest, c), h.name, err)
				}
			}
		}
	}
	if oneCall && flags != 0 {
		err := r.sys.MountSetattr(cfd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr)
		if err == nil {
			return r.applyAfter(cfd, o)
		}
		// An older kernel, or a flag locked by a user namespace: one
		// remount per mount, as below.
		for _, sub := range subs {
			if err := r.remountAt(sub, flags); err != nil {
				return fmt.Errorf("%s: %w", sub, err)
			}
		}
	}
	if flags&unix.MS_RDONLY != 0 {
		if err := r.bindRemount(cfd, flags); err != nil {
			return err
		}
	}
	return r.applyAfter(cfd, o)
}

// freshDir makes the directory name in dir, a tmpfs this runtime has just
// mounted (nothing else can have put a symlink there), and opens it; an
// error sends the caller to the general path.
func (r *Rootfs) freshDir(dir int, name string) (int, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return -1, unix.EINVAL
	}
	if err := r.sys.Mkdirat(dir, name, 0o755); err != nil {
		return -1, err
	}
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV}
	return r.sys.Openat2(dir, name, &how)
}

// mountAttrOf maps mount(2) flags onto mount_setattr attributes; ok is false
// when a flag has no attribute.
func mountAttrOf(flags uintptr) (attr unix.MountAttr, ok bool) {
	for _, m := range []struct {
		flag uintptr
		attr uint64
	}{
		{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY}, {unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
		{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV}, {unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
		{unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME},
	} {
		if flags&m.flag != 0 {
			attr.Attr_set |= m.attr
			flags &^= m.flag
		}
	}
	for _, m := range []struct {
		flag uintptr
		attr uint64
	}{
		{unix.MS_RELATIME, unix.MOUNT_ATTR_RELATIME}, {unix.MS_NOATIME, unix.MOUNT_ATTR_NOATIME},
		{unix.MS_STRICTATIME, unix.MOUNT_ATTR_STRICTATIME},
	} {
		if flags&m.flag != 0 {
			attr.Attr_clr |= msRecAttrAtime
			attr.Attr_set |= m.attr
			flags &^= m.flag
		}
	}
	return attr, flags == 0
}

// mountHierarchy mounts one hierarchy at the target fd: the file system
// itself in a cgroup namespace (its root is the namespace's root), or a bind
// of the container's cgroup directory without one.
func (r *Rootfs) mountHierarchy(tfd int, dest string, h cgroupHierarchy, cgroupns bool, paths cgroupPaths, flags uintptr) error {
	if cgroupns {
		var err error
		if h.v2 {
			err = r.sys.Mount("cgroup2", procFd(tfd), "cgroup2", flags, "")
		} else {
			err = r.sys.Mount("cgroup", procFd(tfd), "cgroup", flags, strings.Join(h.controllers, ","))
		}
		if err != nil {
			return fmt.Errorf("mount %s hierarchy at %s: %w", h.mi.FSType, dest, err)
		}
		return nil
	}
	src, ok := paths.pathIn(h)
	if !ok {
		return fmt.Errorf("container's cgroup in hierarchy %q not found", h.name)
	}
	if err := r.sys.Mount(src, procFd(tfd), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s at %s: %w", src, dest, err)
	}
	if flags != 0 {
		return r.remountAt(dest, flags)
	}
	return nil
}

// remountAt applies flags to the mount now at dest (a bind remount).
func (r *Rootfs) remountAt(dest string, flags uintptr) error {
	nfd, err := r.reopen(dest)
	if err != nil {
		return err
	}
	defer unix.Close(nfd)
	return r.bindRemount(nfd, flags)
}
