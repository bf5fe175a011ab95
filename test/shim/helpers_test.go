package shime2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/shim"
	"github.com/berth-containers/berth/shim/client"
)

const cgroupParent = "/berth-shim-test"

// runtimes under test, by name.
func runtimeBinary(t *testing.T, name string) string {
	t.Helper()
	switch name {
	case "berth-runtime":
		return testutil.Binary(t, "berth-runtime")
	case "runc":
		return testutil.LookPath(t, "runc", "runc")
	case "crun":
		return testutil.LookPath(t, "crun", "crun")
	}
	t.Fatalf("unknown runtime %q", name)
	return ""
}

func newID(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "shimt-" + hex.EncodeToString(b)
}

// container is one shim plus what the test needs to check that nothing
// is left behind.
type container struct {
	t           *testing.T
	id          string
	c           *client.Client
	bundle      string
	stateDir    string
	runtime     string
	runtimeRoot string
	cgroupPath  string
}

type cOpts struct {
	runtime string // default berth-runtime
	edit    func(*specs.Spec)
	args    []string
}

// startShim makes a bundle and starts a shim for it; cleanup kills and
// deletes whatever is left, and checks nothing leaked.
func startShim(t *testing.T, o cOpts) *container {
	t.Helper()
	testutil.Integration(t)
	if o.runtime == "" {
		o.runtime = "berth-runtime"
	}
	id := newID(t)
	cgPath := cgroupParent + "/" + id
	bundle := testutil.Bundle(t, func(s *specs.Spec) {
		s.Linux.CgroupsPath = cgPath
		if o.edit != nil {
			o.edit(s)
		}
	}, o.args...)
	base := t.TempDir()
	ct := &container{t: t, id: id, bundle: bundle, stateDir: filepath.Join(base, "state", id),
		runtime: runtimeBinary(t, o.runtime), runtimeRoot: filepath.Join(base, "rt"), cgroupPath: cgPath}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Start(ctx, client.StartOpts{ID: id, Bundle: bundle, StateDir: ct.stateDir,
		Runtime: ct.runtime, RuntimeRoot: ct.runtimeRoot, ShimBinary: testutil.Binary(t, "berth-shim")})
	if err != nil {
		t.Fatalf("client.Start: %v", err)
	}
	ct.c = c
	t.Cleanup(ct.cleanup)
	return ct
}

func (ct *container) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	ct.t.Cleanup(cancel)
	return ctx
}

// cleanup removes what is left and checks that nothing leaked.
func (ct *container) cleanup() {
	t := ct.t
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := os.Stat(filepath.Join(ct.stateDir, shim.ConfigFile)); err == nil {
		if err := ct.c.Ping(ctx); err == nil {
			if st, err := ct.c.State(ctx, ""); err == nil && st.Status != shim.StatusStopped {
				if st.Status == shim.StatusPaused {
					_ = ct.c.Resume(ctx)
				}
				_ = ct.c.Kill(ctx, "", syscall.SIGKILL, true)
				_, _ = ct.c.Wait(ctx, "")
			}
			if _, err := ct.c.Delete(ctx, ""); err != nil {
				t.Errorf("cleanup: delete: %v", err)
			}
		} else if _, err := client.Recover(ctx, ct.stateDir); err != nil {
			t.Errorf("cleanup: recover: %v", err)
		}
	}
	ct.checkGone()
}

// checkGone fails the test if the shim, the container's cgroup, its runtime
// state or the shim's state directory is still there.
func (ct *container) checkGone() {
	t := ct.t
	t.Helper()
	if _, err := os.Stat(ct.stateDir); !os.IsNotExist(err) {
		t.Errorf("state dir %s still exists (%v)", ct.stateDir, err)
	}
	if _, err := os.Stat(filepath.Join(ct.runtimeRoot, ct.id)); !os.IsNotExist(err) {
		t.Errorf("runtime state %s still exists", filepath.Join(ct.runtimeRoot, ct.id))
	}
	for _, ctrl := range []string{"memory", "pids", "cpu", "freezer", "unified"} {
		d := filepath.Join("/sys/fs/cgroup", ctrl, ct.cgroupPath)
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s still exists", d)
		}
	}
	if pid := ct.c.Pid(); pid > 0 && alive(pid) {
		t.Errorf("shim pid %d still running", pid)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func mustState(t *testing.T, ct *container, execID, want string) *shim.State {
	t.Helper()
	st, err := ct.c.State(ct.ctx(), execID)
	if err != nil {
		t.Fatalf("state %q: %v", execID, err)
	}
	if st.Status != want {
		t.Fatalf("state %q: status %q, want %q", execID, st.Status, want)
	}
	return st
}

// syncBuf is a goroutine-safe buffer.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond every 10ms until it is true or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

// staticProgram builds a tiny static Go program (for a real exec).
func staticProgram(t *testing.T, dir, name, src string) string {
	t.Helper()
	tmp := t.TempDir()
	if err := os.WriteFile(filepath.Join(tmp, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), []byte("module prog\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, b)
	}
	return out
}
