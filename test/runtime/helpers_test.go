package runtimee2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	imgspecs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/testutil"
)

// berthRuntime is the built berth-runtime binary.
func berthRuntime(t *testing.T) string {
	t.Helper()
	return testutil.Binary(t, "berth-runtime")
}

// dropinRuntime is the runtime the peers are pointed at: berth-runtime, or another
// (BERTH_DROPIN_RUNTIME=runc) to check the harness itself against a known-good one.
func dropinRuntime(t *testing.T) string {
	t.Helper()
	if v := os.Getenv("BERTH_DROPIN_RUNTIME"); v != "" {
		p, err := exec.LookPath(v)
		if err != nil {
			t.Fatalf("BERTH_DROPIN_RUNTIME=%s: %v", v, err)
		}
		return p
	}
	return berthRuntime(t)
}

// uniq returns a short random name with a prefix, for ids, cgroups and namespaces.
func uniq(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// shortTempDir makes a temp dir under /tmp with a short path (unix socket paths are
// limited to 108 bytes), removed at cleanup.
func shortTempDir(t *testing.T, prefix string) string {
	t.Helper()
	d, err := os.MkdirTemp("/tmp", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// result of one command.
type result struct {
	stdout, stderr string
	code           int
	err            error
}

func (r result) String() string {
	return fmt.Sprintf("exit %d (%v)\nstdout: %s\nstderr: %s", r.code, r.err, r.stdout, r.stderr)
}

// run runs a command with a timeout, stdin from /dev/null, and captures its output
// into files (not pipes: a detached container that inherits them must not block us).
func run(t *testing.T, timeout time.Duration, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	dir := t.TempDir()
	outF, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	errF, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = outF, errF
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	outF.Close()
	errF.Close()
	o, _ := os.ReadFile(outF.Name())
	e, _ := os.ReadFile(errF.Name())
	r := result{stdout: string(o), stderr: string(e), err: err}
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() != nil {
		r.err = fmt.Errorf("%s %s: timed out after %s", name, strings.Join(args, " "), timeout)
		r.code = -1
	}
	return r
}

// busyboxRootfsTar writes a tar of a busybox root filesystem (Debian's busybox-static).
func busyboxRootfsTar(t *testing.T, path string) {
	t.Helper()
	dir := t.TempDir()
	testutil.BusyboxRootfs(t, dir)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := tarDir(f, dir); err != nil {
		t.Fatal(err)
	}
}

func tarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name = rel
		if d.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "root", "root"
		h.ModTime = time.Unix(0, 0)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(tw, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// busyboxOCIArchive writes an OCI image layout tar (as `ctr images import` reads it)
// holding one single-layer busybox image named name.
func busyboxOCIArchive(t *testing.T, path, name string) {
	t.Helper()
	var layer bytes.Buffer
	dir := t.TempDir()
	testutil.BusyboxRootfs(t, dir)
	if err := tarDir(&layer, dir); err != nil {
		t.Fatal(err)
	}
	layerDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(layer.Bytes()), Size: int64(layer.Len())}
	cfg, _ := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"},
		Config:   ocispec.ImageConfig{Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, Cmd: []string{"/bin/sh"}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layerDesc.Digest}},
	})
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	man, _ := json.Marshal(ocispec.Manifest{Versioned: specVersioned(), MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc, Layers: []ocispec.Descriptor{layerDesc}})
	manDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(man), Size: int64(len(man)),
		Annotations: map[string]string{"io.containerd.image.name": name, ocispec.AnnotationRefName: "latest"},
		Platform:    &ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"}}
	idx, _ := json.Marshal(ocispec.Index{Versioned: specVersioned(), MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{manDesc}})
	layout, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})

	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	add(ocispec.ImageLayoutFile, layout)
	add("index.json", idx)
	for _, b := range [][]byte{layer.Bytes(), cfg, man} {
		add("blobs/sha256/"+digest.FromBytes(b).Encoded(), b)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func specVersioned() imgspecs.Versioned { return imgspecs.Versioned{SchemaVersion: 2} }

// mountsUnder lists the mount points in /proc/self/mountinfo at or below any prefix.
func mountsUnder(prefixes ...string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		for _, p := range prefixes {
			if mp == p || strings.HasPrefix(mp, strings.TrimSuffix(p, "/")+"/") {
				out = append(out, mp)
			}
		}
	}
	return out
}

func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// unmountUnder lazily unmounts everything at or below the prefixes, deepest first.
func unmountUnder(prefixes ...string) {
	for i := 0; i < 5; i++ {
		ms := mountsUnder(prefixes...)
		if len(ms) == 0 {
			return
		}
		for j := len(ms) - 1; j >= 0; j-- {
			unix.Unmount(ms[j], unix.MNT_DETACH)
		}
	}
}

// mountinfoSnapshot returns the set of mount points (with their fs and source) now.
func mountinfoSnapshot(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		// mount point + everything after the optional fields' separator
		sep := strings.Index(l, " - ")
		m[f[4]+" "+l[sep+3:]] = true
	}
	return m
}

// cgroupDirsNamed lists the cgroup directories, in every mounted hierarchy, whose
// name contains s.
func cgroupDirsNamed(s string) []string {
	var out []string
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, r := range roots {
		if fi, err := os.Lstat(r); err != nil || !fi.IsDir() {
			continue
		}
		filepath.WalkDir(r, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			if strings.Contains(d.Name(), s) {
				out = append(out, p)
				return fs.SkipDir
			}
			return nil
		})
	}
	return out
}

// removeCgroupDirsNamed removes (rmdir, deepest first) cgroups whose name contains s.
func removeCgroupDirsNamed(s string) {
	for _, d := range cgroupDirsNamed(s) {
		var dirs []string
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			os.Remove(dirs[i])
		}
	}
}

// pidsWithArg returns the pids of processes whose command line contains s.
func pidsWithArg(s string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte(s)) {
			out = append(out, pid)
		}
	}
	return out
}

// killPids sends SIGKILL to each pid and waits (bounded) until it is gone or a zombie.
func killPids(pids []int) {
	for _, p := range pids {
		unix.Kill(p, unix.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range pids {
		for time.Now().Before(deadline) {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
			if err != nil || strings.Contains(string(b), ") Z ") {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// buildStatic builds a static Go program (CGO_ENABLED=0) from source in dir and
// returns its path, or a message saying why it could not.
func buildStatic(dir, name, src string) (string, string) {
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		return "", err.Error()
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module "+name+"\n\ngo 1.21\n"), 0o644); err != nil {
		return "", err.Error()
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		if goBin, err = exec.LookPath("go"); err != nil {
			return "", "the go command is needed to build test programs: " + err.Error()
		}
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("go build %s: %v\n%s", name, err, b)
	}
	return out, ""
}

func fmtSscan(s string, pid *int) (int, error) { return fmt.Sscanf(s, "%d", pid) }

// state runs `state` and decodes it.
func state(t *testing.T, rt, root, id string) specs.State {
	t.Helper()
	r := run(t, 30*time.Second, nil, rt, "--root", root, "state", id)
	if r.code != 0 {
		t.Fatalf("state %s: %s", id, r)
	}
	var st specs.State
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("state %s: not JSON: %v: %s", id, err, r.stdout)
	}
	return st
}

// hasCap reports whether this process has capability bit in its effective set.
func hasCap(t *testing.T, bit uint) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			var m uint64
			fmt.Sscanf(strings.TrimSpace(v), "%x", &m)
			return m&(1<<bit) != 0
		}
	}
	return false
}

func nofileLimit(t *testing.T) (cur, max uint64) {
	t.Helper()
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	return l.Cur, l.Max
}

func ownOOMScoreAdj(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		t.Fatal(err)
	}
	var v int
	fmt.Sscanf(strings.TrimSpace(string(b)), "%d", &v)
	return v
}
