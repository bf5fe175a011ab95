package images

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-containers/berth/internal/testimage"
	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/registry"
	"github.com/berth-containers/berth/registry/auth"
	"github.com/berth-containers/berth/registry/hosts"
)

// daemon is a berthd started by a test on its own root, state and socket.
type daemon struct {
	t      *testing.T
	root   string
	state  string
	addr   string
	config string
	cmd    *exec.Cmd
	log    *bytes.Buffer
	waited chan error
}

// newDaemon prepares (does not start) a daemon in a fresh temp dir; config
// is the TOML body of its configuration file.
func newDaemon(t *testing.T, config string) *daemon {
	t.Helper()
	testutil.Integration(t)
	dir := t.TempDir()
	d := &daemon{t: t, root: filepath.Join(dir, "root"), state: filepath.Join(dir, "state"), addr: filepath.Join(dir, "berthd.sock"), config: filepath.Join(dir, "config.toml")}
	if err := os.WriteFile(d.config, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// startDaemon starts a daemon and waits until it answers.
func startDaemon(t *testing.T, config string) *daemon {
	d := newDaemon(t, config)
	d.start()
	return d
}

func (d *daemon) start() {
	t := d.t
	t.Helper()
	d.log = &bytes.Buffer{}
	d.cmd = exec.Command(testutil.Binary(t, "berthd"), "--root", d.root, "--state", d.state, "--address", d.addr, "--config", d.config, "--log-level", "debug")
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.waited = make(chan error, 1)
	cmd, waited := d.cmd, d.waited
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() { d.stopProc(cmd, waited) })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, _, err := d.berthErr("version"); err == nil {
			return
		}
		select {
		case err := <-waited:
			waited <- err
			t.Fatalf("berthd exited at start: %v\n%s", err, d.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("berthd did not answer within 20s:\n%s", d.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *daemon) stopProc(cmd *exec.Cmd, waited chan error) {
	select {
	case err := <-waited:
		waited <- err
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-waited:
		waited <- err
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		err := <-waited
		waited <- err
	}
}

// stop sends SIGTERM and returns the exit error.
func (d *daemon) stop() error {
	d.t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.waited:
		d.waited <- err
		return err
	case <-time.After(15 * time.Second):
		d.t.Fatalf("berthd did not stop within 15s of SIGTERM:\n%s", d.log)
	}
	return nil
}

// kill sends SIGKILL and waits.
func (d *daemon) kill() {
	_ = d.cmd.Process.Kill()
	err := <-d.waited
	d.waited <- err
}

// berth runs the CLI against the daemon and fails the test on error.
func (d *daemon) berth(args ...string) string {
	d.t.Helper()
	out, errOut, err := d.berthErr(args...)
	if err != nil {
		d.t.Fatalf("berth %s: %v\nstdout:\n%s\nstderr:\n%s\ndaemon log (tail):\n%s", strings.Join(args, " "), err, out, errOut, tail(d.log.String(), 3000))
	}
	return out
}

func (d *daemon) berthErr(args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testutil.Binary(d.t, "berth"), append([]string{"--address", d.addr}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// leftovers lists the files under the daemon's content blobs and snapshot
// directories (the snapshotters' own bookkeeping databases aside).
func (d *daemon) leftovers() []string {
	var out []string
	for _, dir := range []string{filepath.Join(d.root, "content", "blobs"), filepath.Join(d.root, "content", "ingest"), filepath.Join(d.root, "snapshots")} {
		filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || e.Name() == "metadata.db" {
				return nil
			}
			out = append(out, p)
			return nil
		})
	}
	return out
}

// pushImage pushes img to ref through Berth's registry client.
func pushImage(t *testing.T, img *testimage.Image, ref, certsDir string, creds auth.CredentialStore) {
	t.Helper()
	r := registry.NewResolver(registry.Options{Hosts: hosts.Config{Dir: certsDir}, Credentials: creds})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := img.PushTo(ctx, r, ref); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

func busybox(t *testing.T) *testimage.Image {
	t.Helper()
	img, err := testimage.Busybox(testimage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Fatalf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}

var _ = fmt.Sprintf
