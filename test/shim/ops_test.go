package shime2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/shim"
)

func TestPauseResumeStatsUpdate(t *testing.T) {
	t.Parallel()
	ct := startShim(t, cOpts{args: []string{"sh", "-c", "i=0; while true; do i=$((i+1)); done"}})
	ctx := ct.ctx()
	if _, err := ct.c.Create(ctx, shim.CreateOpts{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.c.Start(ctx, ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	st, err := ct.c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pids.Current < 1 || st.Memory.Usage.Usage == 0 || st.CPU.Usage.Total == 0 {
		t.Fatalf("stats: pids %d, memory %d, cpu %d", st.Pids.Current, st.Memory.Usage.Usage, st.CPU.Usage.Total)
	}
	if err := ct.c.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	mustState(t, ct, "", shim.StatusPaused)
	freezer := filepath.Join("/sys/fs/cgroup/freezer", ct.cgroupPath, "freezer.state")
	if b, err := os.ReadFile(freezer); err == nil && strings.TrimSpace(string(b)) != "FROZEN" {
		t.Fatalf("freezer.state %q after pause", b)
	}
	s1, _ := ct.c.Stats(ctx)
	time.Sleep(100 * time.Millisecond)
	s2, _ := ct.c.Stats(ctx)
	if s1 == nil || s2 == nil || s2.CPU.Usage.Total != s1.CPU.Usage.Total {
		t.Fatalf("cpu usage moved while paused")
	}
	if err := ct.c.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	mustState(t, ct, "", shim.StatusRunning)
	limit := int64(64 << 20)
	if err := ct.c.Update(ctx, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", ct.cgroupPath, "memory.limit_in_bytes"))
	if err != nil || strings.TrimSpace(string(b)) != strconv.FormatInt(limit, 10) {
		t.Fatalf("memory.limit_in_bytes after update: %q %v", b, err)
	}
	if err := ct.c.Kill(ctx, "", syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.c.Wait(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.c.Stats(ctx); err == nil {
		t.Fatal("stats of a stopped container succeeded")
	}
}

func TestOOM(t *testing.T) {
	t.Parallel()
	limit := int64(16 << 20)
	ct := startShim(t, cOpts{
		args: []string{"sh", "-c", "tail /dev/zero"},
		edit: func(s *specs.Spec) {
			if s.Linux.Resources == nil {
				s.Linux.Resources = &specs.LinuxResources{}
			}
			s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
		},
	})
	ctx := ct.ctx()
	if _, err := ct.c.Create(ctx, shim.CreateOpts{}); err != nil {
		t.Fatal(err)
	}
	events, err := ct.c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ct.c.Start(ctx, ""); err != nil {
		t.Fatal(err)
	}
	var sawOOM, sawExit bool
	timeout := time.After(30 * time.Second)
	for !sawExit {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("event stream ended")
			}
			switch ev.Kind {
			case shim.EventOOM:
				sawOOM = true
			case shim.EventExit:
				if ev.ExecID == "" {
					sawExit = true
					if !ev.Exit.OOMKilled {
						t.Errorf("exit event %+v: not OOMKilled", ev.Exit)
					}
				}
			}
		case <-timeout:
			t.Fatal("no exit event in 30s")
		}
	}
	if !sawOOM {
		t.Error("no oom event before the exit")
	}
	e, err := ct.c.Wait(ctx, "")
	if err != nil || !e.OOMKilled || e.Signal != int(syscall.SIGKILL) {
		t.Fatalf("wait: %+v %v", e, err)
	}
}
