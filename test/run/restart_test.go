package run

import (
	"syscall"
	"testing"
	"time"
)

// TestRestartPolicies: on-failure:N restarts N times, always restarts until
// stopped and then stays stopped, no never restarts.
func TestRestartPolicies(t *testing.T) {
	d := startDaemon(t)
	d.LoadBusybox()
	d.Berth("run", "-d", "--network", "none", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 1")
	d.Berth("run", "-d", "--network", "none", "--name", "never", "busybox", "sh", "-c", "exit 1")
	d.Berth("run", "-d", "--network", "none", "--name", "forever", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2; exit 0")
	waitFor(t, 20*time.Second, "flaky to give up", func() bool {
		c := d.Inspect(t, "flaky")
		return c.Status.State == "exited" && c.Status.RestartCount == 2
	})
	if got := d.Berth("logs", "flaky"); got != "run\nrun\nrun\n" {
		t.Fatalf("flaky ran: %q, want three runs", got)
	}
	if c := d.Inspect(t, "never"); c.Status.RestartCount != 0 || c.Status.State != "exited" {
		t.Fatalf("never: %+v", c.Status)
	}
	waitFor(t, 20*time.Second, "forever to restart twice", func() bool { return d.Inspect(t, "forever").Status.RestartCount >= 2 })
	d.Berth("stop", "-t", "0", "forever")
	time.Sleep(1500 * time.Millisecond)
	if c := d.Inspect(t, "forever"); c.Status.State != "exited" {
		t.Fatalf("forever after stop: %s", c.Status.State)
	}
	d.Berth("rm", "-f", "flaky", "never", "forever")
	d.RequireClean(t)
}

// TestLogsFollowEndsWithContainer: logs -f of an exited container prints
// what it wrote and returns; of a running one it follows until the exit.
// (rm -f in every state, with its leak checks, is in test/reliability.)
func TestLogsFollowEndsWithContainer(t *testing.T) {
	d := startDaemon(t)
	d.LoadBusybox()
	d.Berth("run", "-d", "--network", "none", "--name", "s-exited", "busybox", "true")
	waitFor(t, 10*time.Second, "s-exited to exit", func() bool { return d.States(t)["s-exited"] == "exited" })
	if out := d.Berth("logs", "-f", "s-exited"); out != "" {
		t.Fatalf("logs -f of a silent exited container: %q", out)
	}
	d.Berth("run", "-d", "--network", "none", "--name", "s-talker", "busybox", "sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done")
	if out := d.Berth("logs", "-f", "s-talker"); out != "1\n2\n3\n" {
		t.Fatalf("logs -f until exit: %q", out)
	}
	d.Berth("rm", "-f", "s-exited", "s-talker")
	if out := d.Berth("ps", "-aq"); out != "" {
		t.Fatalf("after rm -f: %q", out)
	}
	d.RequireClean(t)
}

// TestRestartPolicyAcrossDaemonRestart: an always-container whose process
// dies while berthd is down is running again after berthd restarts; an
// unless-stopped container stopped by hand stays stopped.
func TestRestartPolicyAcrossDaemonRestart(t *testing.T) {
	d := startDaemon(t)
	d.LoadBusybox()
	d.Berth("run", "-d", "--network", "none", "--name", "keeper", "--restart", "always", "busybox", "sleep", "1000")
	d.Berth("run", "-d", "--network", "none", "--name", "resting", "--restart", "unless-stopped", "busybox", "sleep", "1000")
	d.Berth("stop", "-t", "0", "resting")
	pid := d.Inspect(t, "keeper").Status.Pid
	if pid <= 0 {
		t.Fatalf("keeper pid %d", pid)
	}
	d.Kill()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	d.Start()
	waitFor(t, 20*time.Second, "keeper to run again", func() bool {
		c := d.Inspect(t, "keeper")
		return c.Status.State == "running" && c.Status.RestartCount >= 1 && c.Status.Pid != pid
	})
	if s := d.Inspect(t, "resting").Status.State; s != "exited" {
		t.Fatalf("resting after the daemon restart: %s", s)
	}
	d.Berth("rm", "-f", "keeper", "resting")
	d.RequireClean(t)
}
