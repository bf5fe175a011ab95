package run

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRuntimeHandlers: runc and crun are selectable with --runtime, and so
// is a handler named in the daemon's config; an unknown one is refused.
func TestRuntimeHandlers(t *testing.T) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Fatal("runc not installed (Debian package runc)")
	}
	if _, err := exec.LookPath("crun"); err != nil {
		t.Fatal("crun not installed (Debian package crun)")
	}
	d := startDaemonWith(t, "\n[runtimes.myrunc]\npath = \""+runc+"\"\n")
	d.LoadBusybox()
	for _, rt := range []string{"berth-runtime", "runc", "crun", "myrunc"} {
		if out := d.Berth("run", "--rm", "--network", "none", "--runtime", rt, "busybox", "echo", "hello from "+rt); out != "hello from "+rt+"\n" {
			t.Errorf("--runtime %s: %q", rt, out)
		}
	}
	id := strings.TrimSpace(d.Berth("run", "-d", "--network", "none", "--runtime", "myrunc", "busybox", "sleep", "100"))
	if c := d.Inspect(t, id); c.Runtime != "myrunc" {
		t.Fatalf("recorded runtime %q", c.Runtime)
	}
	if out := d.Berth("exec", id, "echo", "exec via myrunc"); out != "exec via myrunc\n" {
		t.Fatalf("exec: %q", out)
	}
	d.Berth("rm", "-f", id)
	d.RequireClean(t)
}
