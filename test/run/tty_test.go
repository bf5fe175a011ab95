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
	d.LoadBusybox()
	berth := testutil.Binary(t, "berth") + " --address " + d.Addr
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
	d.Berth("run", "-d", "--network", "none", "--name", "ttyhost", "busybox", "sleep", "100")
	if out := inPty(berth + ` exec -it ttyhost sh -c "stty size"`); !strings.Contains(out, "31 101") {
		t.Fatalf("exec -it: %q", out)
	}
	// ctrl-p ctrl-q detaches; the container keeps running with its stdin open.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, "-qec", berth+" run -it --name detached --network none busybox sh", "/dev/null")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the container to run", func() bool { return d.States(t)["detached"] == "running" })
	time.Sleep(500 * time.Millisecond) // the local terminal is raw by now
	in.Write([]byte{0x10, 0x11})
	if err := cmd.Wait(); err != nil {
		t.Fatalf("berth run -it after ctrl-p ctrl-q: %v", err)
	}
	in.Close()
	time.Sleep(300 * time.Millisecond)
	if s := d.States(t)["detached"]; s != "running" {
		t.Fatalf("after detaching: %s, want running", s)
	}
	d.Berth("rm", "-f", "ttyhost", "detached")
	d.RequireClean(t)
}
