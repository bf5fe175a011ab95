// Package berthdtest runs a real berthd for end-to-end tests: started on its
// own root, state, socket and default bridge, driven through the berth CLI,
// killed or stopped on demand, and cleaned up (containers, shims, mounts,
// network namespaces, bridge) when the test ends, failures included. It is
// imported only from _test.go files.
package berthdtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-containers/berth/container"
	"github.com/berth-containers/berth/internal/testimage"
	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/mount"
	"github.com/berth-containers/berth/network/netns"
	shimclient "github.com/berth-containers/berth/shim/client"
)

// Options choose what makes one test package's daemons distinct from
// another's, so packages can run their tests side by side.
type Options struct {
	// BridgePrefix starts the default bridge's name ("brr", "brt").
	BridgePrefix string
	// SubnetBase and SubnetSpan pick the default subnet's second octet:
	// 10.(SubnetBase + pid%SubnetSpan).n.0/24.
	SubnetBase, SubnetSpan int
	// ExtraConfig is TOML appended to berthd's config.
	ExtraConfig string
	// Env is added to berthd's environment (e.g. a PATH that puts a
	// wrapped runtime first).
	Env []string
}

var bridgeSeq = struct {
	sync.Mutex
	n int
}{}

// Start starts a berthd whose default network uses its own bridge and
// subnet, and registers its cleanup with t.
func Start(t *testing.T, o Options) *Daemon {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.Integration(t)
	dir := t.TempDir()
	bridgeSeq.Lock()
	bridgeSeq.n++
	n := bridgeSeq.n
	bridgeSeq.Unlock()
	pid := os.Getpid()
	bridge := fmt.Sprintf("%s%d%d", o.BridgePrefix, pid%100000, n)
	cfg := fmt.Sprintf("[network]\ndefault_bridge = %q\ndefault_subnet = \"10.%d.%d.0/24\"\n", bridge, o.SubnetBase+(pid%o.SubnetSpan), n%250)
	d := &Daemon{t: t, env: o.Env, Bridge: bridge, Dir: dir, Root: filepath.Join(dir, "root"), State: filepath.Join(dir, "state"), Addr: filepath.Join(dir, "berthd.sock"), Config: filepath.Join(dir, "config.toml")}
	if err := os.WriteFile(d.Config, []byte(cfg+o.ExtraConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Start()
	t.Cleanup(d.Cleanup)
	return d
}

// Daemon is a berthd started by a test on its own directories.
type Daemon struct {
	t      *testing.T
	Dir    string // the test's directory: root, state, socket, config
	Root   string
	State  string
	Addr   string
	Config string
	Bridge string // the default network's bridge
	mu     sync.Mutex
	Cmd    *exec.Cmd
	log    *bytes.Buffer
	waited chan error
	env    []string
}

// Start (re)starts berthd on the daemon's directories and waits until it answers.
func (d *Daemon) Start() {
	t := d.t
	t.Helper()
	d.mu.Lock()
	d.log = &bytes.Buffer{}
	d.Cmd = exec.Command(testutil.Binary(t, "berthd"), "--root", d.Root, "--state", d.State, "--address", d.Addr, "--config", d.Config, "--log-level", "debug")
	d.Cmd.Stdout, d.Cmd.Stderr = &lockedWriter{b: d.log, mu: &d.mu}, &lockedWriter{b: d.log, mu: &d.mu}
	d.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if len(d.env) > 0 {
		d.Cmd.Env = append(os.Environ(), d.env...)
	}
	if err := d.Cmd.Start(); err != nil {
		d.mu.Unlock()
		t.Fatal(err)
	}
	d.waited = make(chan error, 1)
	cmd, waited := d.Cmd, d.waited
	d.mu.Unlock()
	go func() { waited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, _, err := d.BerthErr("version"); err == nil {
			return
		}
		select {
		case err := <-waited:
			waited <- err
			t.Fatalf("berthd exited at start: %v\n%s", err, d.LogText())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("berthd did not answer within 30s:\n%s", d.LogText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// LogText is the tail of berthd's log, for failure messages.
func (d *Daemon) LogText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.log.String()
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s
}

// Kill SIGKILLs berthd and waits for it.
func (d *Daemon) Kill() {
	_ = d.Cmd.Process.Kill()
	err := <-d.waited
	d.waited <- err
}

// Stop SIGTERMs berthd and waits for it.
func (d *Daemon) Stop() {
	select {
	case err := <-d.waited:
		d.waited <- err
		return
	default:
	}
	_ = d.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.waited:
		d.waited <- err
	case <-time.After(20 * time.Second):
		d.Kill()
	}
}

// Cleanup removes every container (through the daemon if it runs), then
// whatever a failed test left: shims, mounts, namespaces.
func (d *Daemon) Cleanup() {
	if d.Running() {
		if out, _, err := d.BerthErr("ps", "-aq", "--no-trunc"); err == nil {
			for _, id := range strings.Fields(out) {
				_, _, _ = d.BerthErr("rm", "-f", id)
			}
		}
	}
	d.Stop()
	dirs, _ := shimclient.List(filepath.Join(d.State, "shims"))
	for _, dir := range dirs {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if c, err := shimclient.Connect(ctx, dir); err == nil {
			_ = c.Kill(ctx, "", syscall.SIGKILL, true)
			_, _ = c.Wait(ctx, "")
			if _, err := c.Delete(ctx, ""); err != nil {
				_ = c.Shutdown(ctx)
			}
		} else {
			_, _ = shimclient.Recover(ctx, dir)
		}
		cancel()
	}
	rootfs, _ := filepath.Glob(filepath.Join(d.State, "containers", "*", "*", "rootfs"))
	for _, r := range rootfs {
		_ = mount.UnmountAll(r, syscall.MNT_DETACH)
	}
	_ = netns.Cleanup(d.State)
	_ = mount.UnmountAll(netns.Dir(d.State), syscall.MNT_DETACH)
	_ = exec.Command("ip", "link", "del", d.Bridge).Run()
}

// Pid is berthd's pid while it runs, else -1.
func (d *Daemon) Pid() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Cmd != nil && d.Cmd.Process != nil && d.Running() {
		return d.Cmd.Process.Pid
	}
	return -1
}

// Running reports whether berthd has not exited.
func (d *Daemon) Running() bool {
	select {
	case err := <-d.waited:
		d.waited <- err
		return false
	default:
		return true
	}
}

// Berth runs the CLI and fails the test on error.
func (d *Daemon) Berth(args ...string) string {
	d.t.Helper()
	out, errOut, err := d.BerthErr(args...)
	if err != nil {
		d.t.Fatalf("berth %s: %v\nstdout:\n%s\nstderr:\n%s\ndaemon log (tail):\n%s", strings.Join(args, " "), err, out, errOut, d.LogText())
	}
	return out
}

// BerthErr runs the CLI and returns its stdout, stderr and error.
func (d *Daemon) BerthErr(args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testutil.Binary(d.t, "berth"), append([]string{"--address", d.Addr}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// ExitCode runs the CLI and returns its exit code and output.
func (d *Daemon) ExitCode(args ...string) (int, string, string) {
	out, errOut, err := d.BerthErr(args...)
	if err == nil {
		return 0, out, errOut
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out, errOut
	}
	d.t.Fatalf("berth %s: %v", strings.Join(args, " "), err)
	return 0, "", ""
}

// LoadBusybox puts a busybox image named busybox:latest into the daemon.
func (d *Daemon) LoadBusybox() {
	d.t.Helper()
	img, err := testimage.Busybox(testimage.Options{Docker: true})
	if err != nil {
		d.t.Fatal(err)
	}
	p := filepath.Join(d.Dir, "busybox.tar")
	f, err := os.Create(p)
	if err != nil {
		d.t.Fatal(err)
	}
	if err := img.WriteDockerArchive(f, "busybox:latest"); err != nil {
		d.t.Fatal(err)
	}
	f.Close()
	d.Berth("load", "-i", p)
	os.Remove(p)
}

// Leftovers lists what the daemon's state holds for containers: bundles,
// shims, network namespaces, mounts under the test's directory.
func (d *Daemon) Leftovers() []string {
	var out []string
	for _, pat := range []string{"containers/*/*", "shims/*/*", "netns/*", "cni/attachments/*"} {
		m, _ := filepath.Glob(filepath.Join(d.State, pat))
		out = append(out, m...)
	}
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], d.Dir+"/") && f[4] != netns.Dir(d.State) {
			out = append(out, "mount "+f[4])
		}
	}
	return out
}

// RequireClean fails t unless Leftovers empties within 10 seconds.
func (d *Daemon) RequireClean(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := d.Leftovers()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind:\n%s", strings.Join(left, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitFor polls cond for up to d.
func WaitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Inspect returns the container record `berth container inspect` prints.
func (d *Daemon) Inspect(t *testing.T, ref string) container.Container {
	t.Helper()
	var cs []container.Container
	if err := json.Unmarshal([]byte(d.Berth("container", "inspect", ref)), &cs); err != nil || len(cs) != 1 {
		t.Fatalf("container inspect %s: %v (%d records)", ref, err, len(cs))
	}
	return cs[0]
}

// States maps container names to their states, from `berth ps -a`.
func (d *Daemon) States(t *testing.T) map[string]string {
	t.Helper()
	out := d.Berth("ps", "-a", "--format", "{{.Names}} {{.State}}")
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			m[f[0]] = f[1]
		}
	}
	return m
}
