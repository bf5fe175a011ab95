package run

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/berth-containers/berth/internal/testutil"
)

// TestRunTerminal: run -it and exec -it give the container a pty of the
// local terminal's size (script(1) provides the local terminal).
func TestRunTerminal(t *testing.T) {
	script := testutil.LookPath(t, "script", "bsdutils")
	d := startDaemon(t)
	d.loadBusybox()
	berth := testutil.Binary(t, "berth") + " --address " + d.addr
	inPty := func(cmd string) string {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, script, "-qec", "stty cols 101 rows 31; "+cmd, "/dev/null").CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		return string(out)
	}
	if out := inPty(berth + ` run -it --rm --network none busybox sh -c "tty; stty size"`); !strings.Contains(out, "/dev/pts/0") || !strings.Contains(out, "31 101") {
		t.Fatalf("run -it: %q", out)
	}
	d.berth("run", "-d", "--network", "none", "--name", "ttyhost", "busybox", "sleep", "100")
	if out := inPty(berth + ` exec -it ttyhost sh -c "stty size"`); !strings.Contains(out, "31 101") {
		t.Fatalf("exec -it: %q", out)
	}
	d.berth("rm", "-f", "ttyhost")
	d.requireClean(t)
}
