package reliability

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestManyContainersConcurrently: 200 containers started 20 at a time on
// this small machine all run; then rm -f of all of them leaves nothing.
func TestManyContainersConcurrently(t *testing.T) {
	const n, width = 200, 20
	d := startDaemon(t)
	d.LoadBusybox()
	ids := make([]string, n)
	start := time.Now()
	parallel(n, width, func(i int) {
		out, errOut, err := d.BerthErr("run", "-d", "--network", "none", "--name", fmt.Sprintf("many%d", i), "busybox", "sleep", "600")
		if err != nil {
			t.Errorf("run many%d: %v: %s", i, err, errOut)
			return
		}
		ids[i] = strings.TrimSpace(out)
	})
	wall := time.Since(start)
	if t.Failed() {
		t.Logf("daemon log (tail):\n%s", d.LogText())
		t.FailNow()
	}
	out := d.Berth("ps", "--no-trunc", "--format", "{{.ID}} {{.State}}")
	running := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[1] == "running" {
			running[f[0]] = true
		}
	}
	for i, id := range ids {
		if !running[id] {
			t.Errorf("many%d (%s) is not running", i, id)
		}
	}
	if len(running) != n {
		t.Errorf("%d running, want %d", len(running), n)
	}
	shims := shimPids(d)
	if len(shims) != n {
		t.Errorf("%d shims, want %d", len(shims), n)
	}
	shimRSS := 0
	for _, p := range shims {
		shimRSS += vmRSS(p)
	}
	daemonRSS := vmRSS(d.Cmd.Process.Pid)
	t.Logf("%d containers started %d at a time in %s (%.0f ms each on average); berthd VmRSS %.1f MB, %d shims %.1f MB (%.2f MB each)",
		n, width, wall.Round(time.Millisecond), float64(wall.Milliseconds())/n, float64(daemonRSS)/1024, len(shims), float64(shimRSS)/1024, float64(shimRSS)/1024/float64(max(len(shims), 1)))
	if t.Failed() {
		t.FailNow()
	}

	start = time.Now()
	parallel(n/20, 10, func(i int) {
		if _, errOut, err := d.BerthErr(append([]string{"rm", "-f"}, ids[i*20:(i+1)*20]...)...); err != nil {
			t.Errorf("rm -f batch %d: %v: %s", i, err, errOut)
		}
	})
	t.Logf("rm -f of %d containers: %s", n, time.Since(start).Round(time.Millisecond))
	if out := d.Berth("ps", "-aq"); out != "" {
		t.Fatalf("containers left after rm -f: %q", out)
	}
	requireNoLeaks(d, t, ids...)
}
