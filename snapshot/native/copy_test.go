package native_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/snapshot/native"
)

func TestCopyTreePreservesMetadata(t *testing.T) {
	testutil.RequireRoot(t)
	src, dst := t.TempDir(), t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mt := time.Date(2021, 2, 3, 4, 5, 6, 0, time.UTC)
	must(os.MkdirAll(filepath.Join(src, "d/e"), 0o750))
	must(os.WriteFile(filepath.Join(src, "d/f"), []byte("data"), 0o644))
	must(os.Link(filepath.Join(src, "d/f"), filepath.Join(src, "d/e/hard")))
	must(os.Symlink("../f", filepath.Join(src, "d/e/sym")))
	must(unix.Mknod(filepath.Join(src, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(unix.Mkfifo(filepath.Join(src, "fifo"), 0o600))
	must(os.WriteFile(filepath.Join(src, "suid"), []byte("x"), 0o755))
	must(os.Lchown(filepath.Join(src, "suid"), 1234, 5678))
	must(unix.Chmod(filepath.Join(src, "suid"), 0o4755))
	cp := []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	must(unix.Setxattr(filepath.Join(src, "suid"), "security.capability", cp, 0))
	must(unix.Setxattr(filepath.Join(src, "d/f"), "user.k", []byte("v"), 0))
	must(unix.Setxattr(filepath.Join(src, "d"), "trusted.overlay.opaque", []byte("y"), 0))
	must(os.Chtimes(filepath.Join(src, "d"), mt, mt))

	must(native.CopyTree(context.Background(), dst, src))

	var a, b unix.Stat_t
	must(unix.Lstat(filepath.Join(dst, "d/f"), &a))
	must(unix.Lstat(filepath.Join(dst, "d/e/hard"), &b))
	if a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("hardlink not preserved: inodes %d %d nlink %d", a.Ino, b.Ino, a.Nlink)
	}
	if l, _ := os.Readlink(filepath.Join(dst, "d/e/sym")); l != "../f" {
		t.Errorf("symlink → %q", l)
	}
	var st unix.Stat_t
	must(unix.Lstat(filepath.Join(dst, "null"), &st))
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("device not preserved: mode %o rdev %d", st.Mode, st.Rdev)
	}
	must(unix.Lstat(filepath.Join(dst, "fifo"), &st))
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("fifo not preserved: mode %o", st.Mode)
	}
	must(unix.Lstat(filepath.Join(dst, "suid"), &st))
	if st.Mode&0o7777 != 0o4755 || st.Uid != 1234 || st.Gid != 5678 {
		t.Errorf("suid: mode %o owner %d:%d", st.Mode&0o7777, st.Uid, st.Gid)
	}
	buf := make([]byte, 64)
	if n, err := unix.Lgetxattr(filepath.Join(dst, "suid"), "security.capability", buf); err != nil || string(buf[:n]) != string(cp) {
		t.Errorf("security.capability not preserved: %x %v", buf[:max(n, 0)], err)
	}
	if n, err := unix.Lgetxattr(filepath.Join(dst, "d/f"), "user.k", buf); err != nil || string(buf[:n]) != "v" {
		t.Errorf("user.k not preserved: %v", err)
	}
	if n, err := unix.Lgetxattr(filepath.Join(dst, "d"), "trusted.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("trusted xattr not preserved: %v", err)
	}
	must(unix.Lstat(filepath.Join(dst, "d"), &st))
	if st.Mtim.Sec != mt.Unix() || st.Mode&0o777 != 0o750 {
		t.Errorf("d: mtime %d mode %o", st.Mtim.Sec, st.Mode&0o777)
	}
}
