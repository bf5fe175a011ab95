package run

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-containers/berth/container"
)

func (d *daemon) inspect(t *testing.T, ref string) container.Container {
	t.Helper()
	var cs []container.Container
	if err := json.Unmarshal([]byte(d.berth("container", "inspect", ref)), &cs); err != nil || len(cs) != 1 {
		t.Fatalf("container inspect %s: %v (%d records)", ref, err, len(cs))
	}
	return cs[0]
}

// runMany starts n detached containers with at most par CLI calls at once
// and returns their ids.
func (d *daemon) runMany(t *testing.T, n, par int, prefix string, args ...string) []string {
	t.Helper()
	ids := make([]string, n)
	errs := make([]error, n)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			a := append([]string{"run", "-d", "--network", "none", "--name", fmt.Sprintf("%s%d", prefix, i), "busybox"}, args...)
			out, errOut, err := d.berthErr(a...)
			if err != nil {
				errs[i] = fmt.Errorf("%v: %s", err, errOut)
				return
			}
			ids[i] = strings.TrimSpace(out)
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("run %s%d: %v\ndaemon log:\n%s", prefix, i, err, d.logText())
		}
	}
	return ids
}

func (d *daemon) states(t *testing.T) map[string]string {
	t.Helper()
	out := d.berth("ps", "-a", "--format", "{{.Names}} {{.State}}")
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			m[f[0]] = f[1]
		}
	}
	return m
}

// TestDaemonKilledUnderRunningContainers: berthd is SIGKILLed while 20
// containers run and one exits meanwhile; after a restart all 20 are
// running and listed, their logs go on, the exit is reported with its
// code, and stop and rm work.
func TestDaemonKilledUnderRunningContainers(t *testing.T) {
	d := startDaemon(t)
	d.loadBusybox()
	const n = 20
	d.runMany(t, n, 5, "tick", "sh", "-c", `i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.2; done`)
	d.berth("run", "-d", "--network", "none", "--name", "quitter", "busybox", "sh", "-c", "sleep 2; exit 4")
	d.kill()
	time.Sleep(3 * time.Second) // quitter exits while berthd is down
	d.start()
	st := d.states(t)
	for i := 0; i < n; i++ {
		if s := st[fmt.Sprintf("tick%d", i)]; s != "running" {
			t.Errorf("tick%d after restart: %q, want running", i, s)
		}
	}
	waitFor(t, 10*time.Second, "quitter's exit to be recorded", func() bool { return d.states(t)["quitter"] == "exited" })
	if c := d.inspect(t, "quitter"); c.Status.ExitCode != 4 {
		t.Errorf("quitter exit code after restart: %d (%s), want 4", c.Status.ExitCode, c.Status.Error)
	}
	count := func() int { return strings.Count(d.berth("logs", "tick7"), "tick ") }
	before := count()
	waitFor(t, 10*time.Second, "tick7's log to grow after the restart", func() bool { return count() > before+3 })
	d.berth("stop", "-t", "0", "tick3")
	if s := d.states(t)["tick3"]; s != "exited" {
		t.Fatalf("tick3 after stop: %q", s)
	}
	ids := strings.Fields(d.berth("ps", "-aq"))
	d.berth(append([]string{"rm", "-f"}, ids...)...)
	d.requireClean(t)
}

// TestShimKilled: a shim SIGKILLed under its container: the container is
// reported exited with a clear status and nothing is left.
func TestShimKilled(t *testing.T) {
	d := startDaemon(t)
	d.loadBusybox()
	id := strings.TrimSpace(d.berth("run", "-d", "--network", "none", "busybox", "sleep", "1000"))
	c := d.inspect(t, id)
	b, err := os.ReadFile(filepath.Join(d.state, "shims", "default", id, "shim.pid"))
	if err != nil {
		t.Fatal(err)
	}
	shimPid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := syscall.Kill(shimPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the container to be reported exited", func() bool { return d.inspect(t, id).Status.State == container.StateExited })
	c = d.inspect(t, id)
	if c.Status.ExitCode != 137 || !strings.Contains(c.Status.Error, "shim died") {
		t.Fatalf("status after the shim died: code %d, error %q; want 137 and \"shim died\"", c.Status.ExitCode, c.Status.Error)
	}
	waitFor(t, 10*time.Second, "the container's process to be gone", func() bool {
		return syscall.Kill(c.Status.Pid, 0) != nil || c.Status.Pid == 0
	})
	if out := d.berth("ps", "-a", "--format", "{{.Status}}"); !strings.HasPrefix(out, "Exited (137)") {
		t.Fatalf("ps: %q", out)
	}
	// It can be started again, and removed.
	d.berth("start", id)
	d.berth("rm", "-f", id)
	d.requireClean(t)
}

// TestDaemonKilledMidRun: berthd is SIGKILLed while `berth run -d` is in
// flight; after a restart the container is either fully there (it can be
// started and removed) or fully gone, and nothing else is left.
func TestDaemonKilledMidRun(t *testing.T) {
	d := startDaemon(t)
	d.loadBusybox()
	for i, delay := range []time.Duration{5, 20, 40, 70, 120, 200} {
		delay *= time.Millisecond
		cmd := exec.Command(bin(t, "berth"), "--address", d.addr, "run", "-d", "--network", "none", "--name", fmt.Sprintf("mid%d", i), "busybox", "sleep", "1000")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		d.kill()
		_ = cmd.Wait()
		d.start()
		st := d.states(t)
		if s, ok := st[fmt.Sprintf("mid%d", i)]; ok {
			t.Logf("killed after %s: container there, %s", delay, s)
			if s != "running" {
				d.berth("start", fmt.Sprintf("mid%d", i))
			}
			d.berth("rm", "-f", fmt.Sprintf("mid%d", i))
		} else {
			t.Logf("killed after %s: container gone", delay)
		}
		d.requireClean(t)
	}
}

// TestManyContainers: 200 containers started concurrently all run.
func TestManyContainers(t *testing.T) {
	if testing.Short() {
		t.Skip("200 containers: not in -short")
	}
	d := startDaemon(t)
	d.loadBusybox()
	const n = 200
	start := time.Now()
	d.runMany(t, n, 16, "many", "sleep", "1000")
	t.Logf("%d containers started in %s", n, time.Since(start).Round(time.Millisecond))
	st := d.states(t)
	running := 0
	for _, s := range st {
		if s == "running" {
			running++
		}
	}
	if running != n {
		t.Fatalf("%d of %d containers running", running, n)
	}
	start = time.Now()
	ids := strings.Fields(d.berth("ps", "-aq"))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func(id string) {
			defer wg.Done()
			defer func() { <-sem }()
			d.berthErr("rm", "-f", id)
		}(id)
	}
	wg.Wait()
	t.Logf("%d containers removed in %s", n, time.Since(start).Round(time.Millisecond))
	d.requireClean(t)
}

func bin(t *testing.T, name string) string {
	p := os.Getenv("BERTH_BIN")
	if p == "" {
		p = filepath.Join("..", "..", "bin")
	}
	return filepath.Join(p, name)
}
