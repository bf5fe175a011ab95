package shime2e

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/shim"
	"github.com/berth-containers/berth/shim/client"
)

// An exit that happens while no client is connected is recorded on disk
// and learnt by a later Connect.
func TestExitWhileDisconnected(t *testing.T) {
	t.Parallel()
	ct := startShim(t, cOpts{args: []string{"sh", "-c", "read x; exit 5"}})
	ctx := ct.ctx()
	if _, err := ct.c.Create(ctx, shim.CreateOpts{Stdin: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.c.Start(ctx, ""); err != nil {
		t.Fatal(err)
	}
	// The daemon "goes away": from here on only the state dir is known.
	dir := ct.stateDir
	found, err := client.List(filepath.Dir(dir))
	if err != nil || len(found) != 1 || found[0] != dir {
		t.Fatalf("List: %v %v", found, err)
	}
	c2, err := client.Connect(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.CloseStdin(ctx, ""); err != nil {
		t.Fatal(err)
	}
	exitFile := filepath.Join(dir, shim.ExitFile)
	if !waitFor(10*time.Second, func() bool { _, err := os.Stat(exitFile); return err == nil }) {
		t.Fatal("no exit record")
	}
	c3, err := client.Connect(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c3.State(ctx, "")
	if err != nil || st.Status != shim.StatusStopped || st.Exit == nil || st.Exit.Code != 5 {
		t.Fatalf("state after reconnect: %+v %v", st, err)
	}
	if e, err := c3.Wait(ctx, ""); err != nil || e.Code != 5 {
		t.Fatalf("wait after reconnect: %+v %v", e, err)
	}
	if st.ShimPid != c3.Pid() {
		t.Fatalf("shim pid %d, pid file says %d", st.ShimPid, c3.Pid())
	}
	if _, err := c3.Delete(ctx, ""); err != nil {
		t.Fatal(err)
	}
	ct.checkGone()
}

// A shim killed with SIGKILL: Connect says unavailable, Recover kills the
// container, reports "shim died" and leaves nothing.
func TestShimKilledRecover(t *testing.T) {
	t.Parallel()
	ct := startShim(t, cOpts{args: []string{"sleep", "1000"}})
	ctx := ct.ctx()
	st, err := ct.c.Create(ctx, shim.CreateOpts{})
	if err != nil {
		t.Fatal(err)
	}
	initPid := st.Pid
	if _, err := ct.c.Start(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(ct.c.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool { return !alive(ct.c.Pid()) }) {
		t.Fatal("shim survived SIGKILL")
	}
	if !alive(initPid) {
		t.Fatal("container died with its shim; the test needs it running")
	}
	if _, err := client.Connect(ctx, ct.stateDir); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("connect to a dead shim: %v, want unavailable", err)
	}
	e, err := client.Recover(ctx, ct.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if e.Reason != client.ReasonShimDied || e.Code != 137 || e.Signal != int(syscall.SIGKILL) {
		t.Fatalf("recovered exit %+v", e)
	}
	if !waitFor(5*time.Second, func() bool { return !alive(initPid) }) {
		t.Fatalf("container init %d still running after Recover", initPid)
	}
	ct.checkGone()
	if _, err := client.Recover(ctx, ct.stateDir); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("second recover: %v, want not found", err)
	}
}

// Recover refuses a shim that answers.
func TestRecoverLiveShim(t *testing.T) {
	t.Parallel()
	ct := startShim(t, cOpts{args: []string{"true"}})
	if _, err := client.Recover(ct.ctx(), ct.stateDir); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("recover of a live shim: %v", err)
	}
}

// Bad input: a clear error and nothing left.
func TestBadInput(t *testing.T) {
	t.Parallel()
	ct := startShim(t, cOpts{args: []string{"true"}})
	ctx := ct.ctx()
	if _, err := ct.c.Create(ctx, shim.CreateOpts{LogPath: "relative.log"}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("relative log path: %v", err)
	}
	if _, err := ct.c.Create(ctx, shim.CreateOpts{LogMaxSize: -1, LogPath: "/tmp/x"}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("negative log size: %v", err)
	}
	if err := ct.c.Kill(ctx, "", 0, false); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("signal 0: %v", err)
	}
	if _, err := ct.c.Start(ctx, ""); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("start before create: %v", err)
	}
	if _, err := ct.c.Wait(ctx, "nope"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("wait unknown exec: %v", err)
	}
	// Nothing was made by the refused calls.
	entries, _ := os.ReadDir(ct.stateDir)
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name()] = true
	}
	for _, want := range []string{shim.ConfigFile, shim.PidFile, shim.LogFile} {
		if !names[want] {
			t.Errorf("state dir lacks %s", want)
		}
	}
	if err := ct.c.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown of a shim with no container: %v", err)
	}
	ct.checkGone()

	// Start options.
	if _, err := client.Start(ctx, client.StartOpts{ID: "x", Bundle: "rel", StateDir: t.TempDir(), Runtime: "runc"}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("relative bundle: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "s")
	if _, err := client.Start(ctx, client.StartOpts{ID: "x", Bundle: "/b", StateDir: dir, Runtime: "/no/such/runtime"}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("missing runtime: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("failed start left %s", dir)
	}
}

// The runtime's create fails (cwd missing in the rootfs): the error names
// it, the shim still serves, and nothing is left.
func TestCreateFails(t *testing.T) {
	t.Parallel()
	ct := startShim(t, cOpts{args: []string{"true"}, edit: func(s *specs.Spec) { s.Process.Cwd = "/no/such/dir" }})
	ctx := ct.ctx()
	logPath := filepath.Join(t.TempDir(), "c.log")
	_, err := ct.c.Create(ctx, shim.CreateOpts{LogPath: logPath})
	if err == nil {
		t.Fatal("create with a missing cwd succeeded")
	}
	if !strings.Contains(err.Error(), "/no/such/dir") {
		t.Fatalf("create error does not name the cwd: %v", err)
	}
	if _, err := os.Stat(logPath); !os.IsNotExist(err) {
		t.Fatal("failed create left its log file")
	}
	if _, err := os.Stat(filepath.Join(ct.runtimeRoot, ct.id)); !os.IsNotExist(err) {
		t.Fatalf("failed create left runtime state")
	}
	if err := ct.c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.c.Delete(ctx, ""); err != nil {
		t.Fatal(err)
	}
	ct.checkGone()
}

// ForceDelete (rm -f) in every state leaves nothing behind and reports an
// exit status.
func TestForceDeleteAnyState(t *testing.T) {
	for _, rt := range []string{"berth-runtime", "runc"} {
		for _, state := range []string{shim.StatusCreated, shim.StatusRunning, shim.StatusPaused, shim.StatusStopped} {
			t.Run(rt+"/"+state, func(t *testing.T) {
				t.Parallel()
				args := []string{"sleep", "1000"}
				if state == shim.StatusStopped {
					args = []string{"true"}
				}
				ct := startShim(t, cOpts{runtime: rt, args: args})
				ctx := ct.ctx()
				st, err := ct.c.Create(ctx, shim.CreateOpts{})
				if err != nil {
					t.Fatal(err)
				}
				initPid := st.Pid
				if state != shim.StatusCreated {
					if _, err := ct.c.Start(ctx, ""); err != nil {
						t.Fatal(err)
					}
				}
				switch state {
				case shim.StatusPaused:
					if err := ct.c.Pause(ctx); err != nil {
						t.Fatal(err)
					}
				case shim.StatusStopped:
					if _, err := ct.c.Wait(ctx, ""); err != nil {
						t.Fatal(err)
					}
				}
				mustState(t, ct, "", state)
				e, err := ct.c.ForceDelete(ctx)
				if err != nil {
					t.Fatalf("force delete: %v", err)
				}
				if e == nil || (state != shim.StatusStopped && e.Signal != int(syscall.SIGKILL)) {
					t.Fatalf("exit status %+v", e)
				}
				if alive(initPid) {
					t.Fatalf("init %d alive after force delete", initPid)
				}
				ct.checkGone()
			})
		}
	}
}

// A second container with an id the runtime already knows: create fails
// naming it, and the first container is untouched.
func TestDuplicateID(t *testing.T) {
	t.Parallel()
	first := startShim(t, cOpts{args: []string{"sleep", "1000"}})
	ctx := first.ctx()
	if _, err := first.c.Create(ctx, shim.CreateOpts{}); err != nil {
		t.Fatal(err)
	}
	if _, err := first.c.Start(ctx, ""); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "dup")
	c2, err := client.Start(ctx, client.StartOpts{ID: first.id, Bundle: first.bundle, StateDir: dir,
		Runtime: first.runtime, RuntimeRoot: first.runtimeRoot, ShimBinary: testutil.Binary(t, "berth-shim")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Create(ctx, shim.CreateOpts{}); err == nil {
		t.Fatal("second create of the same id succeeded")
	} else {
		t.Logf("duplicate create: %v", err)
	}
	if err := c2.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatal("shutdown left the state dir")
	}
	mustState(t, first, "", shim.StatusRunning)
	if _, err := os.Stat(filepath.Join(first.runtimeRoot, first.id)); err != nil {
		t.Fatalf("the first container's runtime state is gone: %v", err)
	}
}

// A state dir too long for a socket path: the sockets go to
// /run/berth-shim, a terminal works, and Recover removes them.
func TestLongStateDir(t *testing.T) {
	t.Parallel()
	testutil.Integration(t)
	id := newID(t)
	bundle := testutil.Bundle(t, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Linux.CgroupsPath = cgroupParent + "/" + id
	}, "sleep", "1000")
	base := t.TempDir()
	long := filepath.Join(base, strings.Repeat("d", 90), id)
	ct := &container{t: t, id: id, bundle: bundle, stateDir: long, runtime: runtimeBinary(t, "berth-runtime"),
		runtimeRoot: filepath.Join(base, "rt"), cgroupPath: cgroupParent + "/" + id}
	ctx := ct.ctx()
	c, err := client.Start(ctx, client.StartOpts{ID: id, Bundle: bundle, StateDir: long, Runtime: ct.runtime,
		RuntimeRoot: ct.runtimeRoot, ShimBinary: testutil.Binary(t, "berth-shim")})
	if err != nil {
		t.Fatal(err)
	}
	ct.c = c
	t.Cleanup(ct.cleanup)
	sock := c.Config().Socket
	if !strings.HasPrefix(sock, shim.SocketDir+"/") {
		t.Fatalf("socket %s not in %s", sock, shim.SocketDir)
	}
	if _, err := c.Create(ctx, shim.CreateOpts{Terminal: true, ConsoleSize: &shim.ConsoleSize{Width: 80, Height: 25}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(c.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool { return !alive(c.Pid()) }) {
		t.Fatal("shim survived SIGKILL")
	}
	if _, err := client.Recover(ctx, long); err != nil {
		t.Fatal(err)
	}
	prefix := strings.TrimSuffix(sock, "shim.sock")
	if left, _ := filepath.Glob(prefix + "*"); len(left) > 0 {
		t.Fatalf("sockets left: %v", left)
	}
}
