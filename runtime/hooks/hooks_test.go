package hooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRunGetsStateOnStdin(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	h := &specs.Hooks{Poststart: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + out + "; echo $FOO >> " + out}, Env: []string{"FOO=bar"}}}}
	st := &specs.State{Version: "1.3.0", ID: "hk", Status: specs.StateRunning, Pid: 7, Bundle: "/b"}
	if err := RunAll(h, Poststart, st); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), `"id":"hk"`) || !strings.Contains(string(b), `"pid":7`) || !strings.HasSuffix(string(b), "bar\n") {
		t.Fatalf("hook saw %q", b)
	}
}

func TestRunFailureAndTimeout(t *testing.T) {
	st := &specs.State{ID: "x"}
	err := RunAll(&specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo boom >&2; exit 3"}}}}, CreateRuntime, st)
	if err == nil || !strings.Contains(err.Error(), "hooks.createRuntime[0]") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("failing hook: %v", err)
	}
	one := 1
	start := time.Now()
	err = RunAll(&specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "30"}, Timeout: &one}}}, Prestart, st)
	if err == nil || !strings.Contains(err.Error(), "timed out") || time.Since(start) > 10*time.Second {
		t.Fatalf("timeout hook: %v after %v", err, time.Since(start))
	}
	if err := RunAll(&specs.Hooks{Poststop: []specs.Hook{{Path: "/nonexistent/hook"}}}, Poststop, st); err == nil {
		t.Fatal("missing hook binary ran")
	}
	if err := RunAll(nil, Poststop, st); err != nil {
		t.Fatal(err)
	}
}

func TestRunAllContinue(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	h := &specs.Hooks{Poststop: []specs.Hook{
		{Path: "/bin/false"},
		{Path: "/bin/sh", Args: []string{"sh", "-c", "echo second >> " + out}},
	}}
	err := RunAllContinue(h, Poststop, &specs.State{ID: "c"})
	if err == nil || !strings.Contains(err.Error(), "hooks.poststop[0]") {
		t.Fatalf("RunAllContinue error: %v", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "second\n" {
		t.Fatalf("the hook after the failing one did not run: %q", b)
	}
}
