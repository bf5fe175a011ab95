package linuxproc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/testutil"
)

const helperEnv = "BERTH_LINUXPROC_HELPER"

// helpers run in a child process (the test binary re-executed), so that the
// test process keeps its identity, limits and namespaces.
var helpers = map[string]func() error{
	"hostname":    helperHostname,
	"sysctl":      helperSysctl,
	"rlimits":     helperRlimits,
	"rlimitexec":  helperRlimitExec,
	"oom":         helperOOM,
	"personality": helperPersonality,
	"ioprio":      helperIOPrio,
	"scheduler":   helperScheduler,
	"umask":       helperUmask,
	"switchuser":  helperSwitchUser,
	"procbind":    helperProcBind,
}

func TestMain(m *testing.M) {
	if name := os.Getenv(helperEnv); name != "" {
		runtime.LockOSThread()
		f, ok := helpers[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
			os.Exit(2)
		}
		if err := f(); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// inChild runs helper name in a re-executed test binary with the given
// namespaces unshared; it fails the test with the helper's output.
func inChild(t *testing.T, name string, cloneflags uintptr) {
	t.Helper()
	testutil.Integration(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+name)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: cloneflags, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper %s: %v\n%s", name, err, out)
	}
}

func haveCap(n int) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:\t"); ok {
			x, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return x&(1<<n) != 0
		}
	}
	return false
}

func helperHostname() error {
	if err := SetHostname(&specs.Spec{Hostname: "berth-h", Domainname: "berth.test"}); err != nil {
		return err
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return err
	}
	if h := unix.ByteSliceToString(u.Nodename[:]); h != "berth-h" {
		return fmt.Errorf("hostname %q", h)
	}
	if d := unix.ByteSliceToString(u.Domainname[:]); d != "berth.test" {
		return fmt.Errorf("domainname %q", d)
	}
	return nil
}

func TestSetHostname(t *testing.T) { inChild(t, "hostname", unix.CLONE_NEWUTS) }

func helperSysctl() error {
	if err := ApplySysctl(map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234", "net.ipv4.conf.all.forwarding": "1"}); err != nil {
		return err
	}
	for p, want := range map[string]string{"/proc/sys/net/ipv4/ip_forward": "1", "/proc/sys/kernel/shmmni": "1234"} {
		b, err := os.ReadFile(p)
		if err != nil || strings.TrimSpace(string(b)) != want {
			return fmt.Errorf("%s = %q (%v), want %s", p, b, err, want)
		}
	}
	err := ApplySysctl(map[string]string{"net.ipv4.nonexistent_knob": "1"})
	if err == nil || !strings.Contains(err.Error(), `linux.sysctl["net.ipv4.nonexistent_knob"]`) {
		return fmt.Errorf("missing sysctl: %v", err)
	}
	err = ApplySysctl(map[string]string{"net.ipv4.././../../etc/passwd": "x"})
	if !errdefs.IsInvalidArgument(err) {
		return fmt.Errorf("traversal key: %v", err)
	}
	return nil
}

func TestApplySysctl(t *testing.T) { inChild(t, "sysctl", unix.CLONE_NEWNET|unix.CLONE_NEWIPC) }

func helperRlimits() error {
	var cur unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &cur); err != nil {
		return err
	}
	if err := SetRlimits([]specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 100, Hard: 200}, {Type: "RLIMIT_CORE", Soft: 0, Hard: 0}}); err != nil {
		return err
	}
	var got unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &got)
	if got.Cur != 100 || got.Max != 200 {
		return fmt.Errorf("RLIMIT_NOFILE = %+v", got)
	}
	err := SetRlimits([]specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 100, Hard: 300}})
	if haveCap(unix.CAP_SYS_RESOURCE) {
		if err != nil {
			return fmt.Errorf("raising with CAP_SYS_RESOURCE: %v", err)
		}
		return nil
	}
	if err == nil || !strings.Contains(err.Error(), "CAP_SYS_RESOURCE") || !strings.Contains(err.Error(), "RLIMIT_NOFILE") {
		return fmt.Errorf("raising the hard limit without CAP_SYS_RESOURCE: %v", err)
	}
	return nil
}

func TestSetRlimits(t *testing.T) { inChild(t, "rlimits", 0) }

// The limits survive exec: the Go runtime raises RLIMIT_NOFILE's soft limit
// at start-up and restores its original value on exec unless told the limit
// was set. The exec'd program is busybox (a Go program would raise it again)
// printing its limits.
func helperRlimitExec() error {
	if err := SetRlimits([]specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 300, Hard: 400}}); err != nil {
		return err
	}
	return unix.Exec(testutil.BusyboxStatic, []string{"cat", "/proc/self/limits"}, os.Environ())
}

func TestSetRlimitsSurviveExec(t *testing.T) {
	testutil.Integration(t)
	// Started with a soft limit below the hard one, so that the Go runtime
	// raises it and remembers the original, as in a real runtime.
	cmd := exec.Command(testutil.BusyboxStatic, "sh", "-c", `ulimit -S -n 100 && exec "$0" -test.run='^$'`, os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=rlimitexec")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ok := false
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) >= 5 && strings.HasPrefix(l, "Max open files") {
			ok = f[3] == "300" && f[4] == "400"
		}
	}
	if !ok {
		t.Fatalf("RLIMIT_NOFILE after exec is not 300/400:\n%s", out)
	}
}

func helperOOM() error {
	v := 500
	if err := SetOOMScoreAdj(0, &v); err != nil {
		return err
	}
	b, _ := os.ReadFile("/proc/self/oom_score_adj")
	if strings.TrimSpace(string(b)) != "500" {
		return fmt.Errorf("oom_score_adj %q", b)
	}
	low := -500
	err := SetOOMScoreAdj(os.Getpid(), &low)
	if haveCap(unix.CAP_SYS_RESOURCE) {
		return err
	}
	if err == nil || !strings.Contains(err.Error(), "oomScoreAdj -500") || !strings.Contains(err.Error(), "CAP_SYS_RESOURCE") {
		return fmt.Errorf("lowering without CAP_SYS_RESOURCE: %v", err)
	}
	return nil
}

func TestSetOOMScoreAdj(t *testing.T) { inChild(t, "oom", 0) }

func helperPersonality() error {
	if err := SetPersonality(&specs.LinuxPersonality{Domain: specs.PerLinux32}); err != nil {
		return err
	}
	p, _, _ := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	if p&0xff != perLinux32 {
		return fmt.Errorf("personality %#x", p)
	}
	return nil
}

func TestSetPersonality(t *testing.T) {
	inChild(t, "personality", 0)
	if err := SetPersonality(&specs.LinuxPersonality{Domain: "BOGUS"}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("unknown domain: %v", err)
	}
}

func helperIOPrio() error {
	if err := SetIOPriority(&specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 6}); err != nil {
		return err
	}
	v, _, e := unix.RawSyscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, 0, 0)
	if e != 0 || v != 2<<ioprioClassShift|6 {
		return fmt.Errorf("ioprio %#x %v", v, e)
	}
	return nil
}

func TestSetIOPriority(t *testing.T) { inChild(t, "ioprio", 0) }

func helperScheduler() error {
	if err := SetScheduler(&specs.Scheduler{Policy: specs.SchedBatch, Nice: 7}); err != nil {
		return err
	}
	a, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return err
	}
	if a.Policy != 3 || a.Nice != 7 {
		return fmt.Errorf("sched attr %+v", a)
	}
	return nil
}

func TestSetScheduler(t *testing.T) {
	inChild(t, "scheduler", 0)
	a, err := schedAttr(&specs.Scheduler{Policy: specs.SchedDeadline, Runtime: 1, Deadline: 2, Period: 3, Flags: []specs.LinuxSchedulerFlag{specs.SchedFlagResetOnFork, specs.SchedFlagReclaim}})
	if err != nil || a.Policy != 6 || a.Flags != 3 || a.Runtime != 1 || a.Deadline != 2 || a.Period != 3 {
		t.Errorf("%+v %v", a, err)
	}
	if _, err := schedAttr(&specs.Scheduler{Policy: "SCHED_X"}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("unknown policy: %v", err)
	}
}

func helperUmask() error {
	m := uint32(0o027)
	if err := SetUmask(&m); err != nil {
		return err
	}
	if old := unix.Umask(0); old != 0o027 {
		return fmt.Errorf("umask %#o", old)
	}
	return nil
}

func TestSetUmask(t *testing.T) {
	inChild(t, "umask", 0)
	bad := uint32(0o1777)
	if err := SetUmask(&bad); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad umask: %v", err)
	}
}

func helperSwitchUser() error {
	if err := SwitchUser(specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{2000, 2001}}); err != nil {
		return err
	}
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return err
	}
	want := []string{"Uid:\t1000\t1000\t1000\t1000", "Gid:\t1001\t1001\t1001\t1001", "Groups:\t2000 2001"}
	for _, w := range want {
		if !bytes.Contains(b, []byte(w)) {
			return fmt.Errorf("status lacks %q:\n%s", w, b)
		}
	}
	// Capabilities are kept in the permitted set for the capability step.
	if !bytes.Contains(b, []byte("CapPrm:\t0000")) || bytes.Contains(b, []byte("CapPrm:\t0000000000000000")) {
		return fmt.Errorf("permitted capabilities lost:\n%s", b)
	}
	return nil
}

func TestSwitchUser(t *testing.T) { inChild(t, "switchuser", 0) }

// helperProcBind: a file system mounted over part of /proc must not receive
// writes meant for procfs.
func helperProcBind() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "berth-procbind-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fake := filepath.Join(dir, "oom_score_adj")
	if err := os.WriteFile(fake, []byte("0\n"), 0o644); err != nil {
		return err
	}
	if err := unix.Mount(fake, "/proc/self/oom_score_adj", "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	defer unix.Unmount("/proc/self/oom_score_adj", unix.MNT_DETACH)
	v := 100
	err = SetOOMScoreAdj(0, &v)
	if err == nil {
		return errors.New("write through a bind mount over /proc accepted")
	}
	if b, _ := os.ReadFile(fake); string(b) != "0\n" {
		return fmt.Errorf("fake file written: %q", b)
	}
	// A whole fake /proc (tmpfs) is refused too.
	if err := unix.Mount("tmpfs", "/proc", "tmpfs", 0, ""); err != nil {
		return err
	}
	defer unix.Unmount("/proc", unix.MNT_DETACH)
	os.MkdirAll("/proc/sys/kernel", 0o755)
	os.WriteFile("/proc/sys/kernel/shmmni", []byte("1"), 0o644)
	if err := ApplySysctl(map[string]string{"kernel.shmmni": "5"}); err == nil || !strings.Contains(err.Error(), "procfs") {
		return fmt.Errorf("sysctl into a tmpfs /proc: %v", err)
	}
	return nil
}

func TestOpenProcRefusesNonProcfs(t *testing.T) {
	inChild(t, "procbind", unix.CLONE_NEWNS|unix.CLONE_NEWIPC)
}

func TestOpenProc(t *testing.T) {
	f, err := OpenProc("/proc/self/status", unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, p := range []string{"/etc/passwd", "/proc/../etc/passwd", "proc/self/status", "/proc"} {
		if f, err := OpenProc(p, unix.O_RDONLY); err == nil {
			f.Close()
			t.Errorf("OpenProc(%q) accepted", p)
		}
	}
	// Magic links are not followed.
	if f, err := OpenProc("/proc/self/root/etc/passwd", unix.O_RDONLY); err == nil {
		f.Close()
		t.Errorf("magic link followed")
	}
}

func TestResolveUser(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n# comment\nalice:x:1000:1000::/home/alice:/bin/sh\nbroken:x:abc:1\nbob:x:1001:100::/:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nalice:x:1000:\nusers:x:100:alice,bob\nwheel:x:10:alice\nstaff:x:50:\n"), 0o644)
	cases := []struct {
		in   string
		want specs.User
		err  error
	}{
		{"alice", specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{100, 10}}, nil},
		{"1000", specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{100, 10}}, nil},
		{"bob:staff", specs.User{UID: 1001, GID: 50, AdditionalGids: []uint32{100}}, nil},
		{"4242", specs.User{UID: 4242, GID: 0}, nil},
		{"4242:77", specs.User{UID: 4242, GID: 77}, nil},
		{"root:0", specs.User{UID: 0, GID: 0}, nil},
		{"nobody", specs.User{}, errdefs.ErrNotFound},
		{"alice:nogroup", specs.User{}, errdefs.ErrNotFound},
		{"", specs.User{}, errdefs.ErrInvalidArgument},
		{":1", specs.User{}, errdefs.ErrInvalidArgument},
		{"alice:", specs.User{}, errdefs.ErrInvalidArgument},
	}
	for _, c := range cases {
		got, err := ResolveUser(root, c.in)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("ResolveUser(%q) err = %v, want %v", c.in, err, c.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("ResolveUser(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

// /etc/passwd as a symlink to an absolute host path is resolved inside the
// container's root, not on the host.
func TestResolveUserStaysInRoot(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.MkdirAll(filepath.Join(root, "other"), 0o755)
	os.WriteFile(filepath.Join(root, "other/pw"), []byte("inroot:x:77:77::/:/bin/sh\n"), 0o644)
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "pw"), []byte("hostuser:x:66:66::/:/bin/sh\n"), 0o644)
	// The absolute target exists on the host and, rebased, inside the root.
	os.MkdirAll(filepath.Join(root, host), 0o755)
	os.WriteFile(filepath.Join(root, host, "pw"), []byte("inroot:x:77:77::/:/bin/sh\n"), 0o644)
	if err := os.Symlink(filepath.Join(host, "pw"), filepath.Join(root, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	if _, err := ResolveUser(root, "hostuser"); err == nil {
		t.Fatal("read the host's file through the symlink")
	}
	u, err := ResolveUser(root, "inroot")
	if err != nil || u.UID != 77 {
		t.Fatalf("%+v %v", u, err)
	}
	os.Remove(filepath.Join(root, "etc/passwd"))
	os.Symlink("../../../../../../../../"+filepath.Join(host, "pw"), filepath.Join(root, "etc/passwd"))
	if u, err := ResolveUser(root, "inroot"); err != nil || u.UID != 77 {
		t.Fatalf("relative escape: %+v %v", u, err)
	}
}

func FuzzParsePasswdGroup(f *testing.F) {
	f.Add([]byte("root:x:0:0:root:/root:/bin/sh\nusers:x:100:alice,bob\n"))
	f.Add([]byte("a:b:c\n::::\n#x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, _ := parsePasswd(bytes.NewReader(b))
		gs, _ := parseGroup(bytes.NewReader(b))
		for _, p := range ps {
			if strings.Contains(p.name, ":") || strings.Contains(p.name, "\n") {
				t.Fatalf("bad name %q", p.name)
			}
		}
		for _, g := range gs {
			if strings.Contains(g.name, ":") {
				t.Fatalf("bad group %q", g.name)
			}
		}
	})
}
