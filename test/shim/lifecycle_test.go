package shime2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/shim"
	"github.com/berth-containers/berth/shim/logs"
)

func TestLifecycle(t *testing.T) {
	for _, rt := range []string{"berth-runtime", "runc", "crun"} {
		t.Run(rt, func(t *testing.T) {
			t.Parallel()
			var edit func(*specs.Spec)
			if rt == "crun" {
				// Debian 12's crun 1.8.1 knows spec versions up to 1.1.
				edit = func(s *specs.Spec) { s.Version = "1.1.0" }
			}
			ct := startShim(t, cOpts{runtime: rt, edit: edit, args: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}})
			ctx := ct.ctx()
			logPath := filepath.Join(t.TempDir(), "c.log")
			st, err := ct.c.Create(ctx, shim.CreateOpts{LogPath: logPath})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if st.Pid <= 0 || st.Status != shim.StatusCreated {
				t.Fatalf("after create: %+v", st)
			}
			if _, err := ct.c.Start(ctx, ""); err != nil {
				t.Fatalf("start: %v", err)
			}
			e, err := ct.c.Wait(ctx, "")
			if err != nil {
				t.Fatalf("wait: %v", err)
			}
			if e.Code != 3 || e.Signal != 0 || e.ExitedAt.IsZero() || time.Since(e.ExitedAt) > time.Minute {
				t.Fatalf("exit status %+v, want code 3", e)
			}
			rec, err := shim.ReadExit(filepath.Join(ct.stateDir, shim.ExitFile))
			if err != nil || rec == nil || rec.Code != 3 {
				t.Fatalf("exit record %+v, %v", rec, err)
			}
			mustState(t, ct, "", shim.StatusStopped)
			var got []string
			for en, err := range logs.Read(ctx, logPath, logs.ReadOpts{Tail: -1}) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, en.Stream+":"+en.Log)
			}
			if strings.Join(got, "|") != "stdout:out\n|stderr:err\n" && strings.Join(got, "|") != "stderr:err\n|stdout:out\n" {
				t.Fatalf("log entries %q", got)
			}
			shimPid := ct.c.Pid()
			if _, err := ct.c.Delete(ctx, ""); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if alive(shimPid) {
				t.Fatalf("shim %d alive after delete", shimPid)
			}
			ct.checkGone()
			if _, err := os.Stat(logPath); err != nil {
				t.Fatalf("container log removed by delete: %v", err)
			}
		})
	}
}

func TestKillRunning(t *testing.T) {
	t.Parallel()
	ct := startShim(t, cOpts{args: []string{"sleep", "1000"}})
	ctx := ct.ctx()
	if _, err := ct.c.Create(ctx, shim.CreateOpts{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.c.Start(ctx, ""); err != nil {
		t.Fatal(err)
	}
	mustState(t, ct, "", shim.StatusRunning)
	if _, err := ct.c.Delete(ctx, ""); err == nil {
		t.Fatal("delete of a running container succeeded")
	}
	if err := ct.c.Kill(ctx, "", syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	e, err := ct.c.Wait(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if e.Signal != int(syscall.SIGKILL) || e.Code != 128+int(syscall.SIGKILL) {
		t.Fatalf("exit %+v, want SIGTERM", e)
	}
}
