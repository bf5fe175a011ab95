package runtimee2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-containers/berth/internal/testutil"
)

// The drop-in tests run containers through berth-runtime with each peer from Debian's
// packages, exactly as their users swap runc out: podman --runtime, dockerd
// --add-runtime, ctr run --runc-binary. Each peer runs on its own roots, sockets and
// cgroup parent, and everything it made is removed at cleanup.

const dropinScript = `echo "hello from $(hostname)"; echo "pid=$$"; cat /proc/self/status | grep -q NoNewPrivs && echo "has-proc"; exit 7`

func checkDropinOutput(t *testing.T, who string, r result) {
	t.Helper()
	if r.code != 7 {
		t.Fatalf("%s: want the container's exit code 7, got %s", who, r)
	}
	if !strings.Contains(r.stdout, "hello from ") || !strings.Contains(r.stdout, "pid=1\n") || !strings.Contains(r.stdout, "has-proc") {
		t.Fatalf("%s: unexpected output: %s", who, r)
	}
}

// stopDaemon sends SIGTERM, waits up to d, then SIGKILL.
func stopDaemon(cmd *exec.Cmd, done <-chan error, d time.Duration) {
	if cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
	}
}

// startDaemon starts a daemon with its output in a log file; it returns a channel
// closed (with Wait's error) when the daemon exits.
func startDaemon(t *testing.T, logPath string, name string, args ...string) (*exec.Cmd, <-chan error) {
	t.Helper()
	logF, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logF, logF
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logF.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logF.Close(); close(done) }()
	return cmd, done
}

func waitForSocket(t *testing.T, sock string, done <-chan error, logPath string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return
		}
		select {
		case err := <-done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("daemon exited before serving %s: %v\n%s", sock, err, tail(string(b), 3000))
		case <-time.After(100 * time.Millisecond):
		}
	}
	b, _ := os.ReadFile(logPath)
	t.Fatalf("daemon did not create %s within %s\n%s", sock, timeout, tail(string(b), 3000))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// leftovers fails the test when mounts or cgroups made by it remain after cleanup.
func checkNoLeftovers(t *testing.T, dirs []string, cgroupName string) {
	t.Helper()
	if m := mountsUnder(dirs...); len(m) > 0 {
		t.Errorf("mounts left behind: %v", m)
		unmountUnder(dirs...)
	}
	if cgroupName != "" {
		// The peers make the parent cgroup and never remove it (runc does the same);
		// a container cgroup still inside it was leaked by the runtime.
		for _, c := range cgroupDirsNamed(cgroupName) {
			ents, _ := os.ReadDir(c)
			for _, e := range ents {
				if e.IsDir() && e.Name() != "conmon" { // podman's own cgroup for conmon
					t.Errorf("container cgroup left behind by the runtime: %s", filepath.Join(c, e.Name()))
				}
			}
		}
		removeCgroupDirsNamed(cgroupName)
		if c := cgroupDirsNamed(cgroupName); len(c) > 0 {
			t.Errorf("cgroups that cannot be removed: %v", c)
		}
	}
}

func TestDropInPodman(t *testing.T) {
	testutil.Integration(t)
	t.Parallel()
	rt := dropinRuntime(t)
	podman := testutil.LookPath(t, "podman", "podman")
	testutil.LookPath(t, "conmon", "conmon")
	dir := shortTempDir(t, "bp-")
	cg := uniq("berth-dropin-podman-")
	global := []string{
		"--root", filepath.Join(dir, "storage"), "--runroot", filepath.Join(dir, "run"),
		"--tmpdir", filepath.Join(dir, "tmp"), "--runtime", rt,
		"--cgroup-manager", "cgroupfs", "--events-backend", "file", "--storage-driver", "vfs",
		"--log-level", "error",
	}
	env := []string{"XDG_RUNTIME_DIR=" + filepath.Join(dir, "xdg"), "CONTAINERS_REGISTRIES_CONF=/dev/null"}
	t.Cleanup(func() {
		run(t, 60*time.Second, env, podman, append(global, "rm", "--all", "--force")...)
		// Not `system reset`: for root it also clears host-wide network configuration.
		run(t, 60*time.Second, env, podman, append(global, "rmi", "--all", "--force")...)
		killPids(pidsWithArg(dir))
		unmountUnder(dir)
		checkNoLeftovers(t, []string{dir}, cg)
	})
	tarPath := filepath.Join(dir, "busybox.tar")
	busyboxRootfsTar(t, tarPath)
	image := "localhost/berth-test/busybox:" + strings.TrimPrefix(cg, "berth-dropin-podman-")
	if r := run(t, 2*time.Minute, env, podman, append(global, "import", tarPath, image)...); r.code != 0 {
		t.Fatalf("podman import: %s", r)
	}
	r := run(t, 2*time.Minute, env, podman, append(global, "run", "--rm", "--network", "none",
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", "--cgroup-parent", "/"+cg,
		"--hostname", "podman-berth", image, "/bin/sh", "-c", dropinScript)...)
	checkDropinOutput(t, "podman run --runtime "+rt, r)
	if !strings.Contains(r.stdout, "hello from podman-berth") {
		t.Fatalf("podman: hostname not applied: %s", r)
	}
}

func TestDropInDocker(t *testing.T) {
	testutil.Integration(t)
	t.Parallel()
	rt := dropinRuntime(t)
	dockerd := testutil.LookPath(t, "dockerd", "docker.io")
	docker := "/usr/bin/docker" // Debian's CLI, matching its dockerd
	if _, err := os.Stat(docker); err != nil {
		docker = testutil.LookPath(t, "docker", "docker.io")
	}
	testutil.LookPath(t, "containerd", "containerd")
	exe := shortTempDir(t, "bd-")
	data := shortTempDir(t, "bdd-")
	cg := uniq("berth-dropin-docker-")
	sock := filepath.Join(exe, "d.sock")
	cfg := filepath.Join(exe, "daemon.json")
	if err := os.WriteFile(cfg, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(data, "dockerd.log")
	cmd, done := startDaemon(t, logPath, dockerd,
		"--config-file", cfg, "--data-root", data, "--exec-root", exe,
		"--host", "unix://"+sock, "--pidfile", filepath.Join(exe, "d.pid"),
		"--oom-score-adjust", "0", "--add-runtime", "berth="+rt,
		"--iptables=false", "--ip6tables=false", "--ip-masq=false", "--bridge", "none",
		"--storage-driver", "vfs", "--cgroup-parent", "/"+cg, "--exec-opt", "native.cgroupdriver=cgroupfs",
		"--userland-proxy=false", "--log-level", "warn")
	env := []string{"DOCKER_HOST=unix://" + sock, "DOCKER_CONFIG=" + filepath.Join(exe, "cli")}
	t.Cleanup(func() {
		run(t, 60*time.Second, env, docker, "rm", "--force", "berth-dropin")
		stopDaemon(cmd, done, 20*time.Second)
		// dockerd's own containerd and shims carry the exec root in their arguments.
		killPids(pidsWithArg(exe))
		unmountUnder(exe, data)
		checkNoLeftovers(t, []string{exe, data}, cg)
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("dockerd log:\n%s", tail(string(b), 4000))
		}
	})
	waitForSocket(t, sock, done, logPath, 60*time.Second)
	var r result
	for i := 0; i < 50; i++ { // the socket exists a moment before the API answers
		if r = run(t, 30*time.Second, env, docker, "version"); r.code == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r.code != 0 {
		t.Fatalf("docker version: %s", r)
	}
	tarPath := filepath.Join(data, "busybox.tar")
	busyboxRootfsTar(t, tarPath)
	if r := run(t, 2*time.Minute, env, docker, "import", tarPath, "berth-test/busybox:latest"); r.code != 0 {
		t.Fatalf("docker import: %s", r)
	}
	r = run(t, 2*time.Minute, env, docker, "run", "--rm", "--name", "berth-dropin", "--runtime", "berth",
		"--network", "none", "--hostname", "docker-berth", "berth-test/busybox:latest", "/bin/sh", "-c", dropinScript)
	checkDropinOutput(t, "docker run --runtime berth ("+rt+")", r)
	if !strings.Contains(r.stdout, "hello from docker-berth") {
		t.Fatalf("docker: hostname not applied: %s", r)
	}
	// The runtime really was the one given: dockerd records it per container.
	r = run(t, time.Minute, env, docker, "run", "--detach", "--name", "berth-dropin", "--runtime", "berth",
		"--network", "none", "berth-test/busybox:latest", "/bin/sleep", "30")
	if r.code != 0 {
		t.Fatalf("docker run --detach: %s", r)
	}
	r = run(t, time.Minute, env, docker, "inspect", "--format", "{{.HostConfig.Runtime}} {{.State.Running}}", "berth-dropin")
	if strings.TrimSpace(r.stdout) != "berth true" {
		t.Fatalf("docker inspect: want runtime berth, running: %s", r)
	}
	if r := run(t, time.Minute, env, docker, "rm", "--force", "berth-dropin"); r.code != 0 {
		t.Fatalf("docker rm --force: %s", r)
	}
}

func TestDropInContainerd(t *testing.T) {
	testutil.Integration(t)
	t.Parallel()
	rt := dropinRuntime(t)
	containerd := testutil.LookPath(t, "containerd", "containerd")
	ctr := testutil.LookPath(t, "ctr", "containerd")
	testutil.LookPath(t, "containerd-shim-runc-v2", "containerd")
	state := shortTempDir(t, "bc-")
	root := shortTempDir(t, "bcr-")
	ns := uniq("berthdropin")
	sock := filepath.Join(state, "c.sock")
	cfg := filepath.Join(state, "config.toml")
	conf := fmt.Sprintf(`version = 2
root = %q
state = %q
oom_score = 0
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, root, state, sock, sock+".ttrpc", filepath.Join(root, "opt"))
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(root, "containerd.log")
	cmd, done := startDaemon(t, logPath, containerd, "--config", cfg, "--log-level", "warn")
	id := uniq("dropin")
	t.Cleanup(func() {
		run(t, 30*time.Second, nil, ctr, "-a", sock, "-n", ns, "tasks", "kill", "-s", "KILL", id)
		run(t, 30*time.Second, nil, ctr, "-a", sock, "-n", ns, "containers", "delete", id)
		stopDaemon(cmd, done, 20*time.Second)
		killPids(pidsWithArg(sock))
		unmountUnder(state, root)
		checkNoLeftovers(t, []string{state, root}, ns)
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("containerd log:\n%s", tail(string(b), 4000))
		}
	})
	waitForSocket(t, sock, done, logPath, 60*time.Second)
	tarPath := filepath.Join(root, "busybox-oci.tar")
	image := "docker.io/berth-test/busybox:latest"
	busyboxOCIArchive(t, tarPath, image)
	if r := run(t, 2*time.Minute, nil, ctr, "-a", sock, "-n", ns, "images", "import", "--snapshotter", "native", tarPath); r.code != 0 {
		t.Fatalf("ctr images import: %s", r)
	}
	r := run(t, 2*time.Minute, nil, ctr, "-a", sock, "-n", ns, "run", "--rm", "--snapshotter", "native",
		"--runc-binary", rt, image, id, "/bin/sh", "-c", dropinScript)
	checkDropinOutput(t, "ctr run --runc-binary "+rt, r)
}
