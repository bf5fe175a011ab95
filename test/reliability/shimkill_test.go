package reliability

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestShimKilled: the berth-shim of a running container is SIGKILLed; the
// container is reported exited (137) with a status that says so, it can
// be started again, and after rm nothing of it is left (process, cgroup, mount, state directory).
func TestShimKilled(t *testing.T) {
	d := startDaemon(t)
	d.LoadBusybox()
	id := strings.TrimSpace(d.Berth("run", "-d", "--network", "none", "--name", "victim", "busybox", "sleep", "1000"))
	// A neighbour that must not be disturbed.
	other := strings.TrimSpace(d.Berth("run", "-d", "--network", "none", "--name", "bystander", "busybox", "sleep", "1000"))
	pid := shimPid(d, id)
	if pid == 0 {
		t.Fatalf("no berth-shim found for %s", id)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "victim reported exited", func() bool {
		return d.Berth("ps", "-a", "--filter", "name=victim", "--format", "{{.State}}") == "exited\n"
	})
	var recs []struct {
		Status struct {
			State    string `json:"state"`
			ExitCode int    `json:"exitCode"`
			Error    string `json:"error"`
		} `json:"status"`
	}
	raw := d.Berth("container", "inspect", "victim")
	if err := json.Unmarshal([]byte(raw), &recs); err != nil || len(recs) != 1 {
		t.Fatalf("container inspect victim: %v\n%s", err, raw)
	}
	st := recs[0].Status
	if st.State != "exited" || st.ExitCode != 137 || !strings.Contains(st.Error, "shim died") {
		t.Fatalf("status after the shim was killed: %+v, want exited, code 137, an error saying the shim died", st)
	}
	status := d.Berth("ps", "-a", "--filter", "name=victim", "--format", "{{.Status}}")
	if !strings.HasPrefix(status, "Exited (137)") {
		t.Fatalf("ps status %q", status)
	}
	// The container's processes and cgroups did not outlive their shim.
	requireNoLeaksOf(d, t, id, false)
	if out := d.Berth("ps", "--format", "{{.Names}}"); out != "bystander\n" {
		t.Fatalf("running after the shim kill: %q, want only bystander", out)
	}
	// It can be started again (a new shim), and removed.
	d.Berth("start", "victim")
	if got := d.Berth("ps", "--filter", "name=victim", "--format", "{{.State}}"); got != "running\n" {
		t.Fatalf("victim after start: %q, want running", got)
	}
	d.Berth("rm", "-f", "victim")
	requireNoLeaksOf(d, t, id, true)
	d.Berth("rm", "-f", "bystander")
	requireNoLeaks(d, t, id, other)
}

// requireNoLeaksOf is requireNoLeaks for one container's host resources
// (cgroups, processes, firewall rules, and with state its bundle and shim
// directories and mounts), while other containers may still run.
func requireNoLeaksOf(d *daemon, t *testing.T, id string, state bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var left []string
		found := leaksOf(d, []string{id})
		if state {
			found = append(found, d.Leftovers()...)
		}
		for _, l := range found {
			if strings.Contains(l, id) {
				left = append(left, l)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind of %s:\n%s", id, strings.Join(left, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
