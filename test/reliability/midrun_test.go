package reliability

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-containers/berth/internal/testutil"
)

// TestDaemonKilledDuringRun: berthd is SIGKILLed at several moments after a
// `berth run -d` was sent; after a restart the container is either fully
// there (listed, and it can be started and removed) or fully gone (no record,
// snapshot, bundle, shim or mount).
func TestDaemonKilledDuringRun(t *testing.T) {
	d := startDaemon(t)
	d.LoadBusybox()
	baseSnaps := snapshots(d)
	outcomes := map[string]int{}
	for i, delay := range []time.Duration{0, 5 * time.Millisecond, 15 * time.Millisecond, 30 * time.Millisecond, 60 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		name := fmt.Sprintf("mid%d", i)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, testutil.Binary(t, "berth"), "--address", d.Addr, "run", "-d", "--network", "none", "--name", name, "busybox", "sleep", "1000")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		time.Sleep(delay)
		d.Kill()
		runErr := cmd.Wait()
		cancel()
		d.Start()

		list := d.Berth("ps", "-a", "--no-trunc", "--filter", "name="+name, "--format", "{{.ID}} {{.State}}")
		f := strings.Fields(list)
		switch {
		case len(f) == 0:
			outcomes["gone"]++
			// Fully gone: nothing of it on disk, no snapshot beyond the image's.
			d.RequireClean(t)
			waitFor(t, 15*time.Second, "no snapshot beyond the image's", func() bool { return slices.Equal(snapshots(d), baseSnaps) })
			if out := d.Berth("system", "check"); !strings.Contains(out, "no orphans") {
				t.Fatalf("%s (killed after %s, gone): system check:\n%s", name, delay, out)
			}
		case len(f) == 2:
			id, state := f[0], f[1]
			outcomes[state]++
			t.Logf("%s: killed after %s: run %v (%q); after restart %s", name, delay, runErr, strings.TrimSpace(errOut.String()), state)
			if state != "running" {
				// A task cut short at create is killed by the restarted daemon;
				// until its exit is recorded, start is refused as "already
				// running". It must become startable soon.
				t0 := time.Now()
				for {
					_, errOut, err := d.BerthErr("start", name)
					if err == nil {
						break
					}
					if !strings.Contains(errOut, "already running") || time.Since(t0) > 15*time.Second {
						shimDir, _ := filepath.Glob(filepath.Join(d.State, "shims", "*", id, "*"))
						t.Fatalf("%s (killed after %s, %s after restart): start: %v: %s\nshim state: %v\ndaemon log (tail):\n%s", name, delay, state, err, errOut, shimDir, d.LogText())
					}
					time.Sleep(100 * time.Millisecond)
				}
				if el := time.Since(t0); el > 200*time.Millisecond {
					t.Logf("%s: startable %s after the restart", name, el.Round(time.Millisecond))
				}
			}
			if got := d.Berth("ps", "--filter", "name="+name, "--format", "{{.State}}"); got != "running\n" {
				t.Fatalf("%s (killed after %s): not running after start: %q", name, delay, got)
			}
			if out := d.Berth("exec", name, "echo", "alive"); out != "alive\n" {
				t.Fatalf("%s: exec after the restart: %q", name, out)
			}
			d.Berth("rm", "-f", name)
			requireNoLeaks(d, t, id)
			waitFor(t, 15*time.Second, "no snapshot beyond the image's", func() bool { return slices.Equal(snapshots(d), baseSnaps) })
		default:
			t.Fatalf("%s: ps gave %q", name, list)
		}
	}
	t.Logf("outcomes after the kill: %v", outcomes)
	if out := d.Berth("ps", "-aq"); out != "" {
		t.Fatalf("containers left: %q", out)
	}
}
