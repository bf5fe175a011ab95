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
	// ctrl-p ctrl-q detaches (or the keys of --detach-keys); the container
	// keeps running with its stdin open.
	detach := func(name, flags string, keys []byte) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, script, "-qec", berth+" run -it "+flags+" --name "+name+" --network none busybox sh", "/dev/null")
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, "the container to run", func() bool { return d.States(t)[name] == "running" })
		time.Sleep(500 * time.Millisecond) // the local terminal is raw by now
		in.Write(keys)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("berth run -it %s after the detach keys %q: %v", flags, keys, err)
		}
		in.Close()
		time.Sleep(300 * time.Millisecond)
		if s := d.States(t)[name]; s != "running" {
			t.Fatalf("%s after detaching: %s, want running", name, s)
		}
	}
	detach("detached", "", []byte{0x10, 0x11})
	detach("detached2", "--detach-keys ctrl-x,x", []byte{0x10, 0x18, 'x'})
	d.Berth("rm", "-f", "ttyhost", "detached", "detached2")
	d.RequireClean(t)
}
