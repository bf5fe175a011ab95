package oci

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/volume"
)

// rootEnv is one container run: a bundle with a busybox rootfs, a runtime
// state root, and the volume store.
type rootEnv struct {
	t       *testing.T
	bundle  string
	rootfs  string
	state   string
	vols    *volume.Store
	etc     string
	id      string
	cgroups string
}

func newRootEnv(t *testing.T) *rootEnv {
	testutil.Integration(t)
	b := make([]byte, 32)
	rand.Read(b)
	dir := t.TempDir()
	e := &rootEnv{t: t, bundle: dir, rootfs: filepath.Join(dir, "rootfs"), state: filepath.Join(dir, "state"),
		etc: filepath.Join(dir, "etc"), id: hex.EncodeToString(b)}
	e.cgroups = "/berth-ocitest/" + e.id[:16]
	testutil.BusyboxRootfs(t, e.rootfs)
	os.MkdirAll(filepath.Join(e.rootfs, "data"), 0o755)
	os.WriteFile(filepath.Join(e.rootfs, "data", "seed"), []byte("from-image"), 0o644)
	v, err := volume.New(filepath.Join(dir, "volumes"))
	if err != nil {
		t.Fatal(err)
	}
	e.vols = v
	t.Cleanup(func() {
		// The runtime removes its cgroups on delete; make sure, and drop
		// the parent this test made.
		hierarchies, _ := os.ReadDir("/sys/fs/cgroup")
		for _, h := range hierarchies {
			os.Remove(filepath.Join("/sys/fs/cgroup", h.Name(), e.cgroups))
			os.Remove(filepath.Join("/sys/fs/cgroup", h.Name(), "berth-ocitest"))
		}
	})
	return e
}

// run generates the spec for opts and runs `sh -c script` with
// berth-runtime run; it returns stdout+stderr and the exit code.
func (e *rootEnv) run(opts CreateOptions, script string) (string, int) {
	t := e.t
	t.Helper()
	if err := WriteEtcFiles(e.etc, EtcOptions{Hostname: hostnameOr(opts.Hostname, e.id[:12]), IPs: []string{"10.99.0.2"}}); err != nil {
		t.Fatal(err)
	}
	opts.Cmd = []string{"sh", "-c", script}
	s, err := Generate(context.Background(), GenerateInput{ID: e.id, RootfsPath: e.rootfs, RootPath: "rootfs",
		ImageConfig: ocispec.ImageConfig{Env: []string{"FROM_IMAGE=1"}}, Opts: opts, EtcDir: e.etc,
		Volumes: e.vols, CgroupsPath: e.cgroups})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	data, _ := json.MarshalIndent(s, "", "  ")
	if err := os.WriteFile(filepath.Join(e.bundle, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testutil.Binary(t, "berth-runtime"), "--root", e.state, "run", "--bundle", e.bundle, e.id)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	code := 0
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() != nil {
		t.Fatalf("berth-runtime run timed out: %s", out.String())
	}
	_ = err
	// Nothing of the container may be left in the runtime's state.
	if ents, _ := os.ReadDir(e.state); len(ents) != 0 {
		t.Errorf("runtime state left behind: %v", ents)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", e.cgroups)); err == nil {
		t.Errorf("cgroup %s left behind", e.cgroups)
	}
	return out.String(), code
}

func hostnameOr(h, def string) string {
	if h != "" {
		return h
	}
	return def
}

func wantOut(t *testing.T, out string, code int, wantCode int, parts ...string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("exit %d, want %d; output:\n%s", code, wantCode, out)
	}
	for _, p := range parts {
		if !strings.Contains(out, p) {
			t.Errorf("output lacks %q:\n%s", p, out)
		}
	}
}

func TestRootDefaults(t *testing.T) {
	e := newRootEnv(t)
	out, code := e.run(CreateOptions{Env: []string{"FOO=bar"}, WorkingDir: "/work/dir"}, `
echo "env=$FOO,$FROM_IMAGE,$HOSTNAME"
echo "pwd=$(pwd)"
echo "host=$(hostname)"
grep -q "10.99.0.2" /etc/hosts && echo hosts-ok
grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status
mount -t tmpfs none /tmp 2>/dev/null && echo MOUNTED || echo mount-denied
busybox unshare -U true 2>/dev/null && echo UNSHARED || echo unshare-denied
touch /rootfs-writable && echo rootfs-rw
exit 3`)
	wantOut(t, out, code, 3, "env=bar,1,"+e.id[:12], "pwd=/work/dir", "host="+e.id[:12], "hosts-ok",
		"CapEff:\t00000000a80425fb", "Seccomp:\t2", "NoNewPrivs:\t0", "mount-denied", "unshare-denied", "rootfs-rw")
}

func TestRootSecurityOptions(t *testing.T) {
	e := newRootEnv(t)
	out, code := e.run(CreateOptions{ReadOnly: true, CapDrop: []string{"ALL"}, User: "nobody",
		SecurityOpt: []string{"no-new-privileges"}, Hostname: "boat"}, `
id -u; id -g
grep -E '^(CapEff|NoNewPrivs):' /proc/self/status
touch /x 2>/dev/null && echo WRITABLE || echo readonly-root
hostname`)
	wantOut(t, out, code, 0, "65534\n65534\n", "CapEff:\t0000000000000000", "NoNewPrivs:\t1", "readonly-root", "boat")

	out, code = e.run(CreateOptions{User: "1234:4321", SecurityOpt: []string{"seccomp=unconfined"}}, `
id -u; id -g
grep -E '^Seccomp:' /proc/self/status
busybox unshare -U true && echo unshare-allowed`)
	wantOut(t, out, code, 0, "1234\n4321\n", "Seccomp:\t0", "unshare-allowed")

	// A custom profile (runtime-spec form, as a file's content).
	prof := `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`
	out, code = e.run(CreateOptions{SecurityOpt: []string{"seccomp=" + prof}}, `mkdir /tmp/x 2>/dev/null && echo MADE || echo mkdir-denied; touch /tmp/y && echo touch-ok`)
	wantOut(t, out, code, 0, "mkdir-denied", "touch-ok")

	// A non-root user keeps the bounding set only, as with Docker.
	out, code = e.run(CreateOptions{User: "1000"}, `grep -E '^Cap(Eff|Bnd):' /proc/self/status`)
	wantOut(t, out, code, 0, "CapEff:\t0000000000000000", "CapBnd:\t00000000a80425fb")

	out, code = e.run(CreateOptions{CapDrop: []string{"ALL"}, CapAdd: []string{"net_bind_service"}}, `grep CapEff /proc/self/status`)
	wantOut(t, out, code, 0, "CapEff:\t0000000000000400")
}

func TestRootLimits(t *testing.T) {
	e := newRootEnv(t)
	out, code := e.run(CreateOptions{Memory: 64 << 20, PidsLimit: 20, Ulimits: []Ulimit{{"nofile", 512, 1024}}}, `
cat /sys/fs/cgroup/memory/memory.limit_in_bytes
cat /sys/fs/cgroup/pids/pids.max
ulimit -n; ulimit -Hn
sh -c 'i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); done; echo SPAWNED-ALL' 2>&1
echo "rc=$?"`)
	wantOut(t, out, code, 0, "67108864\n", "20\n", "512\n1024\n", "can't fork", "rc=2")
	if strings.Contains(out, "SPAWNED-ALL") {
		t.Errorf("40 processes under --pids-limit 20:\n%s", out)
	}
}

func TestRootMounts(t *testing.T) {
	e := newRootEnv(t)
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "hostfile"), []byte("from-host"), 0o644)
	ro := t.TempDir()
	out, code := e.run(CreateOptions{
		Volumes: []string{host + ":/h", ro + ":/ro:ro", "namedvol:/data"},
		Tmpfs:   []string{"/scratch:size=1m"},
	}, `
cat /h/hostfile; echo
echo written > /h/fromctr
touch /ro/x 2>/dev/null && echo RO-WRITABLE || echo ro-denied
cat /data/seed; echo
echo vol > /data/new
grep ' /scratch ' /proc/mounts`)
	wantOut(t, out, code, 0, "from-host", "ro-denied", "from-image", "tmpfs /scratch tmpfs", "size=1024k")
	if data, _ := os.ReadFile(filepath.Join(host, "fromctr")); string(data) != "written\n" {
		t.Errorf("bind mount write not seen on the host: %q", data)
	}
	v, err := e.vols.Inspect(context.Background(), "namedvol")
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(v.Mountpoint, "new")); string(data) != "vol\n" {
		t.Errorf("named volume write not kept: %q", data)
	}
	// A second container sees the volume's data, and the image content is
	// not copied over it again.
	os.WriteFile(filepath.Join(e.rootfs, "data", "seed"), []byte("changed"), 0o644)
	out, code = e.run(CreateOptions{Volumes: []string{"namedvol:/data"}}, `cat /data/new /data/seed`)
	wantOut(t, out, code, 0, "vol\nfrom-image")
}

func TestRootPrivileged(t *testing.T) {
	e := newRootEnv(t)
	out, code := e.run(CreateOptions{Privileged: true}, `
grep -E '^(CapEff|Seccomp):' /proc/self/status
grep ' /sys sysfs ' /proc/mounts
test -c /dev/loop-control && echo has-loop-control
mount -t tmpfs none /tmp && echo mount-allowed && umount /tmp`)
	wantOut(t, out, code, 0, "Seccomp:\t0", "sysfs /sys sysfs rw", "has-loop-control", "mount-allowed")
	if strings.Contains(out, "CapEff:\t00000000a80425fb") || strings.Contains(out, "CapEff:\t0000000000000000") {
		t.Errorf("privileged container without all capabilities:\n%s", out)
	}
}
