package shime2e

import (
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/shim"
	"github.com/berth-containers/berth/shim/client"
)

func TestStdinRoundTrip(t *testing.T) {
	t.Parallel()
	ct := startShim(t, cOpts{args: []string{"cat"}})
	ctx := ct.ctx()
	if _, err := ct.c.Create(ctx, shim.CreateOpts{Stdin: true}); err != nil {
		t.Fatal(err)
	}
	var out, errb syncBuf
	a, err := ct.c.Attach(ctx, "", client.AttachOpts{Stdin: strings.NewReader("hello shim\nsecond line\n"), StdinOnce: true, Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ct.c.Start(ctx, ""); err != nil {
		t.Fatal(err)
	}
	e, err := ct.c.Wait(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Wait(); err != nil {
		t.Fatalf("attach: %v", err)
	}
	if e.Code != 0 {
		t.Fatalf("exit %+v", e)
	}
	if out.String() != "hello shim\nsecond line\n" || errb.String() != "" {
		t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
	}
}

func TestCloseStdin(t *testing.T) {
	t.Parallel()
	ct := startShim(t, cOpts{args: []string{"cat"}})
	ctx := ct.ctx()
	if _, err := ct.c.Create(ctx, shim.CreateOpts{Stdin: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.c.Start(ctx, ""); err != nil {
		t.Fatal(err)
	}
	mustState(t, ct, "", shim.StatusRunning)
	if err := ct.c.CloseStdin(ctx, ""); err != nil {
		t.Fatal(err)
	}
	e, err := ct.c.Wait(ctx, "")
	if err != nil || e.Code != 0 {
		t.Fatalf("wait: %+v %v", e, err)
	}
}

func TestTerminalResize(t *testing.T) {
	t.Parallel()
	ct := startShim(t, cOpts{
		edit: func(s *specs.Spec) { s.Process.Terminal = true },
		args: []string{"sh", "-c", "busybox stty size; read x; busybox stty size; busybox tty"},
	})
	ctx := ct.ctx()
	if _, err := ct.c.Create(ctx, shim.CreateOpts{Terminal: true, Stdin: true, ConsoleSize: &shim.ConsoleSize{Width: 80, Height: 24}}); err != nil {
		t.Fatal(err)
	}
	var out syncBuf
	pr, pw := io.Pipe()
	defer pw.Close()
	a, err := ct.c.Attach(ctx, "", client.AttachOpts{Stdin: pr, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ct.c.Start(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool { return strings.Contains(out.String(), "24 80") }) {
		t.Fatalf("initial size: output %q", out.String())
	}
	if err := ct.c.ResizePty(ctx, "", 100, 40); err != nil {
		t.Fatal(err)
	}
	if _, err := pw.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	e, err := ct.c.Wait(ctx, "")
	if err != nil || e.Code != 0 {
		t.Fatalf("wait: %+v %v", e, err)
	}
	_ = a.Wait()
	if !strings.Contains(out.String(), "40 100") || !strings.Contains(out.String(), "/dev/pts/") {
		t.Fatalf("after resize: output %q", out.String())
	}
}

func TestExec(t *testing.T) {
	t.Parallel()
	ct := startShim(t, cOpts{args: []string{"sleep", "1000"}})
	ctx := ct.ctx()
	if _, err := ct.c.Create(ctx, shim.CreateOpts{}); err != nil {
		t.Fatal(err)
	}
	proc := func(args ...string) *specs.Process {
		return &specs.Process{Args: args, Cwd: "/", Env: []string{"PATH=/bin:/usr/bin"}}
	}
	// Exec into a created (not running) container is refused.
	if err := ct.c.Exec(ctx, "early", proc("true"), shim.ExecOpts{}); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("exec into a created container: %v, want failed precondition", err)
	}
	if _, err := ct.c.Start(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := ct.c.Exec(ctx, "e1", proc("sh", "-c", "read x; echo got $x; echo oops >&2; exit 7"), shim.ExecOpts{Stdin: true}); err != nil {
		t.Fatal(err)
	}
	if err := ct.c.Exec(ctx, "e1", proc("true"), shim.ExecOpts{}); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("duplicate exec id: %v", err)
	}
	if err := ct.c.Exec(ctx, "../x", proc("true"), shim.ExecOpts{}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("bad exec id: %v", err)
	}
	var out, errb syncBuf
	a, err := ct.c.Attach(ctx, "e1", client.AttachOpts{Stdin: strings.NewReader("ping\n"), StdinOnce: true, Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	st, err := ct.c.Start(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	if st.Pid <= 0 {
		t.Fatalf("exec state %+v", st)
	}
	e, err := ct.c.Wait(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	_ = a.Wait()
	if e.Code != 7 {
		t.Fatalf("exec exit %+v, want 7", e)
	}
	if out.String() != "got ping\n" || errb.String() != "oops\n" {
		t.Fatalf("exec stdout %q stderr %q", out.String(), errb.String())
	}
	if rec, err := shim.ReadExit(ct.stateDir + "/" + shim.ExecExitFile("e1")); err != nil || rec == nil || rec.Code != 7 {
		t.Fatalf("exec exit record %+v %v", rec, err)
	}
	// An exec whose binary does not exist fails at start with a clear error.
	if err := ct.c.Exec(ctx, "bad", proc("/no/such/binary"), shim.ExecOpts{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.c.Start(ctx, "bad"); err == nil {
		t.Fatal("exec of a missing binary started")
	}
	// A long-running exec killed by a signal.
	if err := ct.c.Exec(ctx, "e2", proc("sleep", "1000"), shim.ExecOpts{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.c.Start(ctx, "e2"); err != nil {
		t.Fatal(err)
	}
	mustState(t, ct, "e2", shim.StatusRunning)
	if err := ct.c.Kill(ctx, "e2", syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	if e, err := ct.c.Wait(ctx, "e2"); err != nil || e.Signal != int(syscall.SIGKILL) {
		t.Fatalf("exec e2: %+v %v", e, err)
	}
	for _, id := range []string{"e1", "e2", "bad"} {
		if _, err := ct.c.Delete(ctx, id); err != nil {
			t.Fatalf("delete exec %s: %v", id, err)
		}
	}
	if _, err := ct.c.State(ctx, "e1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("state of deleted exec: %v", err)
	}
}
