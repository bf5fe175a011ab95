package caps

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
)

const childEnv = "BERTH_CAPS_TEST_CHILD"

// TestMain doubles as the child process of the kernel tests: with childEnv
// set it applies the capabilities it is given and reports, then exits.
func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		os.Exit(child(v))
	}
	os.Exit(m.Run())
}

type childReq struct {
	Caps *specs.LinuxCapabilities
	UID  int  // switch to this uid/gid (with PR_SET_KEEPCAPS) before Apply when > 0
	Exec bool // execve busybox to print /proc/self/status after Apply
}

func child(v string) int {
	runtime.LockOSThread()
	var req childReq
	if err := json.Unmarshal([]byte(v), &req); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	s, err := New(req.Caps)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	if err := s.DropBounding(); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	if req.UID > 0 {
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			fmt.Fprintln(os.Stderr, "child: keepcaps:", err)
			return 4
		}
		// Per-thread credential changes, as the runtime's init does on its
		// locked thread right before execve.
		id := uintptr(req.UID)
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, id, id, id); e != 0 {
			fmt.Fprintln(os.Stderr, "child: setresgid:", e)
			return 4
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, id, id, id); e != 0 {
			fmt.Fprintln(os.Stderr, "child: setresuid:", e)
			return 4
		}
	}
	if err := s.Apply(); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 5
	}
	if req.Exec {
		err := unix.Exec("/bin/busybox", []string{"cat", "/proc/self/status"}, []string{"PATH=/bin"})
		fmt.Fprintln(os.Stderr, "child: exec:", err)
		return 6
	}
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 7
	}
	os.Stdout.Write(b)
	return 0
}

// runChild runs the test binary as a child applying req and returns the Cap*
// lines of the status it reports.
func runChild(t *testing.T, req childReq) map[string]uint64 {
	t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\nstderr: %s", err, errb.String())
	}
	got := map[string]uint64{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.HasPrefix(k, "Cap") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			t.Fatalf("status line %q: %v", sc.Text(), err)
		}
		got[k] = n
	}
	if len(got) != 5 {
		t.Fatalf("child reported %d Cap lines, want 5:\n%s", len(got), out.String())
	}
	return got
}

func mask(names ...string) uint64 {
	var m uint64
	for _, n := range names {
		m |= 1 << uint(names2num(n))
	}
	return m
}

func names2num(n string) int {
	v, ok := names[n]
	if !ok {
		panic(n)
	}
	return v
}

func TestNewMasks(t *testing.T) {
	s, err := New(&specs.LinuxCapabilities{
		Bounding:    []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"},
		Effective:   []string{"CAP_KILL"},
		Permitted:   []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"},
		Inheritable: []string{"CAP_NET_BIND_SERVICE"},
		Ambient:     []string{"CAP_NET_BIND_SERVICE"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Bounding != 1<<0|1<<5|1<<10 || s.Effective != 1<<5 || s.Permitted != 1<<5|1<<10 ||
		s.Inheritable != 1<<10 || s.Ambient != 1<<10 {
		t.Fatalf("masks: %+v", s)
	}
	s, err = New(nil)
	if err != nil || s.Bounding|s.Effective|s.Permitted|s.Inheritable|s.Ambient != 0 || s.Ignored != nil {
		t.Fatalf("New(nil) = %+v, %v; want empty", s, err)
	}
}

func TestValidateErrors(t *testing.T) {
	cases := []struct {
		c    specs.LinuxCapabilities
		want string
	}{
		{specs.LinuxCapabilities{Bounding: []string{"CAP_FOO"}}, `process.capabilities.bounding: unknown capability "CAP_FOO"`},
		{specs.LinuxCapabilities{Effective: []string{"CAP_KILL", "SYS_ADMIN"}}, `process.capabilities.effective: capability "SYS_ADMIN" must start with CAP_`},
		{specs.LinuxCapabilities{Inheritable: []string{"cap_kill"}}, `process.capabilities.inheritable: capability "cap_kill" must start with CAP_`},
		{specs.LinuxCapabilities{Permitted: []string{""}}, `process.capabilities.permitted: capability "" must start with CAP_`},
		{specs.LinuxCapabilities{Ambient: []string{"CAP_"}}, `process.capabilities.ambient: unknown capability "CAP_"`},
	}
	for _, tc := range cases {
		for _, f := range []func() error{
			func() error { return Validate(&tc.c) },
			func() error { _, err := New(&tc.c); return err },
		} {
			err := f()
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("%+v: err = %v, want prefix %q", tc.c, err, tc.want)
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("%+v: err %v is not invalid-argument", tc.c, err)
			}
		}
	}
	if err := Validate(&specs.LinuxCapabilities{Bounding: Known()}); err != nil {
		t.Fatal(err)
	}
	if err := Validate(nil); err != nil {
		t.Fatal(err)
	}
}

func TestKnownAndLast(t *testing.T) {
	k := Known()
	if len(k) != maxKnown+1 || k[0] != "CAP_CHOWN" || k[maxKnown] != "CAP_CHECKPOINT_RESTORE" {
		t.Fatalf("Known() = %v", k)
	}
	for i, n := range k {
		if names[n] != i || Name(i) != n {
			t.Fatalf("Known()[%d] = %s (number %d)", i, n, names[n])
		}
	}
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if Last() != want || readLast() != want {
		t.Fatalf("Last() = %d, want %d", Last(), want)
	}
}

// Names the kernel does not know yet are valid, ignored and reported.
func TestNewerThanKernelIgnored(t *testing.T) {
	saved := names
	t.Cleanup(func() { names = saved })
	names = map[string]int{}
	for k, v := range saved {
		names[k] = v
	}
	names["CAP_FROM_THE_FUTURE"] = 63
	s, err := New(&specs.LinuxCapabilities{Bounding: []string{"CAP_FROM_THE_FUTURE", "CAP_KILL"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Bounding != 1<<5 || len(s.Ignored) != 1 || s.Ignored[0] != "bounding:CAP_FROM_THE_FUTURE" {
		t.Fatalf("set %+v", s)
	}
}

// The thread that applied the set carries exactly its masks.
func TestApplyThreadMasks(t *testing.T) {
	integration(t)
	c := &specs.LinuxCapabilities{
		Bounding:    []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETPCAP", "CAP_SYS_ADMIN"},
		Effective:   []string{"CAP_KILL", "CAP_SYS_ADMIN"},
		Permitted:   []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"},
		Inheritable: []string{"CAP_NET_BIND_SERVICE", "CAP_KILL"},
		Ambient:     []string{"CAP_NET_BIND_SERVICE"},
	}
	got := runChild(t, childReq{Caps: c})
	want := map[string]uint64{
		"CapBnd": mask(c.Bounding...),
		"CapEff": mask(c.Effective...),
		"CapPrm": mask(c.Permitted...),
		"CapInh": mask(c.Inheritable...),
		"CapAmb": mask(c.Ambient...),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#x, want %#x", k, got[k], v)
		}
	}
}

// After a switch to an unprivileged user and execve of a plain binary, only
// the ambient set survives into permitted and effective (capabilities(7)).
func TestApplyAcrossExecAsUser(t *testing.T) {
	integration(t)
	c := &specs.LinuxCapabilities{
		Bounding:    []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"},
		Effective:   []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"},
		Permitted:   []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"},
		Inheritable: []string{"CAP_NET_BIND_SERVICE", "CAP_NET_RAW"},
		Ambient:     []string{"CAP_NET_BIND_SERVICE", "CAP_NET_RAW"},
	}
	got := runChild(t, childReq{Caps: c, UID: 1000, Exec: true})
	amb := mask(c.Ambient...)
	want := map[string]uint64{
		"CapBnd": mask(c.Bounding...), "CapEff": amb, "CapPrm": amb,
		"CapInh": mask(c.Inheritable...), "CapAmb": amb,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#x, want %#x", k, got[k], v)
		}
	}
}

// No capabilities at all: a root process keeps none across execve either,
// because the bounding set is empty.
func TestApplyEmpty(t *testing.T) {
	integration(t)
	got := runChild(t, childReq{Caps: &specs.LinuxCapabilities{}, Exec: true})
	for k, v := range got {
		if v != 0 {
			t.Errorf("%s = %#x, want 0", k, v)
		}
	}
	// Full sets: every capability this test process holds (root here may
	// lack some, e.g. CAP_SYS_RESOURCE).
	held := selfStatus(t, "CapPrm:")
	var all []string
	for n := 0; n <= Last(); n++ {
		if held&(1<<uint(n)) != 0 {
			all = append(all, Name(n))
		}
	}
	got = runChild(t, childReq{Caps: &specs.LinuxCapabilities{
		Bounding: Known()[:Last()+1], Effective: all, Permitted: all, Inheritable: all, Ambient: all,
	}})
	want := map[string]uint64{"CapBnd": selfStatus(t, "CapBnd:"), "CapEff": held, "CapPrm": held, "CapInh": held, "CapAmb": held}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#x, want %#x", k, got[k], v)
		}
	}
}

func selfStatus(t *testing.T, field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// Raising an ambient capability that is not permitted fails with a clear error.
func TestApplyAmbientNotPermitted(t *testing.T) {
	integration(t)
	b, _ := json.Marshal(childReq{Caps: &specs.LinuxCapabilities{
		Bounding: []string{"CAP_KILL"}, Ambient: []string{"CAP_KILL"},
	}})
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).ExitStatus() != 5 ||
		!strings.Contains(string(out), "raise ambient CAP_KILL") {
		t.Fatalf("err = %v, output %q; want exit 5 naming CAP_KILL", err, out)
	}
}

// integration is testutil.Integration, which this package cannot import
// (testutil → runtime/spec → this package): root tests run in `make test`,
// not under -short, and fail loudly without root.
func integration(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: runs in `make test`, not under -short")
	}
	if os.Geteuid() != 0 {
		t.Fatalf("this test needs root (uid 0); run the suite as root (make test)")
	}
}

// FuzzNew: capability names come from config.json; any input yields either
// a clear error naming the set or masks within the kernel's range.
func FuzzNew(f *testing.F) {
	f.Add("CAP_KILL", "CAP_FOO", "cap_chown")
	f.Add("CAP_SYS_ADMIN", "CAP_CHECKPOINT_RESTORE", "")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		in := &specs.LinuxCapabilities{Bounding: []string{a, b}, Effective: []string{c}, Ambient: []string{b, c}}
		s, err := New(in)
		if verr := Validate(in); (err == nil) != (verr == nil) {
			t.Fatalf("New and Validate disagree: %v / %v", err, verr)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "process.capabilities.") || !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("error %v", err)
			}
			return
		}
		limit := uint64(1)<<uint(Last()+1) - 1
		if (s.Bounding|s.Effective|s.Ambient)&^limit != 0 {
			t.Fatalf("masks beyond cap_last_cap: %+v", s)
		}
	})
}
