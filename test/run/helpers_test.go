package run

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

// daemon is a berthd started by a test on its own directories.
type daemon struct {
	t      *testing.T
	dir    string
	root   string
	state  string
	addr   string
	config string
	mu     sync.Mutex
	cmd    *exec.Cmd
	log    *bytes.Buffer
	waited chan error
}

var bridgeSeq = struct {
	sync.Mutex
	n int
}{}

// startDaemon starts a berthd whose default network uses its own bridge
// and subnet (10.180.0.0-10.194.255.0, a band no other test package uses),
// so tests can run beside other daemons.
func startDaemon(t *testing.T) *daemon { t.Helper(); return startDaemonWith(t, "") }

// startDaemonWith starts a berthd with extra TOML appended to its config.
func startDaemonWith(t *testing.T, extra string) *daemon {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.Integration(t)
	dir := t.TempDir()
	bridgeSeq.Lock()
	bridgeSeq.n++
	n := bridgeSeq.n
	bridgeSeq.Unlock()
	pid := os.Getpid()
	cfg := fmt.Sprintf("[network]\ndefault_bridge = \"brr%d%d\"\ndefault_subnet = \"10.%d.%d.0/24\"\n", pid%100000, n, 180+(pid%15), n%250)
	d := &daemon{t: t, dir: dir, root: filepath.Join(dir, "root"), state: filepath.Join(dir, "state"), addr: filepath.Join(dir, "berthd.sock"), config: filepath.Join(dir, "config.toml")}
	if err := os.WriteFile(d.config, []byte(cfg+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	d.start()
	t.Cleanup(d.cleanup)
	return d
}

func (d *daemon) start() {
	t := d.t
	t.Helper()
	d.mu.Lock()
	d.log = &bytes.Buffer{}
	d.cmd = exec.Command(testutil.Binary(t, "berthd"), "--root", d.root, "--state", d.state, "--address", d.addr, "--config", d.config, "--log-level", "debug")
	d.cmd.Stdout, d.cmd.Stderr = &lockedWriter{b: d.log, mu: &d.mu}, &lockedWriter{b: d.log, mu: &d.mu}
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		d.mu.Unlock()
		t.Fatal(err)
	}
	d.waited = make(chan error, 1)
	cmd, waited := d.cmd, d.waited
	d.mu.Unlock()
	go func() { waited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, _, err := d.berthErr("version"); err == nil {
			return
		}
		select {
		case err := <-waited:
			waited <- err
			t.Fatalf("berthd exited at start: %v\n%s", err, d.logText())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("berthd did not answer within 30s:\n%s", d.logText())
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

func (d *daemon) logText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.log.String()
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s
}

// kill SIGKILLs berthd and waits for it.
func (d *daemon) kill() {
	_ = d.cmd.Process.Kill()
	err := <-d.waited
	d.waited <- err
}

// stop SIGTERMs berthd and waits for it.
func (d *daemon) stop() {
	select {
	case err := <-d.waited:
		d.waited <- err
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.waited:
		d.waited <- err
	case <-time.After(20 * time.Second):
		d.kill()
	}
}

// cleanup removes every container (through the daemon if it runs), then
// whatever a failed test left: shims, mounts, namespaces.
func (d *daemon) cleanup() {
	if d.running() {
		if out, _, err := d.berthErr("ps", "-aq", "--no-trunc"); err == nil {
			for _, id := range strings.Fields(out) {
				_, _, _ = d.berthErr("rm", "-f", id)
			}
		}
	}
	d.stop()
	dirs, _ := shimclient.List(filepath.Join(d.state, "shims"))
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
	rootfs, _ := filepath.Glob(filepath.Join(d.state, "containers", "*", "*", "rootfs"))
	for _, r := range rootfs {
		_ = mount.UnmountAll(r, syscall.MNT_DETACH)
	}
	_ = netns.Cleanup(d.state)
	_ = mount.UnmountAll(netns.Dir(d.state), syscall.MNT_DETACH)
	// The default network's bridge.
	if b, err := os.ReadFile(d.config); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "default_bridge") {
				name := strings.Trim(strings.TrimSpace(strings.SplitN(line, "=", 2)[1]), `"`)
				_ = exec.Command("ip", "link", "del", name).Run()
			}
		}
	}
}

func (d *daemon) running() bool {
	select {
	case err := <-d.waited:
		d.waited <- err
		return false
	default:
		return true
	}
}

// berth runs the CLI and fails the test on error.
func (d *daemon) berth(args ...string) string {
	d.t.Helper()
	out, errOut, err := d.berthErr(args...)
	if err != nil {
		d.t.Fatalf("berth %s: %v\nstdout:\n%s\nstderr:\n%s\ndaemon log (tail):\n%s", strings.Join(args, " "), err, out, errOut, d.logText())
	}
	return out
}

func (d *daemon) berthErr(args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testutil.Binary(d.t, "berth"), append([]string{"--address", d.addr}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// exitCode runs the CLI and returns its exit code and output.
func (d *daemon) exitCode(args ...string) (int, string, string) {
	out, errOut, err := d.berthErr(args...)
	if err == nil {
		return 0, out, errOut
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out, errOut
	}
	d.t.Fatalf("berth %s: %v", strings.Join(args, " "), err)
	return 0, "", ""
}

// loadBusybox puts a busybox image named busybox:latest into the daemon.
func (d *daemon) loadBusybox() {
	d.t.Helper()
	img, err := testimage.Busybox(testimage.Options{Docker: true})
	if err != nil {
		d.t.Fatal(err)
	}
	p := filepath.Join(d.dir, "busybox.tar")
	f, err := os.Create(p)
	if err != nil {
		d.t.Fatal(err)
	}
	if err := img.WriteDockerArchive(f, "busybox:latest"); err != nil {
		d.t.Fatal(err)
	}
	f.Close()
	d.berth("load", "-i", p)
	os.Remove(p)
}

// leftovers lists what the daemon's state holds for containers: bundles,
// shims, network namespaces, mounts under the test's directory.
func (d *daemon) leftovers() []string {
	var out []string
	for _, pat := range []string{"containers/*/*", "shims/*/*", "netns/*", "cni/attachments/*"} {
		m, _ := filepath.Glob(filepath.Join(d.state, pat))
		out = append(out, m...)
	}
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], d.dir+"/") && f[4] != netns.Dir(d.state) {
			out = append(out, "mount "+f[4])
		}
	}
	return out
}

func (d *daemon) requireClean(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := d.leftovers()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind:\n%s", strings.Join(left, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *daemon) inspect(t *testing.T, ref string) container.Container {
	t.Helper()
	var cs []container.Container
	if err := json.Unmarshal([]byte(d.berth("container", "inspect", ref)), &cs); err != nil || len(cs) != 1 {
		t.Fatalf("container inspect %s: %v (%d records)", ref, err, len(cs))
	}
	return cs[0]
}

func (d *daemon) states(t *testing.T) map[string]string {
	t.Helper()
	out := d.berth("ps", "-a", "--format", "{{.Names}} {{.State}}")
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			m[f[0]] = f[1]
		}
	}
	return m
}
