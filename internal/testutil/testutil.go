package testutil

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/runtime/spec"
)

// RepoRoot returns the repository's top directory (where go.mod is).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binary returns the path of a built Berth binary: $BERTH_BIN/name, else
// bin/name under the repository. A missing binary fails the test loudly.
func Binary(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("BERTH_BIN")
	if dir == "" {
		dir = filepath.Join(RepoRoot(t), "bin")
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("binary %s not built (run `make build` or set BERTH_BIN): %v", name, err)
	}
	return p
}

// RequireRoot fails (does not skip) a test that needs root when not root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("this test needs root (uid 0); run the suite as root (make test)")
	}
}

// Integration reports whether root integration tests should run: false under
// `go test -short`, which runs unit tests only.
func Integration(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: runs in `make test`, not under -short")
	}
	RequireRoot(t)
}

// LookPath returns the path of a host tool or fails loudly naming the package.
func LookPath(t testing.TB, tool, debPackage string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s not found: install Debian's %s (hack/deps.sh does)", tool, debPackage)
	}
	return p
}

// BusyboxStatic is where Debian's busybox-static installs its binary.
const BusyboxStatic = "/bin/busybox"

// BusyboxApplets are linked into every test rootfs.
var BusyboxApplets = []string{
	"sh", "true", "false", "echo", "cat", "ls", "sleep", "id", "env", "pwd", "hostname",
	"mount", "ps", "kill", "grep", "head", "tail", "wc", "touch", "mkdir", "rm", "ln",
	"stat", "readlink", "test", "uname", "date", "wget", "nc", "httpd", "printf", "cp", "mv",
	"chmod", "chown", "dd", "top", "nproc", "ulimit", "umask", "whoami", "seq", "sed", "awk",
}

// BusyboxRootfs fills dir with a minimal root filesystem made from Debian's
// busybox-static: /bin/busybox, applet links, and the usual empty directories.
func BusyboxRootfs(t testing.TB, dir string) {
	t.Helper()
	if err := MakeBusyboxRootfs(dir); err != nil {
		t.Fatal(err)
	}
}

// MakeBusyboxRootfs is BusyboxRootfs for non-test callers (benchmarks, demo tools).
func MakeBusyboxRootfs(dir string) error {
	data, err := os.ReadFile(BusyboxStatic)
	if err != nil {
		return &os.PathError{Op: "read busybox-static (install Debian's busybox-static)", Path: BusyboxStatic, Err: err}
	}
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "var", "run", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), data, 0o755); err != nil {
		return err
	}
	for _, a := range BusyboxApplets {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
		"etc/hosts":  "127.0.0.1 localhost\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Bundle makes an OCI bundle in a fresh temp dir: a busybox rootfs and a
// config.json from the default spec (terminal off, args as given), after
// edit (may be nil) has changed it. It returns the bundle directory.
func Bundle(t testing.TB, edit func(*specs.Spec), args ...string) string {
	t.Helper()
	dir := t.TempDir()
	BusyboxRootfs(t, filepath.Join(dir, "rootfs"))
	s := spec.Default(false, 0, 0)
	s.Process.Terminal = false
	if len(args) > 0 {
		s.Process.Args = args
	}
	if edit != nil {
		edit(s)
	}
	WriteSpec(t, dir, s)
	return dir
}

// WriteSpec writes s as dir/config.json.
func WriteSpec(t testing.TB, dir string, s *specs.Spec) {
	t.Helper()
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
