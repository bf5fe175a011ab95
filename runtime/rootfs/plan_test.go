package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/runtime/spec"
)

// planBundle makes a bundle whose rootfs has the directories and files the
// default spec's masked and read-only paths name.
func planBundle(t *testing.T) (string, string) {
	t.Helper()
	bundle := t.TempDir()
	root := filepath.Join(bundle, "rootfs")
	for _, d := range []string{"proc/acpi", "proc/sys", "sys/firmware", "dev", "etc", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "proc/kcore"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		t.Fatal(err)
	}
	return bundle, real
}

func runPlan(t *testing.T, s *specs.Spec, bundle, root string, opts Options) *recorder {
	t.Helper()
	rec := newRecorder(root)
	opts.Sys = rec
	r, err := New(s, bundle, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.pivotRoot = root
	if err := r.Mount(); err != nil {
		t.Fatalf("Mount: %v\ncalls:\n%s", err, dump(rec))
	}
	if err := r.Pivot(); err != nil {
		t.Fatalf("Pivot: %v", err)
	}
	if err := r.Finalize(); err != nil {
		t.Fatalf("Finalize: %v\ncalls:\n%s", err, dump(rec))
	}
	return rec
}

func dump(rec *recorder) string {
	var b strings.Builder
	for _, c := range rec.calls {
		b.WriteString(c.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func TestPlanDefaultSpec(t *testing.T) {
	bundle, root := planBundle(t)
	s := spec.Default(false, 0, 0)
	rec := runPlan(t, s, bundle, root, Options{})
	calls := rec.calls
	if len(calls) < 10 {
		t.Fatalf("too few calls:\n%s", dump(rec))
	}
	// First: / becomes rslave, then the root is bound onto itself.
	if c := calls[0]; c.Op != "mount" || c.Target != "/" || c.Flags != unix.MS_SLAVE|unix.MS_REC {
		t.Errorf("first call %v, want / rslave", c)
	}
	idx := func(op, target string) int {
		for i, c := range calls {
			if c.Op == op && c.Target == target {
				return i
			}
		}
		return -1
	}
	self := -1
	for i, c := range calls {
		if c.Op == "mount" && c.Source == "/" && c.Target == "/" && c.Flags == unix.MS_BIND|unix.MS_REC {
			self = i
			break
		}
	}
	if self < 0 {
		t.Fatalf("no self bind of the root:\n%s", dump(rec))
	}
	// Spec mounts, in order, each on a path inside the root.
	order := []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"}
	last := self
	for _, d := range order {
		i := idx("mount", d)
		if i < 0 {
			t.Fatalf("no mount on %s:\n%s", d, dump(rec))
		}
		if i < last {
			t.Errorf("mount on %s out of order", d)
		}
		last = i
	}
	if c := calls[idx("mount", "/proc")]; c.FSType != "proc" || c.Source != "proc" {
		t.Errorf("proc: %v", c)
	}
	if c := calls[idx("mount", "/dev")]; c.FSType != "tmpfs" || c.Data != "mode=755,size=65536k" || c.Flags != unix.MS_NOSUID|unix.MS_STRICTATIME {
		t.Errorf("/dev: %v", c)
	}
	if c := calls[idx("mount", "/dev/pts")]; c.FSType != "devpts" || c.Data != "newinstance,ptmxmode=0666,mode=0620,gid=5" || c.Flags != unix.MS_NOSUID|unix.MS_NOEXEC {
		t.Errorf("/dev/pts: %v", c)
	}
	if c := calls[idx("mount", "/sys")]; c.FSType != "sysfs" || c.Flags != unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_NODEV|unix.MS_RDONLY {
		t.Errorf("/sys: %v", c)
	}
	// Default devices, created with mknod, owned by root, mode 0666.
	for dev, num := range map[string]string{"/dev/null": "1:3", "/dev/zero": "1:5", "/dev/full": "1:7", "/dev/random": "1:8", "/dev/urandom": "1:9", "/dev/tty": "5:0"} {
		m := rec.find("mknod", dev)
		if len(m) != 1 || m[0].Data != num || m[0].Flags != unix.S_IFCHR|0o666 {
			t.Errorf("mknod %s: %v", dev, m)
		}
		if len(rec.find("chown", dev)) != 1 {
			t.Errorf("chown %s missing", dev)
		}
		fi, err := os.Stat(filepath.Join(root, dev))
		if err != nil || fi.Mode().Perm() != 0o666 {
			t.Errorf("%s mode: %v %v", dev, fi, err)
		}
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "ptmx": "pts/ptmx"} {
		got, err := os.Readlink(filepath.Join(root, "dev", name))
		if err != nil || got != target {
			t.Errorf("/dev/%s -> %q (%v), want %q", name, got, err, target)
		}
	}
	// Pivot, then read-only and masked paths, then / read-only.
	piv := idx("pivot_root", ".")
	if piv < last {
		t.Fatalf("pivot_root missing or early:\n%s", dump(rec))
	}
	if u := idx("umount", "."); u < piv || calls[u].Flags != unix.MNT_DETACH {
		t.Errorf("old root not detached after pivot")
	}
	ro := rec.find("mount", "/proc/sys")
	if len(ro) != 2 || ro[0].Flags != unix.MS_BIND|unix.MS_REC || ro[1].Flags&(unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_BIND) != unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_BIND {
		t.Errorf("readonly /proc/sys: %v", ro)
	}
	if m := rec.find("mount", "/proc/kcore"); len(m) != 1 || m[0].Source != "/dev/null" || m[0].Flags != unix.MS_BIND {
		t.Errorf("masked /proc/kcore: %v", m)
	}
	if m := rec.find("mount", "/proc/acpi"); len(m) != 1 || m[0].FSType != "tmpfs" || m[0].Flags != unix.MS_RDONLY {
		t.Errorf("masked /proc/acpi: %v", m)
	}
	if m := rec.find("mount", "/proc/keys"); len(m) != 0 {
		t.Errorf("missing masked path was mounted: %v", m)
	}
	lastCall := calls[len(calls)-1]
	if lastCall.Target != "/" || lastCall.Flags&(unix.MS_REMOUNT|unix.MS_RDONLY) != unix.MS_REMOUNT|unix.MS_RDONLY {
		t.Errorf("last call %v, want / remounted read-only", lastCall)
	}
}

func TestPlanBindAndOptions(t *testing.T) {
	bundle, root := planBundle(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := spec.Default(false, 0, 0)
	s.Root.Readonly = false
	s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
	s.Linux.RootfsPropagation = "shared"
	s.Mounts = []specs.Mount{
		{Destination: "/data", Type: "bind", Source: src, Options: []string{"rbind", "ro", "nosuid", "rslave"}},
		{Destination: "/etc/hosts.x", Type: "none", Source: filepath.Join(src, "file"), Options: []string{"bind"}},
		{Destination: "/deep/a/b", Type: "tmpfs", Source: "tmpfs", Options: []string{"rro", "rnosuid", "size=1m"}},
	}
	rec := runPlan(t, s, bundle, root, Options{NoPivot: true})
	d := rec.find("mount", "/data")
	if len(d) != 3 {
		t.Fatalf("/data: %v\n%s", d, dump(rec))
	}
	if d[0].Source != src || d[0].Flags != unix.MS_BIND|unix.MS_REC {
		t.Errorf("bind: %v", d[0])
	}
	if d[1].Flags != unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID {
		t.Errorf("remount: %v", d[1])
	}
	if d[2].Flags != unix.MS_SLAVE|unix.MS_REC {
		t.Errorf("propagation: %v", d[2])
	}
	if fi, err := os.Stat(filepath.Join(root, "data")); err != nil || !fi.IsDir() {
		t.Errorf("/data not a directory: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(root, "etc/hosts.x")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("/etc/hosts.x not a file: %v", err)
	}
	sa := rec.find("mount_setattr", "/deep/a/b/")
	if len(sa) != 1 || sa[0].Attr.Attr_set != unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID || sa[0].Flags != unix.AT_EMPTY_PATH|unix.AT_RECURSIVE {
		t.Errorf("rro: %v\n%s", sa, dump(rec))
	}
	// No pivot: move + chroot, then rootfsPropagation on the new /.
	if len(rec.find("pivot_root", ".")) != 0 || len(rec.find("chroot", ".")) != 1 {
		t.Errorf("no-pivot path not taken:\n%s", dump(rec))
	}
	if m := rec.find("mount", "/"); len(m) == 0 || m[len(m)-1].Flags != unix.MS_SHARED {
		t.Errorf("rootfsPropagation not applied last: %v", m)
	}
	if m := rec.find("mount", "/"); m[0].Flags != unix.MS_SHARED {
		t.Errorf("/ propagation at start: %v", m[0])
	}
}

// A mount destination that is a symlink pointing out of the root lands inside
// the root (CVE-2021-30465 class).
func TestPlanSymlinkDestinationStaysInRoot(t *testing.T) {
	bundle, root := planBundle(t)
	host := t.TempDir()
	if err := os.Symlink(host, filepath.Join(root, "evil")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../../etc", filepath.Join(root, "evil2")); err != nil {
		t.Fatal(err)
	}
	s := spec.Default(false, 0, 0)
	s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
	s.Mounts = []specs.Mount{
		{Destination: "/evil/sub", Type: "tmpfs", Source: "tmpfs"},
		{Destination: "/evil2/x", Type: "tmpfs", Source: "tmpfs"},
	}
	rec := runPlan(t, s, bundle, root, Options{})
	if _, err := os.Stat(filepath.Join(host, "sub")); !os.IsNotExist(err) {
		t.Errorf("directory created on the host through the symlink: %v", err)
	}
	if m := rec.find("mount", host+"/sub"); len(m) != 1 {
		t.Errorf("tmpfs for /evil/sub should be at <root>%s/sub: %v\n%s", host, m, dump(rec))
	}
	if m := rec.find("mount", "/etc/x"); len(m) != 1 {
		t.Errorf("tmpfs for /evil2/x should be at <root>/etc/x: %v\n%s", m, dump(rec))
	}
	if _, err := os.Stat(filepath.Join(root, host, "sub")); err != nil {
		t.Errorf("target not created inside the root: %v", err)
	}
	if _, err := os.Stat("/etc/x"); err == nil {
		t.Errorf("/etc/x created on the host")
	}
}

func TestPlanUserNamespaceBindsDevices(t *testing.T) {
	bundle, root := planBundle(t)
	s := spec.Default(true, 1000, 1000)
	s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
	rec := runPlan(t, s, bundle, root, Options{})
	if len(rec.find("mknod", "/dev/null")) != 0 {
		t.Errorf("mknod in a user namespace")
	}
	m := rec.find("mount", "/dev/null")
	if len(m) != 1 || m[0].Source != "/dev/null" || m[0].Flags != unix.MS_BIND {
		t.Errorf("/dev/null not bound from the host: %v", m)
	}
}

func TestPlanProcDestinations(t *testing.T) {
	for _, c := range []struct {
		m  specs.Mount
		ok bool
	}{
		{specs.Mount{Destination: "/proc", Type: "tmpfs", Source: "tmpfs"}, false},
		{specs.Mount{Destination: "/proc/self", Type: "bind", Source: "/tmp", Options: []string{"bind"}}, false},
		{specs.Mount{Destination: "/proc/sys/kernel/core_pattern", Type: "bind", Source: "/etc/hostname", Options: []string{"bind"}}, false},
		{specs.Mount{Destination: "/proc/meminfo", Type: "bind", Source: "/proc/meminfo", Options: []string{"bind"}}, true},
		{specs.Mount{Destination: "/proc/../proc/self/", Type: "bind", Source: "/tmp", Options: []string{"bind"}}, false},
	} {
		bundle, _ := planBundle(t)
		s := spec.Default(false, 0, 0)
		s.Mounts = append(s.Mounts, c.m)
		rec := newRecorder(filepath.Join(bundle, "rootfs"))
		r, err := New(s, bundle, Options{Sys: rec})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Mount()
		r.Close()
		if c.ok != (err == nil) {
			t.Errorf("mount on %s: err=%v, want ok=%v", c.m.Destination, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "mounts[7]") {
			t.Errorf("error does not name the mount: %v", err)
		}
	}
}

func TestMountInfoParse(t *testing.T) {
	in := "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n" +
		"37 36 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
	ms, err := parseMountInfo(strings.NewReader(in))
	if err != nil || len(ms) != 2 {
		t.Fatalf("%v %v", ms, err)
	}
	if ms[0].Mountpoint != "/mnt/with space" || ms[0].Root != "/mnt1" || ms[0].FSType != "ext3" || ms[0].Optional[0] != "master:1" {
		t.Errorf("%+v", ms[0])
	}
	h := hostCgroups(ms)
	if len(h) != 1 || h[0].name != "cpu,cpuacct" || strings.Join(h[0].controllers, ",") != "cpu,cpuacct" {
		t.Errorf("%+v", h)
	}
	if _, err := parseMountInfo(strings.NewReader("garbage\n")); err == nil {
		t.Error("garbage accepted")
	}
}

func FuzzMountInfo(f *testing.F) {
	f.Add([]byte("36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n"))
	f.Add([]byte("1 0 0:1 / / rw - rootfs rootfs rw\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := parseMountInfo(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		_ = hostCgroups(ms)
		mountOf(ms, "/a/b")
	})
}

// Without a mount namespace nothing is mounted: the host's mounts would
// change. The root is entered with chroot.
func TestPlanNoMountNamespace(t *testing.T) {
	bundle, root := planBundle(t)
	s := spec.Default(false, 0, 0)
	var ns []specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type != specs.MountNamespace {
			ns = append(ns, n)
		}
	}
	s.Linux.Namespaces = ns
	rec := runPlan(t, s, bundle, root, Options{})
	for _, c := range rec.calls {
		if c.Op != "chdir" && c.Op != "chroot" {
			t.Errorf("unexpected call without a mount namespace: %v", c)
		}
	}
	if len(rec.find("chroot", ".")) != 1 {
		t.Errorf("no chroot:\n%s", dump(rec))
	}
}

// Without a cgroup namespace each hierarchy is a bind of the container's
// cgroup: a given path ("*" for all) when it exists, else the process's own.
func TestPlanCgroupBinds(t *testing.T) {
	bundle, root := planBundle(t)
	s := spec.Default(false, 0, 0)
	var ns []specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type != specs.CgroupNamespace {
			ns = append(ns, n)
		}
	}
	s.Linux.Namespaces = ns
	s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
	rec := runPlan(t, s, bundle, root, Options{CgroupPaths: map[string]string{"*": "/berth-does-not-exist"}})
	mounts, err := readMountInfo()
	if err != nil {
		t.Fatal(err)
	}
	own, _ := ownCgroups()
	hier := hostCgroups(mounts)
	if len(hier) == 0 {
		t.Fatal("host has no cgroup mounts")
	}
	for _, h := range hier {
		target := "/sys/fs/cgroup"
		if h.name != "" {
			target += "/" + h.name
		}
		m := rec.find("mount", target)
		if len(m) == 0 || m[0].Flags != unix.MS_BIND|unix.MS_REC {
			t.Errorf("%s: %v", target, m)
			continue
		}
		p, _ := cgroupPathFor(own, h)
		if want := filepath.Join(h.mi.Mountpoint, p); m[0].Source != want {
			t.Errorf("%s bound from %s, want %s", target, m[0].Source, want)
		}
		if h.name != "" && len(m) != 1 {
			t.Errorf("%s: mounted or remounted again: %v", target, m)
		}
	}
	// A v1 layout: the default "ro,nosuid,noexec,nodev,relatime" go on the
	// tmpfs and every hierarchy below it in one recursive mount_setattr.
	if len(hier) > 1 {
		sa := rec.find("mount_setattr", "/sys/fs/cgroup/")
		want := uint64(unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_RELATIME)
		if len(sa) != 1 || sa[0].Attr.Attr_set != want || sa[0].Attr.Attr_clr != msRecAttrAtime || sa[0].Flags != unix.AT_EMPTY_PATH|unix.AT_RECURSIVE {
			t.Errorf("cgroup options: %v\n%s", sa, dump(rec))
		}
	}
}

func TestMountAttrOf(t *testing.T) {
	a, ok := mountAttrOf(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NOATIME)
	if !ok || a.Attr_set != unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOATIME || a.Attr_clr != msRecAttrAtime {
		t.Errorf("ro,nosuid,noatime: %+v %v", a, ok)
	}
	if a, ok := mountAttrOf(unix.MS_NODEV); !ok || a.Attr_set != unix.MOUNT_ATTR_NODEV || a.Attr_clr != 0 {
		t.Errorf("nodev: %+v %v", a, ok)
	}
	if _, ok := mountAttrOf(unix.MS_RDONLY | unix.MS_SYNCHRONOUS); ok {
		t.Error("sync has no mount attribute but was accepted")
	}
}

// A pure cgroup v2 host, presented through a fake mountinfo: one cgroup2
// mount at /sys/fs/cgroup, mounted directly in a cgroup namespace and bound
// from the container's cgroup without one.
func TestPlanCgroupV2(t *testing.T) {
	old := cgroupMountInfo
	t.Cleanup(func() { cgroupMountInfo = old })
	cgroupMountInfo = func() ([]mountInfo, error) {
		return parseMountInfo(strings.NewReader(
			"25 1 0:22 / /sys rw,nosuid,nodev,noexec - sysfs sysfs rw\n" +
				"30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec - cgroup2 cgroup2 rw,nsdelegate\n"))
	}
	for _, cgroupns := range []bool{true, false} {
		bundle, root := planBundle(t)
		s := spec.Default(false, 0, 0)
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
		if !cgroupns {
			var ns []specs.LinuxNamespace
			for _, n := range s.Linux.Namespaces {
				if n.Type != specs.CgroupNamespace {
					ns = append(ns, n)
				}
			}
			s.Linux.Namespaces = ns
		}
		// "/" exists on every host under /sys/fs/cgroup.
		rec := runPlan(t, s, bundle, root, Options{CgroupPaths: map[string]string{"": "/"}})
		m := rec.find("mount", "/sys/fs/cgroup")
		if len(m) == 0 {
			t.Fatalf("cgroupns=%v: no mount at /sys/fs/cgroup:\n%s", cgroupns, dump(rec))
		}
		ro := unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV | unix.MS_RELATIME | unix.MS_RDONLY
		if cgroupns {
			if m[0].FSType != "cgroup2" || m[0].Flags != uintptr(ro) || len(m) != 1 {
				t.Errorf("cgroupns: %v", m)
			}
		} else {
			if m[0].Source != "/sys/fs/cgroup" || m[0].Flags != unix.MS_BIND|unix.MS_REC || len(m) != 2 ||
				m[1].Flags != uintptr(ro)|unix.MS_BIND|unix.MS_REMOUNT {
				t.Errorf("no cgroupns: %v", m)
			}
		}
		for _, c := range rec.calls {
			if c.FSType == "tmpfs" && c.Target == "/sys/fs/cgroup" {
				t.Errorf("v2 host got a v1-style tmpfs: %v", c)
			}
		}
	}
}
