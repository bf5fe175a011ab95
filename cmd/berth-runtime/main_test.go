package main

import (
	"encoding/json"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/runtime/container"
)

// rt runs berth-runtime against a private --root.
type rt struct {
	t    *testing.T
	bin  string
	root string
}

func newRT(t *testing.T) *rt {
	t.Helper()
	testutil.Integration(t)
	return &rt{t: t, bin: testutil.Binary(t, "berth-runtime"), root: t.TempDir()}
}

func (r *rt) cmd(args ...string) *exec.Cmd {
	return exec.Command(r.bin, append([]string{"--root", r.root}, args...)...)
}

// run returns stdout, stderr and the exit code.
func (r *rt) run(args ...string) (string, string, int) {
	r.t.Helper()
	c := r.cmd(args...)
	// Files, not pipes: a detached container keeps its stdio open, and a
	// pipe would make Wait block until the container exits.
	dir := r.t.TempDir()
	outF, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		r.t.Fatal(err)
	}
	defer outF.Close()
	errF, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		r.t.Fatal(err)
	}
	defer errF.Close()
	c.Stdout, c.Stderr = outF, errF
	err = c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatalf("run %v: %v", args, err)
	}
	out, _ := os.ReadFile(outF.Name())
	errb, _ := os.ReadFile(errF.Name())
	return string(out), string(errb), code
}

func (r *rt) ok(args ...string) string {
	r.t.Helper()
	out, errs, code := r.run(args...)
	if code != 0 {
		r.t.Fatalf("berth-runtime %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

func (r *rt) state(id string) container.Info {
	r.t.Helper()
	var info container.Info
	if err := json.Unmarshal([]byte(r.ok("state", id)), &info); err != nil {
		r.t.Fatalf("state %s: %v", id, err)
	}
	return info
}

// cleanup force-deletes id at the end of the test, whatever happened.
func (r *rt) cleanup(id string) {
	r.t.Cleanup(func() { _, _, _ = r.run("delete", "--force", id) })
}

func waitStatus(t *testing.T, r *rt, id, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st := r.state(id); st.Status == want {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("container %s: status %s, want %s", id, st.Status, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]int{"KILL": 9, "SIGKILL": 9, "kill": 9, "9": 9, "TERM": 15, "SIGUSR1": 10, "HUP": 1,
		"RTMIN": 34, "SIGRTMIN+3": 37, "RTMAX": 64, "RTMAX-1": 63, "WINCH": 28} {
		got, err := parseSignal(in)
		if err != nil || int(got) != want {
			t.Errorf("parseSignal(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "NOPE", "0", "65", "-1", "RTMIN+40", "SIGRTMINX"} {
		if _, err := parseSignal(bad); err == nil {
			t.Errorf("parseSignal(%q) accepted", bad)
		}
	}
}

func TestParseInterleaved(t *testing.T) {
	fs := newFlags("delete")
	force := fs.Bool("force", false, "")
	pos, err := parseInterleaved(fs, []string{"a", "--force", "b"})
	if err != nil || !*force || len(pos) != 2 || pos[0] != "a" || pos[1] != "b" {
		t.Fatalf("interleaved: %v %v %v", pos, *force, err)
	}
	fs = newFlags("kill")
	all := fs.Bool("all", false, "")
	pos, err = parseInterleaved(fs, []string{"--all", "id", "--", "-9"})
	if err != nil || !*all || len(pos) != 2 || pos[1] != "-9" {
		t.Fatalf("dashes: %v %v %v", pos, *all, err)
	}
	if _, err := parseInterleaved(newFlags("x"), []string{"--nope"}); err == nil {
		t.Fatal("unknown flag accepted")
	}
	fs = newFlags("exec")
	fs.Bool("tty", false, "")
	pos, err = parseLeading(fs, []string{"--tty", "id", "ls", "--tty"})
	if err != nil || strings.Join(pos, " ") != "id ls --tty" {
		t.Fatalf("leading: %v %v", pos, err)
	}
}

func TestRootlessFlag(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var r rootlessFlag
	fs.Var(&r, "rootless", "")
	if err := fs.Parse([]string{"--rootless", "create"}); err != nil || r.v != "true" || fs.Arg(0) != "create" {
		t.Fatalf("--rootless alone: %q %v", r.v, err)
	}
	if err := fs.Parse([]string{"--rootless=false"}); err != nil || r.enabled() {
		t.Fatalf("--rootless=false: %v", err)
	}
	if err := fs.Parse([]string{"--rootless=maybe"}); err == nil {
		t.Fatal("--rootless=maybe accepted")
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"-1": -1, "1024": 1024, "100k": 100 << 10, "512m": 512 << 20, "2g": 2 << 30, "1GiB": 1 << 30, "3MB": 3 << 20} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-5", "1q", "99999999999999999999t"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

func TestBuildResources(t *testing.T) {
	file := filepath.Join(t.TempDir(), "r.json")
	os.WriteFile(file, []byte(`{"memory":{"limit":1000},"pids":{"limit":5}}`), 0o644)
	r, err := buildResources(file, map[string]string{"cpu-shares": "512", "pids-limit": "10", "memory": "1m"})
	if err != nil {
		t.Fatal(err)
	}
	if *r.CPU.Shares != 512 || *r.Pids.Limit != 10 || *r.Memory.Limit != 1<<20 {
		t.Fatalf("resources %+v", r)
	}
	if _, err := buildResources("", map[string]string{"cpu-shares": "-3"}); err == nil || !strings.Contains(err.Error(), "--cpu-shares") {
		t.Fatalf("bad cpu-shares: %v", err)
	}
	if _, err := buildResources(file+"x", nil); err == nil {
		t.Fatal("missing --resources file accepted")
	}
}

func TestParseProcess(t *testing.T) {
	p, err := parseProcess([]byte(`{"args":["ls","-l"],"cwd":"/","user":{"uid":1,"gid":2}}`))
	if err != nil || p.Args[1] != "-l" || p.User.GID != 2 {
		t.Fatalf("parseProcess = %+v, %v", p, err)
	}
	for _, bad := range []string{``, `{`, `{"args":[]}`, `{"args":"ls"}`, `{"args":["a"]} {}`} {
		if _, err := parseProcess([]byte(bad)); err == nil {
			t.Errorf("parseProcess(%q) accepted", bad)
		}
	}
}

func FuzzParseProcess(f *testing.F) {
	f.Add([]byte(`{"args":["sh"],"env":["A=b"],"cwd":"/","terminal":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parseProcess(data)
		if err == nil && len(p.Args) == 0 && p.CommandLine == "" {
			t.Fatal("accepted a process without args")
		}
	})
}

func FuzzParseSignal(f *testing.F) {
	f.Add("SIGRTMIN+2")
	f.Fuzz(func(t *testing.T, s string) {
		if sig, err := parseSignal(s); err == nil && (sig <= 0 || sig > 64) {
			t.Fatalf("parseSignal(%q) = %d", s, sig)
		}
	})
}

func TestVersionAndUsage(t *testing.T) {
	r := newRT(t)
	out := r.ok("--version")
	if !strings.HasPrefix(out, "berth-runtime version ") || !strings.Contains(out, "\nspec: 1.3.0") {
		t.Fatalf("--version: %q", out)
	}
	if _, errs, code := r.run("frobnicate"); code == 0 || !strings.Contains(errs, "unknown command") {
		t.Fatalf("unknown command: %d %q", code, errs)
	}
	var feat map[string]any
	if err := json.Unmarshal([]byte(r.ok("features")), &feat); err != nil || feat["ociVersionMax"] != "1.3.0" {
		t.Fatalf("features: %v %v", feat, err)
	}
}
