package runtimee2e

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/testutil"
)

// One regression test per known container-escape class. Each asserts that the host
// is untouched; where the runtime may either refuse or contain the attempt, both are
// accepted, and what it did is logged.

// container is a detached container of a test, deleted at cleanup.
type container struct {
	rt, root, id, bundle string
	out                  string // file holding the container's stdout and stderr
}

func runDetached(t *testing.T, rt, bundle string) (*container, result) {
	t.Helper()
	c := &container{rt: rt, root: filepath.Join(t.TempDir(), "state"), id: uniq("sec-"), bundle: bundle}
	c.out = filepath.Join(t.TempDir(), "container.out")
	f, err := os.Create(c.out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	t.Cleanup(func() {
		run(t, 30*time.Second, nil, rt, "--root", c.root, "delete", "--force", c.id)
		leftoverCheck(t, c.id, bundle, c.root)
	})
	cmd := exec.Command(rt, "--root", c.root, "run", "--detach", "--bundle", bundle, c.id)
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	r := result{err: err}
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
	}
	b, _ := os.ReadFile(c.out)
	r.stderr = string(b)
	return c, r
}

func (c *container) output() string {
	b, _ := os.ReadFile(c.out)
	return string(b)
}

func (c *container) waitStopped(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if st := state(t, c.rt, c.root, c.id); st.Status == specs.StateStopped {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("container %s did not stop within %s; output:\n%s", c.id, timeout, c.output())
}

func fileHash(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestSecurityRuntimeBinaryOverwrite (CVE-2019-5736): while `exec` enters the
// container, the container watches /proc for the runtime's process, holds its
// executable and tries to open it for writing (also after the process exited), and
// runs a `#!/proc/self/exe` script through exec. The runtime binary on the host must be
// unchanged and no write may succeed.
func TestSecurityRuntimeBinaryOverwrite(t *testing.T) {
	testutil.Integration(t)
	t.Parallel()
	// A private copy of the runtime: were the attack to succeed, only the copy is hurt.
	orig := berthRuntime(t)
	rt := filepath.Join(t.TempDir(), "berth-runtime")
	b, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rt, b, 0o755); err != nil {
		t.Fatal(err)
	}
	before := fileHash(t, rt)
	bundle := testutil.Bundle(t, nil, "/berthprobe", "hunt", "6")
	rootfs := filepath.Join(bundle, "rootfs")
	installProbe(t, rootfs)
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "evil"), []byte("#!/proc/self/exe\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, r := runDetached(t, rt, bundle)
	if r.code != 0 {
		t.Fatalf("run --detach: %s", r)
	}
	// Enter the container again and again while the probe hunts.
	var execs, evils int
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		if r := run(t, 30*time.Second, nil, rt, "--root", c.root, "exec", c.id, "/bin/true"); r.code == 0 {
			execs++
		}
		if r := run(t, 30*time.Second, nil, rt, "--root", c.root, "exec", c.id, "/bin/evil"); r.code == 0 {
			evils++
		}
	}
	c.waitStopped(t, 20*time.Second)
	out := c.output()
	t.Logf("%d execs of /bin/true succeeded, %d of the #!/proc/self/exe script; probe:\n%s", execs, evils, tail(out, 2000))
	if execs == 0 {
		t.Fatalf("no exec into the container succeeded: the test exercised nothing")
	}
	if !strings.Contains(out, "hunt done") {
		t.Fatalf("the probe did not run to its end:\n%s", out)
	}
	if strings.Contains(out, "WROTE") {
		t.Errorf("the container wrote to the runtime's executable:\n%s", out)
	}
	if fileHash(t, rt) != before {
		t.Fatalf("the runtime binary on the host was modified (CVE-2019-5736)")
	}
	if fileHash(t, orig) != sha256.Sum256(b) {
		t.Fatalf("the installed runtime binary was modified")
	}
}

// TestSecurityLeakedFDs (CVE-2024-21626): the container's process gets no fd of the
// runtime beyond stdio (and what --preserve-fds passes), both for the init and exec.
func TestSecurityLeakedFDs(t *testing.T) {
	testutil.Integration(t)
	t.Parallel()
	rt := berthRuntime(t)

	t.Run("init", func(t *testing.T) {
		t.Parallel()
		bundle := testutil.Bundle(t, nil, "/berthprobe", "fds")
		installProbe(t, filepath.Join(bundle, "rootfs"))
		root := filepath.Join(t.TempDir(), "state")
		id := uniq("fds-")
		t.Cleanup(func() { run(t, 30*time.Second, nil, rt, "--root", root, "delete", "--force", id) })
		r := run(t, time.Minute, nil, rt, "--root", root, "run", "--bundle", bundle, id)
		if r.code != 0 || !strings.Contains(r.stdout, "fds done") {
			t.Fatalf("run: %s", r)
		}
		if strings.Contains(r.stdout, "fd ") {
			t.Errorf("fds beyond stdio reached the container's init:\n%s", r.stdout)
		}
		leftoverCheck(t, id, bundle, root)
	})

	t.Run("preserve-fds", func(t *testing.T) {
		t.Parallel()
		bundle := testutil.Bundle(t, nil, "/berthprobe", "fds")
		installProbe(t, filepath.Join(bundle, "rootfs"))
		root := filepath.Join(t.TempDir(), "state")
		id := uniq("fds-")
		t.Cleanup(func() { run(t, 30*time.Second, nil, rt, "--root", root, "delete", "--force", id) })
		passed := filepath.Join(t.TempDir(), "passed-on-purpose")
		os.WriteFile(passed, []byte("x"), 0o644)
		pf, err := os.Open(passed)
		if err != nil {
			t.Fatal(err)
		}
		defer pf.Close()
		var out bytes.Buffer
		outF := filepath.Join(t.TempDir(), "out")
		of, _ := os.Create(outF)
		cmd := exec.Command(rt, "--root", root, "run", "--preserve-fds", "1", "--bundle", bundle, id)
		cmd.Stdout, cmd.Stderr = of, of
		cmd.ExtraFiles = []*os.File{pf}
		err = cmd.Run()
		of.Close()
		b, _ := os.ReadFile(outF)
		out.Write(b)
		if err != nil {
			t.Fatalf("run --preserve-fds 1: %v\n%s", err, out.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 2 || lines[0] != "fd 3 -> "+passed || lines[1] != "fds done" {
			t.Errorf("want exactly fd 3 (the preserved file), got:\n%s", out.String())
		}
	})

	t.Run("exec", func(t *testing.T) {
		t.Parallel()
		bundle := testutil.Bundle(t, nil, "/bin/sleep", "30")
		installProbe(t, filepath.Join(bundle, "rootfs"))
		c, r := runDetached(t, rt, bundle)
		if r.code != 0 {
			t.Fatalf("run --detach: %s", r)
		}
		r = run(t, time.Minute, nil, rt, "--root", c.root, "exec", c.id, "/berthprobe", "fds")
		if r.code != 0 || !strings.Contains(r.stdout, "fds done") {
			t.Fatalf("exec: %s", r)
		}
		if strings.Contains(r.stdout, "fd ") {
			t.Errorf("fds beyond stdio reached the exec'd process:\n%s", r.stdout)
		}
	})
}

// TestSecurityCwdOutsideRoot (CVE-2024-21626): process.cwd (or exec --cwd) naming
// /proc/self/fd/N must not leave the process in a host directory: either the runtime
// refuses, or `cd ../../..` from there ends at the container's own root.
func TestSecurityCwdOutsideRoot(t *testing.T) {
	testutil.Integration(t)
	t.Parallel()
	rt := berthRuntime(t)
	const script = "cd ../../../../../../../../..; ls /; echo ===; ls"
	check := func(t *testing.T, what string, r result) {
		t.Helper()
		if r.code != 0 {
			if strings.TrimSpace(r.stderr) == "" {
				t.Errorf("%s: refused without a message: %s", what, r)
			}
			return
		}
		// The process ran: the directory it reached must be the container's root.
		parts := strings.SplitN(r.stdout, "===", 2)
		if len(parts) != 2 || !strings.Contains(parts[1], "CONTAINER-ROOT-MARKER") {
			t.Errorf("%s: the process's cwd led outside the container's root:\n%s", what, r)
		}
	}
	for fd := 3; fd <= 9; fd++ {
		fd := fd
		t.Run(fmt.Sprintf("process.cwd=/proc/self/fd/%d", fd), func(t *testing.T) {
			t.Parallel()
			bundle := testutil.Bundle(t, func(s *specs.Spec) { s.Process.Cwd = fmt.Sprintf("/proc/self/fd/%d", fd) }, "/bin/sh", "-c", script)
			os.WriteFile(filepath.Join(bundle, "rootfs", "CONTAINER-ROOT-MARKER"), nil, 0o644)
			root := filepath.Join(t.TempDir(), "state")
			id := uniq("cwd-")
			t.Cleanup(func() { run(t, 30*time.Second, nil, rt, "--root", root, "delete", "--force", id) })
			r := run(t, time.Minute, nil, rt, "--root", root, "run", "--bundle", bundle, id)
			check(t, "run", r)
			leftoverCheck(t, id, bundle, root)
		})
	}
	t.Run("exec --cwd", func(t *testing.T) {
		t.Parallel()
		bundle := testutil.Bundle(t, nil, "/bin/sleep", "30")
		os.WriteFile(filepath.Join(bundle, "rootfs", "CONTAINER-ROOT-MARKER"), nil, 0o644)
		c, r := runDetached(t, rt, bundle)
		if r.code != 0 {
			t.Fatalf("run --detach: %s", r)
		}
		for fd := 3; fd <= 9; fd++ {
			r := run(t, time.Minute, nil, rt, "--root", c.root, "exec", "--cwd", fmt.Sprintf("/proc/self/fd/%d", fd), c.id, "/bin/sh", "-c", script)
			check(t, fmt.Sprintf("exec --cwd /proc/self/fd/%d", fd), r)
		}
	})
}

// TestSecurityMountThroughSymlink (CVE-2021-30465 class): mount destinations that go
// through symlinks in the rootfs pointing outside it (absolute, and ../ chains) are
// resolved inside the root: nothing is created or mounted on the host path.
func TestSecurityMountThroughSymlink(t *testing.T) {
	testutil.Integration(t)
	t.Parallel()
	rt := berthRuntime(t)
	hostDir := filepath.Join(t.TempDir(), "host-target")
	if err := os.MkdirAll(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(hostDir, "marker"), []byte("host"), 0o644)
	hostDir2 := filepath.Join(t.TempDir(), "host-target-2")
	if err := os.MkdirAll(hostDir2, 0o755); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "from-source"), []byte("SOURCE-CONTENT"), 0o644)
	fi0, _ := os.Stat(hostDir)
	fi02, _ := os.Stat(hostDir2)

	bundle := testutil.Bundle(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/escape-abs/x", Type: "tmpfs", Source: "tmpfs"},
			specs.Mount{Destination: "/escape-rel/y", Type: "bind", Source: src, Options: []string{"rbind", "ro"}},
			specs.Mount{Destination: "/escape-dir", Type: "tmpfs", Source: "tmpfs"},
		)
	}, "/bin/sh", "-c", "cat /escape-rel/y/from-source; echo; ls /escape-abs /escape-dir; grep host-target /proc/self/mountinfo")
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.Symlink(hostDir, filepath.Join(rootfs, "escape-abs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(strings.Repeat("../", 12)+strings.TrimPrefix(hostDir, "/"), filepath.Join(rootfs, "escape-rel")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(hostDir2, filepath.Join(rootfs, "escape-dir")); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "state")
	id := uniq("mnt-")
	t.Cleanup(func() { run(t, 30*time.Second, nil, rt, "--root", root, "delete", "--force", id) })
	r := run(t, time.Minute, nil, rt, "--root", root, "run", "--bundle", bundle, id)
	t.Logf("run: %s", r)
	if r.code == 0 && !strings.Contains(r.stdout, "SOURCE-CONTENT") {
		t.Errorf("the container ran, but the bind mount is not where the in-root resolution puts it:\n%s", r)
	}
	if r.code != 0 && strings.TrimSpace(r.stderr) == "" {
		t.Errorf("refused without a message: %s", r)
	}
	ents, _ := os.ReadDir(hostDir)
	if len(ents) != 1 || ents[0].Name() != "marker" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("the host directory behind the symlinks was changed: %v", names)
	}
	if fi1, _ := os.Stat(hostDir); !fi1.ModTime().Equal(fi0.ModTime()) {
		t.Errorf("the host directory behind the symlinks was modified (mtime changed)")
	}
	if fi1, _ := os.Stat(hostDir2); !fi1.ModTime().Equal(fi02.ModTime()) {
		t.Errorf("the host directory behind /escape-dir was modified (mtime changed)")
	}
	if ents, _ := os.ReadDir(hostDir2); len(ents) != 0 {
		t.Errorf("the host directory behind /escape-dir is no longer empty")
	}
	if m := mountsUnder(hostDir, hostDir2, src); len(m) > 0 {
		t.Errorf("mounts on the host path: %v", m)
		unmountUnder(hostDir, hostDir2, src)
	}
	leftoverCheck(t, id, bundle, root)
}

// TestSecurityMaskedPathDevNull: masking binds /dev/null over the masked paths; a
// rootfs whose /dev/null is a symlink to a host sysctl, or a regular file, must not
// make a masked path a window on something else.
func TestSecurityMaskedPathDevNull(t *testing.T) {
	testutil.Integration(t)
	rt := berthRuntime(t)
	const sysctl = "/proc/sys/kernel/printk_ratelimit_burst"
	orig, err := os.ReadFile(sysctl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if now, _ := os.ReadFile(sysctl); !bytes.Equal(now, orig) {
			os.WriteFile(sysctl, orig, 0o644)
		}
	})
	for _, variant := range []string{"symlink-to-sysctl", "regular-file"} {
		t.Run(variant, func(t *testing.T) {
			bundle := testutil.Bundle(t, func(s *specs.Spec) {
				// No tmpfs on /dev: the rootfs's own /dev is used (as some images ship it).
				var ms []specs.Mount
				for _, m := range s.Mounts {
					if m.Destination != "/dev" {
						ms = append(ms, m)
					}
				}
				s.Mounts = ms
				s.Linux.MaskedPaths = []string{"/proc/kcore", "/proc/timer_list"}
			}, "/bin/sh", "-c", "echo 77 > /proc/kcore; echo 77 > /proc/timer_list; echo [$(cat /proc/kcore)] [$(cat /proc/timer_list)]")
			devNull := filepath.Join(bundle, "rootfs", "dev", "null")
			switch variant {
			case "symlink-to-sysctl":
				if err := os.Symlink(sysctl, devNull); err != nil {
					t.Fatal(err)
				}
			case "regular-file":
				if err := os.WriteFile(devNull, []byte("FAKE-DEV-NULL"), 0o666); err != nil {
					t.Fatal(err)
				}
			}
			root := filepath.Join(t.TempDir(), "state")
			id := uniq("mask-")
			t.Cleanup(func() { run(t, 30*time.Second, nil, rt, "--root", root, "delete", "--force", id) })
			r := run(t, time.Minute, nil, rt, "--root", root, "run", "--bundle", bundle, id)
			t.Logf("run: %s", r)
			if now, _ := os.ReadFile(sysctl); !bytes.Equal(now, orig) {
				t.Fatalf("the host's %s was changed through a masked path: %q -> %q", sysctl, orig, now)
			}
			if r.code == 0 && !strings.Contains(r.stdout, "[] []") {
				t.Errorf("masked paths are not empty (fake /dev/null used?): %s", r)
			}
			if r.code != 0 && strings.TrimSpace(r.stderr) == "" {
				t.Errorf("refused without a message: %s", r)
			}
			leftoverCheck(t, id, bundle, root)
		})
	}
}

// TestSecurityProcRedirect (CVE-2019-16884 class): a rootfs whose /proc is a symlink,
// or a tmpfs mounted over /proc, must not redirect the runtime's writes to procfs
// (oom_score_adj, sysctls): they reach the real procfs, or the runtime refuses.
func TestSecurityProcRedirect(t *testing.T) {
	testutil.Integration(t)
	t.Parallel()
	rt := berthRuntime(t)
	nsenter := testutil.LookPath(t, "nsenter", "util-linux")
	variants := map[string]struct {
		edit   func(*specs.Spec)
		rootfs func(t *testing.T, rootfs string)
	}{
		"proc-is-symlink": {
			rootfs: func(t *testing.T, rootfs string) {
				os.RemoveAll(filepath.Join(rootfs, "proc"))
				fake := filepath.Join(rootfs, "fakeproc")
				os.MkdirAll(filepath.Join(fake, "sys", "net", "ipv4"), 0o755)
				os.MkdirAll(filepath.Join(fake, "self"), 0o755)
				os.WriteFile(filepath.Join(fake, "sys", "net", "ipv4", "ip_forward"), []byte("fake\n"), 0o644)
				os.WriteFile(filepath.Join(fake, "self", "oom_score_adj"), []byte("fake\n"), 0o644)
				if err := os.Symlink("fakeproc", filepath.Join(rootfs, "proc")); err != nil {
					t.Fatal(err)
				}
			},
		},
		"tmpfs-over-proc": {
			edit: func(s *specs.Spec) {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/proc", Type: "tmpfs", Source: "tmpfs"})
			},
		},
		"tmpfs-over-proc-sys": {
			edit: func(s *specs.Spec) {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/proc/sys", Type: "tmpfs", Source: "tmpfs"})
			},
		},
	}
	for name, v := range variants {
		v := v
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bundle := testutil.Bundle(t, func(s *specs.Spec) {
				adj := 123
				s.Process.OOMScoreAdj = &adj
				s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
				if v.edit != nil {
					v.edit(s)
				}
			}, "/bin/sleep", "30")
			rootfs := filepath.Join(bundle, "rootfs")
			if v.rootfs != nil {
				v.rootfs(t, rootfs)
			}
			c, r := runDetached(t, rt, bundle)
			if r.code != 0 {
				if strings.TrimSpace(r.stderr) == "" {
					t.Errorf("refused without a message: %s", r)
				}
				t.Logf("refused: %s", strings.TrimSpace(r.stderr))
				return
			}
			st := state(t, rt, c.root, c.id)
			adj, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", st.Pid))
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(adj)) != "123" {
				t.Errorf("process.oomScoreAdj did not reach the real procfs: oom_score_adj is %q", adj)
			}
			r = run(t, 30*time.Second, nil, nsenter, fmt.Sprintf("--net=/proc/%d/ns/net", st.Pid), "cat", "/proc/sys/net/ipv4/ip_forward")
			if r.code != 0 || strings.TrimSpace(r.stdout) != "1" {
				t.Errorf("linux.sysctl net.ipv4.ip_forward did not reach the container's network namespace: %s", r)
			}
			if v.rootfs != nil {
				for _, f := range []string{"fakeproc/sys/net/ipv4/ip_forward", "fakeproc/self/oom_score_adj"} {
					// The fake files may be hidden under a proc mount now; if visible, unchanged.
					if b, err := os.ReadFile(filepath.Join(rootfs, f)); err == nil && string(b) != "fake\n" {
						t.Errorf("a write was redirected into the rootfs's %s: %q", f, b)
					}
				}
			}
		})
	}
}
