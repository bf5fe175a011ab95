package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/runtime/console"
)

func uniqueID(t *testing.T) string {
	return fmt.Sprintf("%s-%d-%x", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), os.Getpid(), rand.Uint32())
}

// shared mounts a host directory at /shared in the container.
func shared(dir string) func(*specs.Spec) {
	return func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/shared", Type: "bind", Source: dir, Options: []string{"rbind", "rw"}})
	}
}

// assertGone checks that nothing of id is left: state dir, cgroup, process.
func assertGone(t *testing.T, r *rt, id string, pid int) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(r.root, id)); !os.IsNotExist(err) {
		t.Errorf("state dir of %s left behind (%v)", id, err)
	}
	for _, ctrl := range []string{"memory", "pids", "cpu", "freezer", "devices"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", ctrl, "berth", id)); err == nil {
			t.Errorf("cgroup %s/berth/%s left behind", ctrl, id)
		}
	}
	if pid > 0 {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(b), ") Z ") {
			t.Errorf("process %d still alive: %s", pid, b)
		}
	}
}

func TestLifecycle(t *testing.T) {
	r := newRT(t)
	dir := t.TempDir()
	bundle := testutil.Bundle(t, shared(dir), "sh", "-c", "touch /shared/ran; exec sleep 100")
	id := uniqueID(t)
	r.cleanup(id)
	pidFile := filepath.Join(t.TempDir(), "pid")
	r.ok("create", "--bundle", bundle, "--pid-file", pidFile, id)
	st := r.state(id)
	if st.Status != "created" || st.Pid <= 0 || st.Bundle != bundle || st.ID != id || st.OCIVersion != "1.3.0" {
		t.Fatalf("after create: %+v", st)
	}
	if b, _ := os.ReadFile(pidFile); string(b) != strconv.Itoa(st.Pid) {
		t.Fatalf("pid file %q, state pid %d", b, st.Pid)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Fatal("user code ran before start")
	}
	if _, errs, code := r.run("create", "--bundle", bundle, id); code == 0 || !strings.Contains(errs, "already exists") {
		t.Fatalf("duplicate create: exit %d, %q", code, errs)
	}
	if _, errs, code := r.run("delete", id); code == 0 || !strings.Contains(errs, "not stopped: created") {
		t.Fatalf("delete of a created container: exit %d %q", code, errs)
	}
	r.ok("start", id)
	waitFile(t, filepath.Join(dir, "ran"))
	if st := r.state(id); st.Status != "running" {
		t.Fatalf("after start: %+v", st)
	}
	if _, errs, code := r.run("start", id); code == 0 || !strings.Contains(errs, "running") {
		t.Fatalf("second start: exit %d %q", code, errs)
	}
	if _, errs, code := r.run("delete", id); code == 0 || !strings.Contains(errs, "not stopped") {
		t.Fatalf("delete running: exit %d %q", code, errs)
	}
	var pids []int
	if err := json.Unmarshal([]byte(r.ok("ps", "--format", "json", id)), &pids); err != nil || len(pids) != 1 || pids[0] != st.Pid {
		t.Fatalf("ps: %v %v", pids, err)
	}
	r.ok("pause", id)
	if st := r.state(id); st.Status != "paused" {
		t.Fatalf("after pause: %s", st.Status)
	}
	r.ok("resume", id)
	if st := r.state(id); st.Status != "running" {
		t.Fatalf("after resume: %s", st.Status)
	}
	if !strings.Contains(r.ok("list"), id) {
		t.Fatal("list does not show the container")
	}
	r.ok("kill", id, "KILL")
	waitStatus(t, r, id, "stopped")
	// Signalling a stopped container is an error and has no effect, even
	// while its init is an unreaped zombie.
	if _, errs, code := r.run("kill", id); code == 0 || !strings.Contains(errs, "not running") {
		t.Fatalf("kill stopped: exit %d %q", code, errs)
	}
	if st := r.state(id); st.Status != "stopped" {
		t.Fatalf("kill changed a stopped container: %s", st.Status)
	}
	r.ok("delete", id)
	assertGone(t, r, id, st.Pid)
	if _, errs, code := r.run("state", id); code == 0 || !strings.Contains(errs, "does not exist") {
		t.Fatalf("state after delete: exit %d %q", code, errs)
	}
	// delete --force of a missing container succeeds, like runc.
	r.ok("delete", "--force", id)
}

func waitFile(t *testing.T, p string) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(p); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", p)
}

func TestCreateWithoutProcess(t *testing.T) {
	r := newRT(t)
	bundle := testutil.Bundle(t, func(s *specs.Spec) { s.Process = nil })
	id := uniqueID(t)
	r.cleanup(id)
	r.ok("create", "--bundle", bundle, id)
	if st := r.state(id); st.Status != "created" {
		t.Fatalf("create without process: status %s", st.Status)
	}
	// Nothing to run: start succeeds and the container stops.
	r.ok("start", id)
	waitStatus(t, r, id, "stopped")
	r.ok("delete", id)
	assertGone(t, r, id, 0)
}

func TestRunExitCodes(t *testing.T) {
	r := newRT(t)
	// No pid namespace, so the shell is not an init immune to its own SIGKILL.
	noPidNS := func(s *specs.Spec) {
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.PIDNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = ns
	}
	for script, want := range map[string]int{"exit 0": 0, "exit 7": 7, "kill -9 $$": 137, "echo out; echo err >&2; exit 3": 3} {
		bundle := testutil.Bundle(t, noPidNS, "sh", "-c", script)
		id := uniqueID(t)
		r.cleanup(id)
		out, errs, code := r.run("run", "--bundle", bundle, id)
		if code != want {
			t.Errorf("run %q: exit %d want %d (stderr %q)", script, code, want, errs)
		}
		if strings.HasPrefix(script, "echo") && (out != "out\n" || errs != "err\n") {
			t.Errorf("run %q: stdout %q stderr %q", script, out, errs)
		}
		assertGone(t, r, id, 0)
	}
}

func TestRunKeepAndDetach(t *testing.T) {
	r := newRT(t)
	bundle := testutil.Bundle(t, nil, "true")
	id := uniqueID(t)
	r.cleanup(id)
	r.ok("run", "--keep", "--bundle", bundle, id)
	if st := r.state(id); st.Status != "stopped" {
		t.Fatalf("run --keep: status %s", st.Status)
	}
	r.ok("delete", id)
	bundle = testutil.Bundle(t, nil, "sleep", "100")
	id = uniqueID(t)
	r.cleanup(id)
	r.ok("run", "--detach", "--bundle", bundle, id)
	if st := r.state(id); st.Status != "running" {
		t.Fatalf("run --detach: status %s", st.Status)
	}
	r.ok("delete", "--force", id)
	assertGone(t, r, id, 0)
}

func TestExec(t *testing.T) {
	r := newRT(t)
	bundle := testutil.Bundle(t, nil, "sleep", "100")
	id := uniqueID(t)
	r.cleanup(id)
	r.ok("run", "--detach", "--bundle", bundle, id)
	out, errs, code := r.run("exec", "--env", "FOO=bar", "--cwd", "/tmp", id, "sh", "-c", "echo $FOO; pwd; exit 4")
	if code != 4 || out != "bar\n/tmp\n" {
		t.Fatalf("exec: exit %d out %q err %q", code, out, errs)
	}
	// The exec'd process sees the container's pid namespace and hostname.
	out = r.ok("exec", id, "sh", "-c", "hostname; cat /proc/1/cmdline")
	if !strings.HasPrefix(out, "berth\nsleep") {
		t.Fatalf("exec namespaces: %q", out)
	}
	proc := filepath.Join(t.TempDir(), "process.json")
	b, _ := json.Marshal(specs.Process{Args: []string{"id"}, Cwd: "/", User: specs.User{UID: 65534, GID: 65534}, Env: []string{"PATH=/bin"}})
	os.WriteFile(proc, b, 0o644)
	if out := r.ok("exec", "--process", proc, id); !strings.Contains(out, "uid=65534") {
		t.Fatalf("exec --process: %q", out)
	}
	if out := r.ok("exec", "--user", "1000:1001", id, "id"); !strings.Contains(out, "uid=1000") || !strings.Contains(out, "gid=1001") {
		t.Fatalf("exec --user: %q", out)
	}
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	r.ok("exec", "--detach", "--pid-file", pidFile, id, "sleep", "50")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(b))
	var pids []int
	json.Unmarshal([]byte(r.ok("ps", "--format", "json", id)), &pids)
	found := false
	for _, p := range pids {
		found = found || p == pid
	}
	if !found {
		t.Fatalf("detached exec pid %d not in ps %v", pid, pids)
	}
	if _, errs, code := r.run("exec", id, "/nonexistent"); code == 0 || !strings.Contains(errs, "nonexistent") {
		t.Fatalf("exec of a missing binary: exit %d %q", code, errs)
	}
	r.ok("pause", id)
	if _, errs, code := r.run("exec", id, "true"); code == 0 || !strings.Contains(errs, "paused") {
		t.Fatalf("exec in paused: exit %d %q", code, errs)
	}
	r.ok("resume", id)
	r.ok("kill", "--all", id, "KILL")
	waitStatus(t, r, id, "stopped")
	if _, errs, code := r.run("exec", id, "true"); code == 0 || !strings.Contains(errs, "stopped") {
		t.Fatalf("exec in stopped: exit %d %q", code, errs)
	}
	r.ok("delete", id)
	assertGone(t, r, id, 0)
}

// consoleListener accepts one connection on a fresh socket and returns the pty
// master sent over it.
func consoleListener(t *testing.T) (string, <-chan *os.File) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ch := make(chan *os.File, 1)
	go func() {
		c, err := l.AcceptUnix()
		if err != nil {
			close(ch)
			return
		}
		f, _ := c.File()
		c.Close()
		m, err := console.RecvFd(f)
		f.Close()
		if err != nil {
			close(ch)
			return
		}
		ch <- m
	}()
	return p, ch
}

func readAll(t *testing.T, f *os.File, want string) string {
	t.Helper()
	var got []byte
	buf := make([]byte, 4096)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(string(got), want) {
		f.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := f.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil && !os.IsTimeout(err) {
			break
		}
	}
	return string(got)
}

func TestConsoleSocket(t *testing.T) {
	r := newRT(t)
	bundle := testutil.Bundle(t, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.ConsoleSize = &specs.Box{Height: 30, Width: 101}
	}, "sh", "-c", "tty; stty size; echo tty-ok; sleep 100")
	id := uniqueID(t)
	r.cleanup(id)
	if _, errs, code := r.run("create", "--bundle", bundle, id); code == 0 || !strings.Contains(errs, "console-socket") {
		t.Fatalf("terminal without --console-socket: exit %d %q", code, errs)
	}
	assertGone(t, r, id, 0)
	sock, masters := consoleListener(t)
	r.ok("create", "--bundle", bundle, "--console-socket", sock, id)
	master := <-masters
	if master == nil {
		t.Fatal("no pty master received")
	}
	defer master.Close()
	r.ok("start", id)
	out := readAll(t, master, "tty-ok")
	if !strings.Contains(out, "/dev/pts/0") || !strings.Contains(out, "30 101") || !strings.Contains(out, "tty-ok") {
		t.Fatalf("console output %q", out)
	}
	// exec --tty through another console socket.
	sock2, masters2 := consoleListener(t)
	r.ok("exec", "--tty", "--detach", "--console-socket", sock2, id, "sh", "-c", "tty; echo exec-tty-ok; sleep 1")
	m2 := <-masters2
	if m2 == nil {
		t.Fatal("no exec pty master received")
	}
	defer m2.Close()
	if out := readAll(t, m2, "exec-tty-ok"); !strings.Contains(out, "/dev/pts/1") {
		t.Fatalf("exec console output %q", out)
	}
	r.ok("delete", "--force", id)
	assertGone(t, r, id, 0)
}

func TestCreateFailureLeavesNothing(t *testing.T) {
	r := newRT(t)
	dir := t.TempDir()
	cases := map[string]func(*specs.Spec){
		"missing program": func(s *specs.Spec) { s.Process.Args = []string{"/no/such/program"} },
		"bad cwd":         func(s *specs.Spec) { s.Process.Cwd = "/no/such/dir" },
		"failing hook": func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "exit 1"}}},
				Poststop: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "touch " + dir + "/poststop"}}}}
		},
		"unknown capability": func(s *specs.Spec) { s.Process.Capabilities.Bounding = []string{"CAP_NOPE"} },
		"bad mount source": func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/no/such/src", Options: []string{"bind"}})
		},
	}
	for name, edit := range cases {
		t.Run(strings.ReplaceAll(name, " ", "-"), func(t *testing.T) {
			bundle := testutil.Bundle(t, edit, "true")
			id := uniqueID(t)
			r.cleanup(id)
			_, errs, code := r.run("create", "--bundle", bundle, id)
			if code == 0 {
				t.Fatalf("create succeeded")
			}
			if strings.TrimSpace(errs) == "" {
				t.Fatal("no error message")
			}
			assertGone(t, r, id, 0)
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "poststop")); err == nil {
		t.Error("poststop hook ran for a container that was never created")
	}
	for _, id := range []string{"a/b", "..", "", "x y"} {
		_, errs, code := r.run("create", "--bundle", testutil.Bundle(t, nil, "true"), id)
		if code == 0 || !strings.Contains(errs, "container id") {
			t.Errorf("create %q: exit %d %q", id, code, errs)
		}
	}
	_, errs, code := r.run("create", "--bundle", t.TempDir(), uniqueID(t))
	if code == 0 || !strings.Contains(errs, "config.json") {
		t.Errorf("create without config.json: exit %d %q", code, errs)
	}
	if ents, _ := os.ReadDir(r.root); len(ents) != 0 {
		t.Errorf("state root not empty: %v", ents)
	}
}

func TestHooksOrderAndState(t *testing.T) {
	r := newRT(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	hook := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "echo " + name + " $(cat) >> " + log}}
	}
	// createContainer runs in the container's namespaces before pivot_root (host
	// paths still resolve); startContainer after it: it logs through the bind
	// mount.
	inHook := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "echo " + name + " $(cat) >> /shared/log"}}
	}
	bundle := testutil.Bundle(t, func(s *specs.Spec) {
		shared(dir)(s)
		s.Hooks = &specs.Hooks{
			Prestart:        []specs.Hook{hook("prestart")},
			CreateRuntime:   []specs.Hook{hook("createRuntime")},
			CreateContainer: []specs.Hook{hook("createContainer")},
			StartContainer:  []specs.Hook{inHook("startContainer")},
			Poststart:       []specs.Hook{hook("poststart")},
			Poststop:        []specs.Hook{hook("poststop"), {Path: "/bin/false"}},
		}
	}, "sh", "-c", "echo user >> /shared/log")
	id := uniqueID(t)
	r.cleanup(id)
	r.ok("run", "--bundle", bundle, id)
	b, _ := os.ReadFile(log)
	var order []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		order = append(order, f[0])
		if f[0] != "user" {
			var st specs.State
			if err := json.Unmarshal([]byte(strings.Join(f[1:], " ")), &st); err != nil || st.ID != id || st.Bundle != bundle {
				t.Errorf("hook %s got state %q (%v)", f[0], strings.Join(f[1:], " "), err)
			}
		}
	}
	got := strings.Join(order, ",")
	// The user program and poststart race; both orders are valid.
	want1 := "prestart,createRuntime,createContainer,startContainer,poststart,user,poststop"
	want2 := "prestart,createRuntime,createContainer,startContainer,user,poststart,poststop"
	if got != want1 && got != want2 {
		t.Fatalf("hook order %s", got)
	}
	assertGone(t, r, id, 0)
}

func TestPidReuseIsDetected(t *testing.T) {
	r := newRT(t)
	bundle := testutil.Bundle(t, nil, "sleep", "100")
	id := uniqueID(t)
	r.cleanup(id)
	r.ok("run", "--detach", "--bundle", bundle, id)
	st := r.state(id)
	r.ok("kill", id, "KILL")
	waitStatus(t, r, id, "stopped")
	// Pretend the pid was reused by an unrelated process.
	other := exec.Command("sleep", "30")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { other.Process.Kill(); other.Wait() }()
	p := filepath.Join(r.root, id, "state.json")
	b, _ := os.ReadFile(p)
	var raw map[string]any
	json.Unmarshal(b, &raw)
	raw["pid"] = other.Process.Pid
	b, _ = json.Marshal(raw)
	os.WriteFile(p, b, 0o600)
	if s := r.state(id); s.Status != "stopped" {
		t.Fatalf("reused pid: status %s", s.Status)
	}
	if _, _, code := r.run("kill", id, "KILL"); code == 0 {
		t.Fatal("kill signalled a reused pid")
	}
	r.ok("delete", id)
	if err := other.Process.Signal(unix.Signal(0)); err != nil {
		t.Fatalf("unrelated process was killed: %v", err)
	}
	assertGone(t, r, id, st.Pid)
}

func TestRuntimeBinaryIsReadOnly(t *testing.T) {
	r := newRT(t)
	bundle := testutil.Bundle(t, nil, "true")
	id := uniqueID(t)
	r.cleanup(id)
	r.ok("create", "--bundle", bundle, id)
	st := r.state(id)
	// The init is still the runtime binary until start: writing through its
	// /proc/<pid>/exe must fail (CVE-2019-5736).
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/exe", st.Pid), os.O_WRONLY, 0)
	if err == nil {
		f.Close()
		t.Fatal("runtime binary opened for writing through /proc/<pid>/exe")
	}
	r.ok("delete", "--force", id)
	assertGone(t, r, id, st.Pid)
}

func TestJSONLogOnError(t *testing.T) {
	r := newRT(t)
	logFile := filepath.Join(t.TempDir(), "log.json")
	_, errs, code := r.run("--log", logFile, "--log-format", "json", "state", "no-such-container")
	if code == 0 || !strings.Contains(errs, "does not exist") {
		t.Fatalf("state of a missing container: exit %d %q", code, errs)
	}
	b, _ := os.ReadFile(logFile)
	var line struct{ Level, Msg, Time string }
	if err := json.Unmarshal(b, &line); err != nil || line.Level != "error" || !strings.Contains(line.Msg, "does not exist") || line.Time == "" {
		t.Fatalf("log line %q: %+v %v", b, line, err)
	}
	if _, errs, code := r.run("--systemd-cgroup", "create", "--bundle", testutil.Bundle(t, nil, "true"), uniqueID(t)); code == 0 || !strings.Contains(errs, "systemd") {
		t.Fatalf("--systemd-cgroup: exit %d %q", code, errs)
	}
}

func TestSpecCommand(t *testing.T) {
	r := newRT(t)
	dir := t.TempDir()
	r.ok("spec", "--bundle", dir)
	var s specs.Spec
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(b, &s); err != nil || s.Version != "1.3.0" || s.Root.Path != "rootfs" {
		t.Fatalf("spec: %v %+v", err, s)
	}
	if _, errs, code := r.run("spec", "--bundle", dir); code == 0 || !strings.Contains(errs, "exists") {
		t.Fatalf("spec over an existing config: exit %d %q", code, errs)
	}
}

// TestInitJoinsEveryCgroup: a created container's init is in the container's
// cgroup in every hierarchy (each v1 one and the cgroup2 one), whether it
// joined them itself (the usual case) or the runtime moved it (a user
// namespace), and with a cgroup namespace of its own.
func TestInitJoinsEveryCgroup(t *testing.T) {
	r := newRT(t)
	withNS := func(typ specs.LinuxNamespaceType) func(*specs.Spec) {
		return func(s *specs.Spec) {
			for _, ns := range s.Linux.Namespaces {
				if ns.Type == typ {
					return
				}
			}
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: typ})
		}
	}
	userns := func(s *specs.Spec) {
		withNS(specs.UserNamespace)(s)
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
	}
	for name, edit := range map[string]func(*specs.Spec){
		"plain":    nil,
		"cgroupns": withNS(specs.CgroupNamespace),
		"userns":   userns,
	} {
		t.Run(name, func(t *testing.T) {
			id := uniqueID(t)
			r.cleanup(id)
			r.ok("create", "--bundle", testutil.Bundle(t, edit, "true"), id)
			st := r.state(id)
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", st.Pid))
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) < 2 {
				t.Fatalf("/proc/%d/cgroup: %q", st.Pid, b)
			}
			for _, l := range lines {
				// "ID:controllers:path"
				parts := strings.SplitN(l, ":", 3)
				if len(parts) != 3 || parts[2] != "/berth/"+id {
					t.Errorf("init %d is not in its cgroup: %q", st.Pid, l)
				}
			}
			r.ok("delete", "--force", id)
			assertGone(t, r, id, st.Pid)
		})
	}
}

// TestRunForwardsSignals: a foreground run passes the signals it receives to the
// container's init, both those it catches at once (TERM) and those it catches
// once the container has run a while (USR1, RTMIN+3 as systemd's stop signal),
// and exits with the container's code. Signals the runtime lives with (WINCH)
// are not passed on.
func TestRunForwardsSignals(t *testing.T) {
	r := newRT(t)
	for _, c := range []struct {
		name string
		sig  unix.Signal
		trap string
		code int
	}{
		{"TERM", unix.SIGTERM, "TERM", 7},
		{"USR1", unix.SIGUSR1, "USR1", 8},
		{"HUP", unix.SIGHUP, "HUP", 9},
		{"RTMIN+3", unix.Signal(37), "37", 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			// WINCH must not reach the container (it would exit 99).
			script := fmt.Sprintf("trap 'exit 99' WINCH; trap 'exit %d' %s; touch /shared/ready; while :; do sleep 0.02; done", c.code, c.trap)
			bundle := testutil.Bundle(t, shared(dir), "sh", "-c", script)
			id := uniqueID(t)
			r.cleanup(id)
			cmd := r.cmd("run", "--bundle", bundle, id)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFile(t, filepath.Join(dir, "ready"))
			_ = cmd.Process.Signal(unix.SIGWINCH)
			// The late signals are caught 50 ms after the container started.
			time.Sleep(200 * time.Millisecond)
			if err := cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("run did not exit after %s (stderr %q)", c.name, stderr.String())
			}
			if got := cmd.ProcessState.ExitCode(); got != c.code {
				t.Errorf("run exited %d after %s, want the container's %d (stderr %q)", got, c.name, c.code, stderr.String())
			}
			assertGone(t, r, id, 0)
		})
	}
}

// TestEventsOOM: `events` reports an out-of-memory kill in the container as
// it happens and ends when the container stops.
func TestEventsOOM(t *testing.T) {
	r := newRT(t)
	limit := int64(16 << 20)
	bundle := testutil.Bundle(t, func(s *specs.Spec) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &limit}
	}, "sh", "-c", `sleep 1; v=$(head -c 200000000 /dev/zero | tr '\0' a); echo survived ${#v}`)
	id := uniqueID(t)
	r.cleanup(id)
	r.ok("run", "--detach", "--bundle", bundle, id)
	cmd := r.cmd("events", "--interval", "30s", id)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var sawOOM bool
	deadline := time.After(60 * time.Second)
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				done = true
				break
			}
			var ev struct {
				Type string `json:"type"`
				ID   string `json:"id"`
			}
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatalf("events printed %q: %v", l, err)
			}
			if ev.Type == "oom" && ev.ID == id {
				sawOOM = true
			}
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("events did not end within 60s of the container's OOM (saw oom: %v)", sawOOM)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("events: %v", err)
	}
	if !sawOOM {
		t.Error("events printed no oom event")
	}
	if st := r.state(id); st.Status != "stopped" {
		t.Errorf("container after its OOM kill: %s", st.Status)
	}
}
