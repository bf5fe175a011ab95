package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/testutil"
)

func TestUpdateEventsList(t *testing.T) {
	r := newRT(t)
	bundle := testutil.Bundle(t, nil, "sleep", "100")
	id := uniqueID(t)
	r.cleanup(id)
	r.ok("run", "--detach", "--bundle", bundle, id)
	r.ok("update", "--pids-limit", "77", "--memory", "64m", id)
	if b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/pids/berth", id, "pids.max")); err != nil || strings.TrimSpace(string(b)) != "77" {
		t.Fatalf("pids.max after update: %q %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory/berth", id, "memory.limit_in_bytes")); err != nil || strings.TrimSpace(string(b)) != "67108864" {
		t.Fatalf("memory limit after update: %q %v", b, err)
	}
	res := filepath.Join(t.TempDir(), "res.json")
	os.WriteFile(res, []byte(`{"pids":{"limit":55}}`), 0o644)
	r.ok("update", "--resources", res, id)
	if b, _ := os.ReadFile(filepath.Join("/sys/fs/cgroup/pids/berth", id, "pids.max")); strings.TrimSpace(string(b)) != "55" {
		t.Fatalf("pids.max after --resources: %q", b)
	}
	if _, errs, code := r.run("update", "--pids-limit", "lots", id); code == 0 || !strings.Contains(errs, "--pids-limit") {
		t.Fatalf("bad --pids-limit: exit %d %q", code, errs)
	}
	var ev struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Data struct {
			Pids struct {
				Current uint64 `json:"current"`
				Limit   uint64 `json:"limit"`
			} `json:"pids"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.ok("events", "--stats", id)), &ev); err != nil || ev.Type != "stats" || ev.ID != id || ev.Data.Pids.Current != 1 {
		t.Fatalf("events --stats: %+v %v", ev, err)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.ok("list", "--format", "json")), &list); err != nil || len(list) != 1 || list[0]["id"] != id || list[0]["status"] != "running" {
		t.Fatalf("list json: %v %v", list, err)
	}
	if out := r.ok("list", "-q"); out != id+"\n" {
		t.Fatalf("list -q: %q", out)
	}
	r.ok("delete", "--force", id)
	assertGone(t, r, id, 0)
}

func TestPreserveFDs(t *testing.T) {
	r := newRT(t)
	bundle := testutil.Bundle(t, nil, "sh", "-c", "cat <&3; ls /proc/self/fd")
	id := uniqueID(t)
	r.cleanup(id)
	p := filepath.Join(t.TempDir(), "extra")
	os.WriteFile(p, []byte("through-fd-3\n"), 0o644)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, errF := filepath.Join(t.TempDir(), "out"), filepath.Join(t.TempDir(), "err")
	of, _ := os.Create(out)
	ef, _ := os.Create(errF)
	c := r.cmd("run", "--preserve-fds", "1", "--bundle", bundle, id)
	c.Stdout, c.Stderr = of, ef
	c.ExtraFiles = []*os.File{f}
	err = c.Run()
	of.Close()
	ef.Close()
	b, _ := os.ReadFile(out)
	e, _ := os.ReadFile(errF)
	if err != nil || !strings.HasPrefix(string(b), "through-fd-3\n") {
		t.Fatalf("run --preserve-fds: %v out %q err %q", err, b, e)
	}
	// Only stdio, the preserved fd and ls's own directory fd: nothing leaked.
	fds := strings.Fields(strings.TrimPrefix(string(b), "through-fd-3\n"))
	if len(fds) > 5 {
		t.Fatalf("fds in the container: %v", fds)
	}
}

func TestNoNewKeyringAndNoPivot(t *testing.T) {
	r := newRT(t)
	bundle := testutil.Bundle(t, func(s *specs.Spec) { s.Root.Readonly = false }, "sh", "-c", "cat /proc/self/mountinfo | head -1")
	id := uniqueID(t)
	r.cleanup(id)
	out, errs, code := r.run("run", "--no-pivot", "--no-new-keyring", "--bundle", bundle, id)
	if code != 0 || !strings.Contains(out, " / ") {
		t.Fatalf("run --no-pivot: exit %d out %q err %q", code, out, errs)
	}
	assertGone(t, r, id, 0)
}

// `runc spec` lists ambient capabilities without inheritable ones; the kernel
// cannot raise those, and runc (so berth-runtime) skips them.
func TestAmbientWithoutInheritable(t *testing.T) {
	r := newRT(t)
	bundle := testutil.Bundle(t, func(s *specs.Spec) {
		s.Process.Capabilities.Ambient = []string{"CAP_KILL"}
		s.Process.Capabilities.Inheritable = nil
	}, "sh", "-c", "grep CapAmb /proc/self/status")
	id := uniqueID(t)
	r.cleanup(id)
	if out := r.ok("run", "--bundle", bundle, id); !strings.Contains(out, "0000000000000000") {
		t.Fatalf("ambient set: %q", out)
	}
}

// CVE-2024-21626: a cwd through an fd the runtime leaked would put the process
// in a host directory. Every fd number must fail or stay inside the root.
func TestCwdThroughInheritedFds(t *testing.T) {
	r := newRT(t)
	for fd := 3; fd <= 12; fd++ {
		cwd := "/proc/self/fd/" + strconv.Itoa(fd)
		bundle := testutil.Bundle(t, func(s *specs.Spec) { s.Process.Cwd = cwd }, "sh", "-c", "pwd; ls")
		id := uniqueID(t)
		r.cleanup(id)
		out, _, code := r.run("run", "--bundle", bundle, id)
		if code == 0 && (strings.Contains(out, "state.json") || strings.Contains(out, "(unreachable)") || strings.Contains(out, "exec.fifo")) {
			t.Fatalf("cwd %s reached a host directory: %q", cwd, out)
		}
		assertGone(t, r, id, 0)
	}
}

// delete --force cleans what a crashed create left: a bare state directory, or
// a state that never reached "created" with its init still alive.
func TestDeleteForceAfterCrashedCreate(t *testing.T) {
	r := newRT(t)
	bare := uniqueID(t)
	if err := os.MkdirAll(filepath.Join(r.root, bare), 0o711); err != nil {
		t.Fatal(err)
	}
	r.ok("delete", "--force", bare)
	if _, err := os.Stat(filepath.Join(r.root, bare)); !os.IsNotExist(err) {
		t.Fatalf("bare state dir left: %v", err)
	}

	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sleeper.Wait() }()
	t.Cleanup(func() { sleeper.Process.Kill(); <-done })
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", sleeper.Process.Pid))
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	id := uniqueID(t)
	dir := filepath.Join(r.root, id)
	os.MkdirAll(dir, 0o711)
	st := fmt.Sprintf(`{"id":%q,"bundle":"/nonexistent","pid":%d,"startTime":%s,"createDone":false,"config":{"ociVersion":"1.3.0"}}`, id, sleeper.Process.Pid, f[19])
	os.WriteFile(filepath.Join(dir, "state.json"), []byte(st), 0o600)
	if s := r.state(id); s.Status != "creating" {
		t.Fatalf("half-created container: status %s", s.Status)
	}
	if _, errs, code := r.run("delete", id); code == 0 || !strings.Contains(errs, "creating") {
		t.Fatalf("delete of a creating container: exit %d %q", code, errs)
	}
	r.ok("delete", "--force", id)
	select {
	case <-done:
		done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("delete --force did not kill the half-created container's init")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("state dir left: %v", err)
	}
}

// An unprivileged user runs a container in a user namespace mapping their uid
// to root, keeping state under XDG_RUNTIME_DIR.
func TestRootlessRun(t *testing.T) {
	testutil.Integration(t)
	bin := testutil.Binary(t, "berth-runtime")
	const nobody = 65534
	bundle := testutil.Bundle(t, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: nobody, Size: 1}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: nobody, Size: 1}}
		s.Linux.Resources = nil
		s.Process.Rlimits = nil
		s.Process.OOMScoreAdj = nil
		var mounts []specs.Mount
		for _, m := range s.Mounts {
			// An unprivileged user namespace cannot mount sysfs or a new devpts
			// with a gid option it does not map.
			switch m.Destination {
			case "/sys", "/sys/fs/cgroup", "/dev/pts":
				continue
			}
			mounts = append(mounts, m)
		}
		s.Mounts = mounts
	}, "sh", "-c", "id -u; echo rootless-ok")
	xdg := t.TempDir()
	for _, d := range []string{filepath.Dir(bundle), bundle, xdg} {
		os.Chmod(d, 0o755)
	}
	filepath.Walk(bundle, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, nobody, nobody) })
	os.Chown(xdg, nobody, nobody)
	id := uniqueID(t)
	cmd := exec.Command(bin, "--rootless", "run", "--bundle", bundle, id)
	cmd.Env = []string{"XDG_RUNTIME_DIR=" + xdg, "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "0\nrootless-ok\n" {
		t.Fatalf("rootless run: %v: %q", err, out)
	}
	if ents, _ := os.ReadDir(filepath.Join(xdg, "berth-runtime")); len(ents) != 0 {
		t.Fatalf("rootless state left behind: %v", ents)
	}
}

// Without a pid namespace a child can outlive the init: kill --all still
// reaches it once the container is stopped, and delete leaves nothing.
func TestKillAllAfterInitExit(t *testing.T) {
	r := newRT(t)
	bundle := testutil.Bundle(t, func(s *specs.Spec) {
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.PIDNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = ns
	}, "sh", "-c", "sleep 100 & exit 0")
	id := uniqueID(t)
	r.cleanup(id)
	r.ok("run", "--detach", "--bundle", bundle, id)
	waitStatus(t, r, id, "stopped")
	procs := filepath.Join("/sys/fs/cgroup/pids/berth", id, "cgroup.procs")
	b, _ := os.ReadFile(procs)
	if len(strings.Fields(string(b))) != 1 {
		t.Fatalf("want the orphaned sleep in the cgroup, got %q", b)
	}
	r.ok("kill", "--all", id, "KILL")
	for i := 0; i < 500; i++ {
		if b, _ := os.ReadFile(procs); len(strings.TrimSpace(string(b))) == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if b, _ := os.ReadFile(procs); len(strings.TrimSpace(string(b))) != 0 {
		t.Fatalf("kill --all left %q", b)
	}
	r.ok("delete", id)
	assertGone(t, r, id, 0)
}

// A seccomp profile may deny getcwd: the cwd check happens before the filter.
func TestSeccompDeniesGetcwd(t *testing.T) {
	r := newRT(t)
	bundle := testutil.Bundle(t, func(s *specs.Spec) {
		s.Process.Cwd = "/tmp"
		s.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Architectures: []specs.Arch{specs.ArchX86_64},
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"getcwd"}, Action: specs.ActErrno}},
		}
	}, "sh", "-c", "echo in-$(pwd -P 2>/dev/null || echo denied)")
	id := uniqueID(t)
	r.cleanup(id)
	out := r.ok("run", "--bundle", bundle, id)
	if !strings.HasPrefix(out, "in-") {
		t.Fatalf("output %q", out)
	}
}
