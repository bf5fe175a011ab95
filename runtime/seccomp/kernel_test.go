package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	childEnv = "BERTH_SECCOMP_TEST_CHILD"
	aliveEnv = "BERTH_SECCOMP_TEST_ALIVE"
)

// TestMain doubles as the child process of the kernel tests.
func TestMain(m *testing.M) {
	if os.Getenv(aliveEnv) != "" {
		fmt.Println("alive")
		os.Exit(0)
	}
	if v := os.Getenv(childEnv); v != "" {
		os.Exit(child(v))
	}
	os.Exit(m.Run())
}

type childReq struct {
	Profile   *specs.LinuxSeccomp
	Steps     []string
	DialFirst bool // connect to the listener before Load (DialListener)
}

// child loads the profile on its locked thread and runs the steps, printing
// one "step r errno" line each.
func child(v string) int {
	runtime.LockOSThread()
	var req childReq
	var err error
	if err = json.Unmarshal([]byte(v), &req); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	// No core files from the kill tests.
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "child: no_new_privs:", err)
		return 2
	}
	sock := -1
	if req.DialFirst {
		if sock, err = DialListener(req.Profile.ListenerPath); err != nil {
			fmt.Fprintln(os.Stderr, "child: dial:", err)
			return 4
		}
	}
	fd, err := Load(req.Profile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: load:", err)
		return 3
	}
	fmt.Printf("load %d 0\n", fd)
	for _, step := range req.Steps {
		name, arg, _ := strings.Cut(step, ":")
		var r uintptr
		var e syscall.Errno
		switch name {
		case "mkdir":
			if err := unix.Mkdir(arg, 0o755); err != nil {
				e = err.(syscall.Errno)
			}
		case "getpid":
			n, _ := strconv.ParseUint(arg, 0, 64)
			r, _, e = unix.RawSyscall(unix.SYS_GETPID, uintptr(n), 0, 0)
		case "sys":
			n, _ := strconv.ParseUint(arg, 0, 64)
			r, _, e = unix.RawSyscall(uintptr(n), 0, 0, 0)
		case "getppid":
			r, _, e = unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
		case "mount":
			if err := unix.Mount("none", arg, "tmpfs", 0, ""); err != nil {
				e = err.(syscall.Errno)
			} else {
				_ = unix.Unmount(arg, unix.MNT_DETACH)
			}
		case "send-listener":
			st := specs.ContainerProcessState{Pid: os.Getpid(), State: specs.State{Version: specs.Version, ID: "seccomp-test", Status: specs.StateCreating, Pid: os.Getpid()}}
			send := func() error {
				return SendListener(req.Profile.ListenerPath, req.Profile.ListenerMetadata, fd, st)
			}
			if sock >= 0 {
				send = func() error {
					return SendListenerOn(sock, req.Profile.ListenerPath, req.Profile.ListenerMetadata, fd, st)
				}
			}
			if err := send(); err != nil {
				fmt.Fprintln(os.Stderr, "child: send listener:", err)
				return 4
			}
			unix.Close(fd)
		case "exec-self":
			err := unix.Exec("/proc/self/exe", []string{"seccomp.test"}, append(os.Environ(), aliveEnv+"=1"))
			fmt.Fprintln(os.Stderr, "child: exec:", err)
			return 5
		default:
			fmt.Fprintln(os.Stderr, "child: unknown step", step)
			return 2
		}
		fmt.Printf("%s %d %d\n", name, r, int(e))
	}
	return 0
}

type result struct {
	r     int64
	errno syscall.Errno
}

// startChild starts the test binary as a child with req.
func startChild(t *testing.T, req childReq) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, &out, &errb
}

func parseResults(t *testing.T, out string) map[string]result {
	t.Helper()
	res := map[string]result{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		r, _ := strconv.ParseInt(f[1], 10, 64)
		e, _ := strconv.Atoi(f[2])
		res[f[0]] = result{r, syscall.Errno(e)}
	}
	return res
}

func runChild(t *testing.T, req childReq) map[string]result {
	t.Helper()
	cmd, out, errb := startChild(t, req)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\nstdout: %s\nstderr: %s", err, out, errb)
	}
	return parseResults(t, out.String())
}

func TestKernelErrnoAndArgFilter(t *testing.T) {
	integration(t)
	dir := t.TempDir()
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdirat", "mkdir"}, Action: specs.ActErrno},
			// 64-bit argument: only the exact value is refused.
			{Names: []string{"getpid"}, Action: specs.ActErrno, ErrnoRet: uptr(uint(unix.EACCES)),
				Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 0xdead00000001}}},
			{Names: []string{"getppid"}, Action: specs.ActTrace}, // no tracer: ENOSYS
		},
	}
	res := runChild(t, childReq{Profile: s, Steps: []string{
		"mkdir:" + filepath.Join(dir, "x"), "getpid:0xdead00000001", "getppid",
	}})
	if r := res["mkdir"]; r.errno != unix.EPERM {
		t.Errorf("mkdir: %+v, want EPERM", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); !os.IsNotExist(err) {
		t.Errorf("mkdir happened: %v", err)
	}
	if r := res["getpid"]; r.errno != unix.EACCES {
		t.Errorf("getpid(0xdead00000001): %+v, want EACCES", r)
	}
	if r := res["getppid"]; r.errno != unix.ENOSYS {
		t.Errorf("getppid under TRACE without a tracer: %+v, want ENOSYS", r)
	}
	// The same program lets other argument values through: the low half
	// alone does not match.
	res = runChild(t, childReq{Profile: s, Steps: []string{"getpid:1", "getpid:0xdead00000000"}})
	if r := res["getpid"]; r.errno != 0 || r.r <= 0 {
		t.Errorf("getpid(other values): %+v, want success", r)
	}
}

func TestKernelKillProcess(t *testing.T) {
	integration(t)
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActKillProcess}},
	}
	cmd, out, errb := startChild(t, childReq{Profile: s, Steps: []string{"getpid:0", "getppid", "getpid:0"}})
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child: %v, want killed by SIGSYS\nstdout: %s\nstderr: %s", err, out, errb)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("child status %v, want killed by SIGSYS\nstderr: %s", ws, errb)
	}
	res := parseResults(t, out.String())
	if _, ok := res["getppid"]; ok {
		t.Fatalf("getppid returned: %s", out)
	}
}

func TestKernelLogAndFlags(t *testing.T) {
	integration(t)
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Flags:         []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow, "SECCOMP_FILTER_FLAG_TSYNC"},
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActLog}},
	}
	res := runChild(t, childReq{Profile: s, Steps: []string{"getppid"}})
	if r := res["getppid"]; r.errno != 0 || r.r != int64(os.Getpid()) {
		t.Fatalf("getppid under LOG: %+v, want %d", r, os.Getpid())
	}
	if r := res["load"]; r.r != -1 {
		t.Fatalf("listener fd %d without NOTIFY", r.r)
	}
}

// The default profile: a Go program starts and runs under it, mount is
// refused even to root.
func TestKernelDefaultProfile(t *testing.T) {
	integration(t)
	dir := t.TempDir()
	s := DefaultProfile()
	res := runChild(t, childReq{Profile: s, Steps: []string{"mount:" + dir, "mkdir:" + filepath.Join(dir, "ok"), "sys:1000"}})
	if r := res["sys"]; r.errno != unix.ENOSYS {
		t.Errorf("syscall 1000 under the default profile: %+v, want ENOSYS", r)
	}
	if r := res["mount"]; r.errno != unix.EPERM {
		t.Errorf("mount under the default profile: %+v, want EPERM", r)
	}
	if r := res["mkdir"]; r.errno != 0 {
		t.Errorf("mkdir under the default profile: %+v", r)
	}
	cmd, out, errb := startChild(t, childReq{Profile: s, Steps: []string{"exec-self"}})
	if err := cmd.Wait(); err != nil || !strings.Contains(out.String(), "alive") {
		t.Fatalf("Go program under the default profile: %v\nstdout: %s\nstderr: %s", err, out, errb)
	}
}

// struct seccomp_notif and seccomp_notif_resp.
type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  struct {
		Nr   int32
		Arch uint32
		IP   uint64
		Args [6]uint64
	}
}

type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// A NOTIFY rule: the listener fd travels over a real unix socket with the
// container state, and the supervisor's answer becomes the syscall's result.
func TestKernelNotify(t *testing.T) {
	integration(t)
	// SendListener after Load, the profile allowing everything else.
	t.Run("send-after-load", func(t *testing.T) { testNotify(t, false, specs.ActAllow) })
	// DialListener before Load under a deny-by-default profile that lets
	// only what the runtime and the Go runtime need through.
	t.Run("dial-before-load", func(t *testing.T) { testNotify(t, true, specs.ActErrno) })
}

func testNotify(t *testing.T, dialFirst bool, def specs.LinuxSeccompAction) {
	sock := filepath.Join(t.TempDir(), "l.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := &specs.LinuxSeccomp{
		ListenerPath:     sock,
		ListenerMetadata: "berth-test-meta",
		Flags:            []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv},
		DefaultAction:    def,
		Syscalls:         []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActNotify}},
	}
	if def != specs.ActAllow {
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Action: specs.ActAllow, Names: strings.Fields(`sendmsg close
			write exit_group exit futex rt_sigreturn rt_sigprocmask sigaltstack getpid gettid tgkill
			nanosleep mmap munmap madvise mprotect sched_yield epoll_pwait epoll_ctl clone clone3 fcntl
			rt_sigaction sched_getaffinity getrandom read`)})
	}
	cmd, out, errb := startChild(t, childReq{Profile: s, DialFirst: dialFirst, Steps: []string{"send-listener", "getppid"}})

	_ = ln.SetDeadline(time.Now().Add(20 * time.Second))
	conn, err := ln.AcceptUnix()
	if err != nil {
		t.Fatalf("accept: %v\nstderr: %s", err, errb)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	var st specs.ContainerProcessState
	if err := json.Unmarshal(buf[:n], &st); err != nil {
		t.Fatalf("state %q: %v", buf[:n], err)
	}
	if len(st.Fds) != 1 || st.Fds[0] != "seccompFd" || st.Metadata != "berth-test-meta" ||
		st.Pid != cmd.Process.Pid || st.State.ID != "seccomp-test" || st.Version == "" {
		t.Fatalf("state: %+v", st)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages: %v %v", msgs, err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("rights: %v %v", fds, err)
	}
	nfd := fds[0]
	defer unix.Close(nfd)

	pfd := []unix.PollFd{{Fd: int32(nfd), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 20000); err != nil || n != 1 {
		t.Fatalf("poll listener: %d %v\nstderr: %s", n, err, errb)
	}
	var req seccompNotif
	if err := ioctlPtr(nfd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&req)); err != nil {
		t.Fatalf("NOTIF_RECV: %v", err)
	}
	if uint32(req.Data.Nr) != syscallsX86_64()["getppid"] || req.Data.Arch != unix.AUDIT_ARCH_X86_64 || int(req.Pid) != cmd.Process.Pid {
		t.Fatalf("notification: %+v", req)
	}
	resp := seccompNotifResp{ID: req.ID, Val: 4242}
	if err := ioctlPtr(nfd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&resp)); err != nil {
		t.Fatalf("NOTIF_SEND: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\nstderr: %s", err, errb)
	}
	res := parseResults(t, out.String())
	if r := res["getppid"]; r.r != 4242 || r.errno != 0 {
		t.Fatalf("getppid answered by the supervisor: %+v, want 4242\n%s", r, out)
	}
	if r := res["load"]; r.r < 0 {
		t.Fatalf("no listener fd: %+v", r)
	}
}

func ioctlPtr(fd int, req uint, p unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(p))
	if e != 0 {
		return e
	}
	return nil
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

// TRAP delivers SIGSYS to the thread; the Go runtime treats it as fatal and
// says so.
func TestKernelTrap(t *testing.T) {
	integration(t)
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActTrap}},
	}
	cmd, out, errb := startChild(t, childReq{Profile: s, Steps: []string{"getppid"}})
	err := cmd.Wait()
	if err == nil || !strings.Contains(errb.String(), "SIGSYS") {
		t.Fatalf("child: %v, want a SIGSYS crash\nstdout: %s\nstderr: %s", err, out, errb)
	}
	if _, ok := parseResults(t, out.String())["getppid"]; ok {
		t.Fatalf("getppid returned under TRAP: %s", out)
	}
}
