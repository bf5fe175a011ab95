package reliability

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-containers/berth/internal/testutil"
)

// TestDaemonKilledDuringSlowCreate: berthd is SIGKILLed while the runtime's
// create of a `berth run` is still in progress in the shim (runc wrapped to
// take 2s over create); after a restart the container must be removable and,
// once the shim's create is over, startable, like any created container.
func TestDaemonKilledDuringSlowCreate(t *testing.T) {
	realRunc := testutil.LookPath(t, "runc", "runc")
	dir := t.TempDir()
	wrapper := "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = create ] && sleep 2 && break; done\nexec " + realRunc + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "runc"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	d := startDaemonEnv(t, []string{"PATH=" + dir + ":" + os.Getenv("PATH")})
	d.LoadBusybox()
	cmd := exec.Command(testutil.Binary(t, "berth"), "--address", d.Addr, "run", "-d", "--runtime", "runc", "--network", "none", "--name", "slow", "busybox", "sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for the shim to be up (its create then sleeps in the wrapper).
	waitFor(t, 20*time.Second, "the shim of the container", func() bool { return len(shimPids(d)) == 1 })
	time.Sleep(300 * time.Millisecond)
	d.Kill()
	_ = cmd.Wait()
	d.Start()
	state := d.Berth("ps", "-a", "--filter", "name=slow", "--format", "{{.State}}")
	t.Logf("after the restart: %q", state)
	if state == "" {
		d.RequireClean(t)
		return
	}
	t0 := time.Now()
	for {
		_, errOut, err := d.BerthErr("start", "slow")
		if err == nil {
			break
		}
		if time.Since(t0) > 20*time.Second {
			t.Fatalf("start after the restart: %v: %s\nstate %q\ndaemon log (tail):\n%s", err, errOut, d.Berth("ps", "-a", "--format", "{{.State}}"), d.LogText())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out := d.Berth("exec", "slow", "echo", "alive"); out != "alive\n" {
		t.Fatalf("exec: %q", out)
	}
	id := strings.TrimSpace(d.Berth("ps", "-aq", "--no-trunc"))
	d.Berth("rm", "-f", "slow")
	requireNoLeaks(d, t, id)
}
