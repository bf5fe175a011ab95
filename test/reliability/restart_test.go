package reliability

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ticker writes "tick N" once a second.
var ticker = []string{"sh", "-c", `i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 1; done`}

// lastTick returns the highest N of the "tick N" lines in out, or -1.
func lastTick(out string) int {
	n := -1
	for _, line := range strings.Split(out, "\n") {
		if v, err := strconv.Atoi(strings.TrimPrefix(line, "tick ")); err == nil && strings.HasPrefix(line, "tick ") && v > n {
			n = v
		}
	}
	return n
}

// TestDaemonKilledUnderRunningContainers: berthd SIGKILLed while 20
// containers run; after a restart all 20 are running and listed, their logs
// go on, and stop works on them. A 21st container that exits (code 7) while
// berthd is down is reported exited with its code.
func TestDaemonKilledUnderRunningContainers(t *testing.T) {
	const n = 20
	d := startDaemon(t)
	d.LoadBusybox()
	ids := make([]string, n)
	parallel(n, 5, func(i int) {
		out, errOut, err := d.BerthErr(append([]string{"run", "-d", "--network", "none", "--name", fmt.Sprintf("tick%d", i), "busybox"}, ticker...)...)
		if err != nil {
			t.Errorf("run tick%d: %v: %s", i, err, errOut)
			return
		}
		ids[i] = strings.TrimSpace(out)
	})
	if t.Failed() {
		t.FailNow()
	}
	if got := len(strings.Fields(d.Berth("ps", "-q"))); got != n {
		t.Fatalf("before the kill: %d running, want %d", got, n)
	}
	waitFor(t, 20*time.Second, "tick 1 in tick0's log", func() bool { return lastTick(d.Berth("logs", "tick0")) >= 1 })
	// One more container, to exit with code 7 while berthd is down.
	quitter := strings.TrimSpace(d.Berth("run", "-d", "--network", "none", "--name", "quitter", "busybox",
		"sh", "-c", "trap 'exit 7' TERM; echo ready; while true; do sleep 0.1; done"))
	waitFor(t, 10*time.Second, "quitter ready", func() bool { return d.Berth("logs", "quitter") == "ready\n" })
	var recs []struct {
		Status struct {
			State    string `json:"state"`
			Pid      int    `json:"pid"`
			ExitCode int    `json:"exitCode"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(d.Berth("container", "inspect", "quitter")), &recs); err != nil || len(recs) != 1 || recs[0].Status.Pid <= 0 {
		t.Fatalf("container inspect quitter: %v %+v", err, recs)
	}
	quitterPid := recs[0].Status.Pid
	shimsBefore := shimPids(d)

	d.Kill()
	if err := syscall.Kill(quitterPid, syscall.SIGTERM); err != nil {
		t.Fatalf("signal quitter (pid %d): %v", quitterPid, err)
	}
	waitFor(t, 10*time.Second, "quitter to exit", func() bool { return syscall.Kill(quitterPid, 0) != nil })
	// The containers and their shims live on without the daemon.
	for _, id := range ids {
		if shimPid(d, id) == 0 {
			t.Fatalf("shim of %s gone after berthd was killed", id)
		}
	}
	time.Sleep(2 * time.Second)
	d.Start()

	out := d.Berth("ps", "--no-trunc", "--format", "{{.ID}} {{.State}}")
	running := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[1] == "running" {
			running[f[0]] = true
		}
	}
	for i, id := range ids {
		if !running[id] {
			t.Errorf("tick%d (%s) not listed running after the restart; ps:\n%s", i, id, out)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	// The exit that happened while berthd was down is reported with its code.
	waitFor(t, 15*time.Second, "quitter reported exited", func() bool {
		return d.Berth("ps", "-a", "--filter", "name=quitter", "--format", "{{.State}}") == "exited\n"
	})
	recs = nil
	if err := json.Unmarshal([]byte(d.Berth("container", "inspect", "quitter")), &recs); err != nil || len(recs) != 1 {
		t.Fatalf("container inspect quitter: %v", err)
	}
	if st := recs[0].Status; st.ExitCode != 7 {
		t.Fatalf("quitter exited while berthd was down: status %+v, want exit code 7", st)
	}
	if out := d.Berth("wait", "quitter"); out != "7\n" {
		t.Fatalf("wait quitter: %q", out)
	}
	// The same shims still serve the others (no restart of the containers);
	// quitter's went with its container.
	if after := shimPids(d); len(after) != len(shimsBefore)-1 {
		t.Fatalf("shims before the kill %v, after the restart %v", shimsBefore, after)
	}
	before := lastTick(d.Berth("logs", "tick0"))
	waitFor(t, 20*time.Second, "log lines written after the restart", func() bool {
		return lastTick(d.Berth("logs", "tick0")) >= before+3
	})
	if out := d.Berth("logs", "--tail", "1", "tick7"); !strings.HasPrefix(out, "tick ") {
		t.Fatalf("logs --tail 1 tick7 after the restart: %q", out)
	}

	start := time.Now()
	d.Berth(append([]string{"stop", "-t", "1"}, ids...)...)
	t.Logf("stop -t 1 of %d containers after the restart: %s", n, time.Since(start).Round(time.Millisecond))
	if out := d.Berth("ps", "-q"); out != "" {
		t.Fatalf("still running after stop: %q", out)
	}
	out = d.Berth("ps", "-a", "--format", "{{.State}}")
	if strings.Count(out, "exited\n") != n+1 {
		t.Fatalf("after stop, want %d exited:\n%s", n+1, out)
	}
	d.Berth(append([]string{"rm", "quitter"}, ids...)...)
	requireNoLeaks(d, t, append(ids, quitter)...)
}
