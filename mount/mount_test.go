package mount_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/mount"
)

func isMountPoint(t *testing.T, p string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == p {
			return true
		}
	}
	return false
}

func TestOverlayManyLowers(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	var lowers []string
	for i := 0; i < 150; i++ {
		l := filepath.Join(dir, fmt.Sprintf("a-long-lower-directory-name-%03d", i))
		if err := os.MkdirAll(l, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(l, fmt.Sprintf("f%03d", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		lowers = append(lowers, l)
	}
	for _, d := range []string{"upper", "work", "merged"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
	}
	m := mount.Mount{Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=" + strings.Join(lowers, ":"),
		"upperdir=" + filepath.Join(dir, "upper"), "workdir=" + filepath.Join(dir, "work"),
	}}
	if n := len(strings.Join(m.Options, ",")); n < 4096 {
		t.Fatalf("options are %d bytes: the test must exceed a page", n)
	}
	merged := filepath.Join(dir, "merged")
	if err := mount.All([]mount.Mount{m}, merged); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mount.UnmountAll(merged, unix.MNT_DETACH) })
	ents, err := os.ReadDir(merged)
	if err != nil || len(ents) != 150 {
		t.Fatalf("merged view has %d entries (%v), want 150", len(ents), err)
	}
	if err := mount.UnmountAll(merged, 0); err != nil {
		t.Fatal(err)
	}
	if isMountPoint(t, merged) {
		t.Fatal("still mounted after UnmountAll")
	}
}

func TestBindReadOnlyAndTempMount(t *testing.T) {
	testutil.RequireRoot(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	var mounted string
	err := mount.WithTempMount(context.Background(), []mount.Mount{{Type: "bind", Source: src, Options: []string{"rbind", "ro"}}}, func(root string) error {
		mounted = root
		if b, err := os.ReadFile(filepath.Join(root, "f")); err != nil || string(b) != "hi" {
			t.Errorf("read through bind: %q %v", b, err)
		}
		if err := os.WriteFile(filepath.Join(root, "g"), nil, 0o644); !errors.Is(err, unix.EROFS) {
			t.Errorf("write into a read-only bind: %v, want EROFS", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mounted); !os.IsNotExist(err) {
		t.Errorf("temporary mount point %s left behind: %v", mounted, err)
	}
}

func TestTempMountFailureLeavesNothing(t *testing.T) {
	testutil.RequireRoot(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	err := mount.WithTempMount(context.Background(), []mount.Mount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/nonexistent-berth"}}}, func(string) error {
		t.Fatal("fn called although the mount failed")
		return nil
	})
	if err == nil {
		t.Fatal("mounting a bad overlay succeeded")
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("temporary mount points left: %v", left)
	}
}

func TestUnmountAllNotMounted(t *testing.T) {
	testutil.RequireRoot(t)
	if err := mount.UnmountAll(t.TempDir(), 0); err != nil {
		t.Errorf("UnmountAll of a plain directory: %v", err)
	}
	if err := mount.UnmountAll("/nonexistent-berth-dir", 0); err != nil {
		t.Errorf("UnmountAll of a missing path: %v", err)
	}
}
