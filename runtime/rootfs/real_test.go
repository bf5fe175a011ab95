package rootfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/runtime/spec"
)

// Real mounts are tested in a child process: the test binary re-executed in a
// new mount namespace (and pid/uts/ipc namespaces), which builds the root,
// pivots into it and checks the result from inside. Nothing it mounts can
// outlive it or reach the host's mount table.

const (
	helperEnv = "BERTH_ROOTFS_HELPER"
	bundleEnv = "BERTH_ROOTFS_BUNDLE"
)

// scenario hooks; each returns an error describing what is wrong.
type scenario struct {
	opts        Options
	beforeMount func(bundle string, s *specs.Spec) error
	afterMount  func(r *Rootfs) error     // before pivot: host paths visible
	afterAll    func(s *specs.Spec) error // inside the new root
	wantErr     string                    // the flow must fail with this text
	console     bool                      // allocate a pty after pivot, BindConsole
	prepare     func(bundle string, s *specs.Spec, o *Options) error
}

var scenarios = map[string]scenario{}

func TestMain(m *testing.M) {
	if name := os.Getenv(helperEnv); name != "" {
		runtime.LockOSThread()
		if err := runHelper(name, os.Getenv(bundleEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runHelper(name, bundle string) error {
	sc, ok := scenarios[name]
	if !ok {
		return fmt.Errorf("unknown scenario %q", name)
	}
	// Nothing below may propagate to the host (a slave still receives).
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return err
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if sc.beforeMount != nil {
		if err := sc.beforeMount(bundle, &s); err != nil {
			return fmt.Errorf("before mount: %w", err)
		}
	}
	err = flow(sc, bundle, &s)
	if sc.wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), sc.wantErr) {
			return fmt.Errorf("want error containing %q, got %v", sc.wantErr, err)
		}
		return nil
	}
	return err
}

func flow(sc scenario, bundle string, s *specs.Spec) error {
	opts := sc.opts
	if sc.prepare != nil {
		if err := sc.prepare(bundle, s, &opts); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}
	r, err := New(s, bundle, opts)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.Mount(); err != nil {
		return err
	}
	if sc.afterMount != nil {
		if err := sc.afterMount(r); err != nil {
			return fmt.Errorf("after mount: %w", err)
		}
	}
	if err := r.Pivot(); err != nil {
		return err
	}
	if sc.console {
		if err := consoleFlow(r); err != nil {
			return fmt.Errorf("console: %w", err)
		}
	}
	if err := r.Finalize(); err != nil {
		return err
	}
	if sc.afterAll != nil {
		if err := sc.afterAll(s); err != nil {
			return fmt.Errorf("inside: %w", err)
		}
	}
	return nil
}

// realBundle makes a bundle with a small rootfs and the given spec.
func realBundle(t *testing.T, edit func(s *specs.Spec)) string {
	t.Helper()
	bundle := t.TempDir()
	root := filepath.Join(bundle, "rootfs")
	for _, d := range []string{"proc", "sys", "dev", "etc", "tmp", "bin"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/marker"), []byte("inside"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := spec.Default(false, 0, 0)
	s.Process.Terminal = false
	if edit != nil {
		edit(s)
	}
	testutil.WriteSpec(t, bundle, s)
	return bundle
}

func runScenario(t *testing.T, name, bundle string) {
	t.Helper()
	testutil.Integration(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+name, bundleEnv+"="+bundle)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC,
		Pdeathsig:  syscall.SIGKILL,
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scenario %s: %v\n%s", name, err, out)
	}
	// Nothing was left mounted on the host.
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mi), bundle+"/") {
		t.Errorf("a mount under %s is visible on the host:\n%s", bundle, mi)
	}
}

func readString(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func isFS(p string, magic int64) bool {
	var st unix.Statfs_t
	return unix.Statfs(p, &st) == nil && st.Type == magic
}

func expectEROFS(p string) error {
	err := os.WriteFile(p, []byte("x"), 0o644)
	if !errors.Is(err, unix.EROFS) {
		return fmt.Errorf("write %s: %v, want EROFS", p, err)
	}
	return nil
}

func init() {
	scenarios["default"] = scenario{
		afterAll: func(s *specs.Spec) error {
			if readString("/etc/marker") != "inside" {
				return errors.New("/etc/marker not found: not in the new root")
			}
			if !isFS("/proc", unix.PROC_SUPER_MAGIC) || !isFS("/dev", unix.TMPFS_MAGIC) || !isFS("/sys", unix.SYSFS_MAGIC) {
				return errors.New("/proc, /dev or /sys not mounted")
			}
			var st unix.Stat_t
			if err := unix.Stat("/dev/null", &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) || st.Mode&0o777 != 0o666 {
				return fmt.Errorf("/dev/null: %+v %v", st, err)
			}
			if l, _ := os.Readlink("/dev/ptmx"); l != "pts/ptmx" {
				return fmt.Errorf("/dev/ptmx -> %q", l)
			}
			f, err := os.OpenFile("/dev/null", os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			f.Close()
			if err := expectEROFS("/newfile"); err != nil {
				return fmt.Errorf("root.readonly: %w", err)
			}
			if err := expectEROFS("/proc/sys/kernel/hostname"); err != nil {
				return fmt.Errorf("readonly /proc/sys: %w", err)
			}
			if b := readString("/proc/timer_list"); b != "" {
				return fmt.Errorf("masked /proc/timer_list readable: %.40q", b)
			}
			ents, err := os.ReadDir("/sys/firmware")
			if err != nil || len(ents) != 0 {
				return fmt.Errorf("masked /sys/firmware: %v %v", ents, err)
			}
			if !isFS("/sys/fs/cgroup/memory", unix.CGROUP_SUPER_MAGIC) && !isFS("/sys/fs/cgroup", unix.CGROUP2_SUPER_MAGIC) {
				return errors.New("no cgroup file system at /sys/fs/cgroup")
			}
			// The old root is gone.
			mi := readString("/proc/self/mountinfo")
			if strings.Contains(mi, " / / ") && strings.Count(mi, "\n") > 40 {
				return fmt.Errorf("host mounts still visible:\n%s", mi)
			}
			wd, _ := os.Getwd()
			if wd != "/" {
				return fmt.Errorf("cwd %q after pivot", wd)
			}
			return nil
		},
	}
}

func TestRealDefault(t *testing.T) {
	runScenario(t, "default", realBundle(t, nil))
}

func init() {
	scenarios["nopivot"] = scenario{
		opts: Options{NoPivot: true},
		afterAll: func(s *specs.Spec) error {
			if readString("/etc/marker") != "inside" {
				return errors.New("not in the new root")
			}
			if _, err := os.Stat("/etc/os-release"); err == nil {
				return errors.New("host /etc visible")
			}
			if err := os.Chdir("/../../.."); err != nil {
				return err
			}
			if readString("etc/marker") != "inside" {
				return errors.New(".. leaves the root")
			}
			return nil
		},
	}
}

func TestRealNoPivot(t *testing.T) {
	runScenario(t, "nopivot", realBundle(t, nil))
}

// A mount destination that is a symlink to a host path lands inside the root,
// and the host directory is untouched (CVE-2021-30465 class).
func init() {
	scenarios["symlink"] = scenario{
		beforeMount: func(bundle string, s *specs.Spec) error {
			root := filepath.Join(bundle, "rootfs")
			host := filepath.Join(bundle, "hostdir")
			if err := os.Mkdir(host, 0o755); err != nil {
				return err
			}
			if err := os.Symlink(host, filepath.Join(root, "evil")); err != nil {
				return err
			}
			if err := os.Symlink("../../../../../../../../../etc", filepath.Join(root, "evil2")); err != nil {
				return err
			}
			return os.Symlink("/etc/hostname", filepath.Join(root, "evilfile"))
		},
		afterMount: func(r *Rootfs) error {
			host := filepath.Join(r.bundle, "hostdir")
			if isFS(host, unix.TMPFS_MAGIC) || isFS(filepath.Join(host, "sub"), unix.TMPFS_MAGIC) {
				return errors.New("tmpfs mounted on the host directory")
			}
			if _, err := os.Stat(filepath.Join(host, "sub")); err == nil {
				return errors.New("directory created on the host")
			}
			if !isFS(filepath.Join(r.root, host, "sub"), unix.TMPFS_MAGIC) {
				return errors.New("tmpfs not at <root>/<hostdir>/sub")
			}
			if !isFS(filepath.Join(r.root, "etc/x"), unix.TMPFS_MAGIC) || isFS("/etc/x", unix.TMPFS_MAGIC) {
				return errors.New("relative escape: tmpfs not at <root>/etc/x")
			}
			if readString("/etc/hostname") == "bound\n" {
				return errors.New("host /etc/hostname covered")
			}
			if readString(filepath.Join(r.root, "etc/hostname")) != "bound\n" {
				return errors.New("file bind not at <root>/etc/hostname")
			}
			return nil
		},
	}
}

func TestRealSymlinkEscape(t *testing.T) {
	bundle := realBundle(t, nil)
	src := filepath.Join(bundle, "hostname.src")
	if err := os.WriteFile(src, []byte("bound\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := spec.Default(false, 0, 0)
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/evil/sub", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/evil2/x", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/evilfile", Type: "bind", Source: src, Options: []string{"bind", "ro"}},
	)
	testutil.WriteSpec(t, bundle, s)
	runScenario(t, "symlink", bundle)
}

// Masked paths: a masked path that is a symlink is masked where it points
// inside the root; a /dev/null that is not the null device is refused.
func init() {
	scenarios["maskedsymlink"] = scenario{
		beforeMount: func(bundle string, s *specs.Spec) error {
			root := filepath.Join(bundle, "rootfs")
			if err := os.WriteFile(filepath.Join(root, "etc/secret"), []byte("secret"), 0o644); err != nil {
				return err
			}
			if err := os.Symlink("/etc/secret", filepath.Join(root, "masklink")); err != nil {
				return err
			}
			// A symlink pointing at a host file outside the root.
			return os.Symlink(filepath.Join(bundle, "hostsecret"), filepath.Join(root, "masklink2"))
		},
		afterAll: func(s *specs.Spec) error {
			if b := readString("/masklink"); b != "" {
				return fmt.Errorf("masked symlink target readable: %q", b)
			}
			if b := readString("/etc/secret"); b != "" {
				return fmt.Errorf("masked file readable: %q", b)
			}
			return nil
		},
	}
	scenarios["fakedevnull"] = scenario{
		beforeMount: func(bundle string, s *specs.Spec) error {
			// /dev comes from the bundle (a bind), so the runtime creates no
			// devices, and its "null" is a regular file.
			dev := filepath.Join(bundle, "fakedev")
			if err := os.Mkdir(dev, 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dev, "null"), []byte("not null"), 0o644)
		},
		wantErr: "/dev/null in the container: not the null character device",
	}
}

func TestRealMaskedPathSymlink(t *testing.T) {
	bundle := realBundle(t, func(s *specs.Spec) {
		s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/masklink", "/masklink2")
	})
	hostSecret := filepath.Join(bundle, "hostsecret")
	if err := os.WriteFile(hostSecret, []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	runScenario(t, "maskedsymlink", bundle)
	if readString(hostSecret) != "host" {
		t.Error("host file changed")
	}
}

func TestRealFakeDevNull(t *testing.T) {
	bundle := realBundle(t, nil)
	s := spec.Default(false, 0, 0)
	for i, m := range s.Mounts {
		if m.Destination == "/dev" {
			s.Mounts[i] = specs.Mount{Destination: "/dev", Type: "bind", Source: filepath.Join(bundle, "fakedev"), Options: []string{"rbind"}}
		}
	}
	s.Mounts = s.Mounts[:2] // /proc, /dev
	s.Linux.ReadonlyPaths = nil
	s.Linux.MaskedPaths = []string{"/proc/timer_list"}
	testutil.WriteSpec(t, bundle, s)
	runScenario(t, "fakedevnull", bundle)
}

// rootfsPropagation is applied to the container's /.
func init() {
	for _, p := range []string{"shared", "slave", "private", "unbindable"} {
		p := p
		scenarios["prop-"+p] = scenario{
			afterAll: func(s *specs.Spec) error {
				mi, err := readMountInfo()
				if err != nil {
					return err
				}
				for _, m := range mi {
					if m.Mountpoint != "/" {
						continue
					}
					opt := strings.Join(m.Optional, " ")
					ok := map[string]bool{
						"shared":     strings.Contains(opt, "shared:"),
						"slave":      strings.Contains(opt, "master:"),
						"private":    opt == "",
						"unbindable": strings.Contains(opt, "unbindable"),
					}[p]
					if !ok {
						return fmt.Errorf("/ has %q, want %s", opt, p)
					}
					return nil
				}
				return errors.New("no / in mountinfo")
			},
		}
	}
}

func TestRealRootfsPropagation(t *testing.T) {
	for _, p := range []string{"shared", "slave", "private", "unbindable"} {
		t.Run(p, func(t *testing.T) {
			bundle := realBundle(t, func(s *specs.Spec) { s.Linux.RootfsPropagation = p })
			if p == "slave" {
				// A slave needs a master that outlives the pivot: the
				// bundle becomes a shared mount on the host, which the
				// container's root is then a slave of.
				if err := unix.Mount(bundle, bundle, "", unix.MS_BIND, ""); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { unix.Unmount(bundle, unix.MNT_DETACH) })
				if err := unix.Mount("", bundle, "", unix.MS_SHARED, ""); err != nil {
					t.Fatal(err)
				}
			}
			runScenario(t, "prop-"+p, bundle)
		})
	}
}

// Bind mounts: ro needs a remount, rro reaches submounts, propagation and
// tmpcopyup, idmapped mounts.
func init() {
	scenarios["binds"] = scenario{
		beforeMount: func(bundle string, s *specs.Spec) error {
			sub := filepath.Join(bundle, "vol", "sub")
			return unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m")
		},
		afterAll: func(s *specs.Spec) error {
			if readString("/ro/file") != "data" || readString("/rro/file") != "data" {
				return errors.New("bind sources not visible")
			}
			if err := expectEROFS("/ro/new"); err != nil {
				return err
			}
			// ro is not recursive: the submount stays writable.
			if err := os.WriteFile("/ro/sub/new", []byte("x"), 0o644); err != nil {
				return fmt.Errorf("ro bind: submount should be writable: %v", err)
			}
			if err := expectEROFS("/rro/sub/new2"); err != nil {
				return fmt.Errorf("rro: %w", err)
			}
			if err := expectEROFS("/rro/new"); err != nil {
				return fmt.Errorf("rro: %w", err)
			}
			if readString("/tc/keep") != "kept" || !isFS("/tc", unix.TMPFS_MAGIC) {
				return errors.New("tmpcopyup: content not copied into the tmpfs")
			}
			if readString("/single") != "data" {
				return errors.New("file bind missing")
			}
			var st unix.Statfs_t
			if err := unix.Statfs("/nx", &st); err != nil || st.Flags&unix.ST_NOEXEC == 0 || st.Flags&unix.ST_NOSUID == 0 {
				return fmt.Errorf("nosuid,noexec bind: flags %#x %v", st.Flags, err)
			}
			return nil
		},
	}
}

func TestRealBinds(t *testing.T) {
	bundle := realBundle(t, nil)
	vol := filepath.Join(bundle, "vol")
	os.MkdirAll(filepath.Join(vol, "sub"), 0o755)
	os.WriteFile(filepath.Join(vol, "file"), []byte("data"), 0o644)
	os.MkdirAll(filepath.Join(bundle, "rootfs", "tc"), 0o755)
	os.WriteFile(filepath.Join(bundle, "rootfs", "tc", "keep"), []byte("kept"), 0o644)
	s := spec.Default(false, 0, 0)
	s.Root.Readonly = false
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/ro", Type: "bind", Source: vol, Options: []string{"rbind", "ro"}},
		specs.Mount{Destination: "/rro", Type: "bind", Source: vol, Options: []string{"rbind", "rro", "rprivate"}},
		specs.Mount{Destination: "/nx", Type: "bind", Source: vol, Options: []string{"bind", "nosuid", "noexec"}},
		specs.Mount{Destination: "/single", Type: "none", Source: "vol/file", Options: []string{"bind"}},
		specs.Mount{Destination: "/tc", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup", "size=1m"}},
	)
	testutil.WriteSpec(t, bundle, s)
	runScenario(t, "binds", bundle)
}

func init() {
	scenarios["idmap"] = scenario{
		afterAll: func(s *specs.Spec) error {
			var st unix.Stat_t
			if err := unix.Stat("/idm/owned-by-0", &st); err != nil {
				return err
			}
			if st.Uid != 1000 || st.Gid != 2000 {
				return fmt.Errorf("idmapped: file owned by 0:0 on disk shows as %d:%d, want 1000:2000", st.Uid, st.Gid)
			}
			if err := unix.Stat("/plain/owned-by-0", &st); err != nil || st.Uid != 0 {
				return fmt.Errorf("plain bind: uid %d %v", st.Uid, err)
			}
			return nil
		},
	}
}

func TestRealIDMappedMount(t *testing.T) {
	bundle := realBundle(t, nil)
	vol := filepath.Join(bundle, "idvol")
	os.MkdirAll(vol, 0o755)
	if err := os.WriteFile(filepath.Join(vol, "owned-by-0"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := spec.Default(false, 0, 0)
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/idm", Type: "bind", Source: vol, Options: []string{"bind", "idmap"},
			UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 10}},
			GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 2000, Size: 10}}},
		specs.Mount{Destination: "/plain", Type: "bind", Source: vol, Options: []string{"bind"}},
	)
	testutil.WriteSpec(t, bundle, s)
	runScenario(t, "idmap", bundle)
}

// Without a cgroup namespace the container's own cgroups are bound.
func init() {
	scenarios["cgroup-bind"] = scenario{
		afterAll: func(s *specs.Spec) error {
			if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err != nil {
				if _, err2 := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err2 != nil {
					return fmt.Errorf("no cgroup files: %v / %v", err, err2)
				}
			}
			return expectEROFS("/sys/fs/cgroup/memory/berth-should-not-exist")
		},
	}
}

func TestRealCgroupWithoutNamespace(t *testing.T) {
	bundle := realBundle(t, func(s *specs.Spec) {
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.CgroupNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = ns
	})
	runScenario(t, "cgroup-bind", bundle)
}

// A console allocated inside the container after pivot is bound onto
// /dev/console.
func init() {
	scenarios["console"] = scenario{console: true}
}

func consoleFlow(r *Rootfs) error {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return err
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		return err
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	defer slave.Close()
	if err := r.BindConsole(slave); err != nil {
		return err
	}
	var a, b unix.Stat_t
	if err := unix.Fstat(int(slave.Fd()), &a); err != nil {
		return err
	}
	if err := unix.Stat("/dev/console", &b); err != nil {
		return err
	}
	if a.Rdev != b.Rdev {
		return fmt.Errorf("/dev/console is %d:%d, the pty slave %d:%d", unix.Major(b.Rdev), unix.Minor(b.Rdev), unix.Major(a.Rdev), unix.Minor(a.Rdev))
	}
	return nil
}

func TestRealBindConsole(t *testing.T) {
	runScenario(t, "console", realBundle(t, nil))
}

// The host-side preparation path: PrepareIDMapped makes the detached trees,
// Mount moves them into place.
func init() {
	sc := scenarios["idmap"]
	sc.prepare = func(bundle string, s *specs.Spec, o *Options) error {
		files, err := PrepareIDMapped(s, bundle, "")
		if err != nil {
			return err
		}
		if len(files) != 1 {
			return fmt.Errorf("%d prepared trees, want 1", len(files))
		}
		o.IDMapped = map[int]int{}
		for i, f := range files {
			o.IDMapped[i] = int(f.Fd())
		}
		return nil
	}
	scenarios["idmap-prepared"] = sc
}

func TestRealIDMappedPrepared(t *testing.T) {
	bundle := realBundle(t, nil)
	vol := filepath.Join(bundle, "idvol")
	os.MkdirAll(vol, 0o755)
	if err := os.WriteFile(filepath.Join(vol, "owned-by-0"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := spec.Default(false, 0, 0)
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/idm", Type: "bind", Source: "idvol", Options: []string{"rbind", "ridmap"},
			UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 10}},
			GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 2000, Size: 10}}},
		specs.Mount{Destination: "/plain", Type: "bind", Source: vol, Options: []string{"bind"}},
	)
	testutil.WriteSpec(t, bundle, s)
	runScenario(t, "idmap-prepared", bundle)
	// Bad input leaves nothing open: a source that does not exist.
	s.Mounts[len(s.Mounts)-2].Source = "/nonexistent-berth-src"
	before := countFds(t)
	if _, err := PrepareIDMapped(s, bundle, ""); err == nil || !strings.Contains(err.Error(), "mounts[7]") {
		t.Fatalf("PrepareIDMapped with a missing source: %v", err)
	}
	if after := countFds(t); after != before {
		t.Errorf("fds leaked: %d -> %d", before, after)
	}
}

func countFds(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// A destination that reaches /proc through a symlink in the image is held to
// the /proc rule on the path it resolves to.
func init() {
	scenarios["procsymlink"] = scenario{
		beforeMount: func(bundle string, s *specs.Spec) error {
			return os.Symlink("/proc/self", filepath.Join(bundle, "rootfs", "myproc"))
		},
		wantErr: "destination resolves to /proc/",
	}
}

func TestRealProcSymlinkDestination(t *testing.T) {
	bundle := realBundle(t, nil)
	s := spec.Default(false, 0, 0)
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/myproc/attr", Type: "bind", Source: bundle, Options: []string{"bind"}})
	testutil.WriteSpec(t, bundle, s)
	runScenario(t, "procsymlink", bundle)
}

// CVE-2021-30465 class, raced: while the mounts are made, another thread
// keeps exchanging a directory of the image with a symlink to a host
// directory. Every mount must land inside the root.
// raceStop ends the renaming goroutine; raceDone says it has ended (a rename
// in flight would make the later read-only remount of / fail with EBUSY).
var raceStop, raceDone = make(chan struct{}), make(chan struct{})

func init() {
	scenarios["race"] = scenario{
		beforeMount: func(bundle string, s *specs.Spec) error {
			root := filepath.Join(bundle, "rootfs")
			host := filepath.Join(bundle, "hostdir")
			for _, d := range []string{filepath.Join(root, "racedir", "sub"), filepath.Join(host, "sub"), filepath.Join(root, host, "sub")} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return err
				}
			}
			if err := os.Symlink(host, filepath.Join(root, "racelink")); err != nil {
				return err
			}
			a, b := filepath.Join(root, "racedir"), filepath.Join(root, "racelink")
			go func() {
				defer close(raceDone)
				for {
					select {
					case <-raceStop:
						return
					default:
					}
					unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
				}
			}()
			return nil
		},
		afterMount: func(r *Rootfs) error {
			close(raceStop)
			<-raceDone
			mi, err := readMountInfo()
			if err != nil {
				return err
			}
			host := filepath.Join(r.bundle, "hostdir")
			inRoot := 0
			for _, m := range mi {
				if m.Mountpoint == host || strings.HasPrefix(m.Mountpoint, host+"/") {
					return fmt.Errorf("a mount escaped to the host: %s", m.Mountpoint)
				}
				if m.FSType == "tmpfs" && strings.HasSuffix(m.Mountpoint, "/sub") && strings.HasPrefix(m.Mountpoint, r.root+"/") {
					inRoot++
				}
			}
			if inRoot != 60 {
				return fmt.Errorf("%d of 60 racing mounts found inside the root", inRoot)
			}
			return nil
		},
	}
}

func TestRealMountRaceStaysInRoot(t *testing.T) {
	bundle := realBundle(t, func(s *specs.Spec) {
		for i := 0; i < 60; i++ {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/racedir/sub", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=64k"}})
		}
	})
	runScenario(t, "race", bundle)
}
