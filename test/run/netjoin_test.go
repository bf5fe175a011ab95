package run

import (
	"strings"
	"testing"
	"time"
)

// TestNetworkContainerMode: --network container:NAME joins a running
// container's namespace; a stopped or unknown one is refused.
func TestNetworkContainerMode(t *testing.T) {
	d := startDaemon(t)
	d.LoadBusybox()
	d.Berth("run", "-d", "--name", "host1", "--network", "none", "busybox", "sh", "-c", "echo up > /tmp/i && exec httpd -f -p 8099 -h /tmp")
	waitFor(t, 10*time.Second, "httpd in host1", func() bool {
		out, _, err := d.BerthErr("run", "--rm", "--network", "container:host1", "busybox", "wget", "-q", "-O-", "http://127.0.0.1:8099/i")
		return err == nil && out == "up\n"
	})
	d.Berth("stop", "-t", "0", "host1")
	if code, _, errOut := d.ExitCode("run", "--rm", "--network", "container:host1", "busybox", "true"); code == 0 || !strings.Contains(errOut, "non running container") {
		t.Fatalf("join a stopped container: code %d, %q", code, errOut)
	}
	if code, _, errOut := d.ExitCode("run", "--rm", "--network", "container:nope", "busybox", "true"); code == 0 || !strings.Contains(errOut, "nope") {
		t.Fatalf("join an unknown container: code %d, %q", code, errOut)
	}
	d.Berth("rm", "-f", "host1")
	if out := d.Berth("ps", "-aq"); out != "" {
		t.Fatalf("left: %q", out)
	}
	d.RequireClean(t)
}
