package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/archive"
	"github.com/berth-containers/berth/archive/compression"
	"github.com/berth-containers/berth/archive/tartest"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/testutil"
)

// jail makes a directory holding the layer root and a sentinel directory
// outside it; check reports anything that changed outside the root.
type jail struct {
	dir, root, outside string
}

func newJail(t testing.TB) *jail {
	t.Helper()
	d := t.TempDir()
	j := &jail{dir: d, root: filepath.Join(d, "root"), outside: filepath.Join(d, "outside")}
	for _, p := range []string{j.root, j.outside} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(j.outside, "victim"), []byte("original"), 0o644); err != nil {
		t.Fatal(err)
	}
	return j
}

// check fails if anything outside the root changed.
func (j *jail) check(t testing.TB) {
	t.Helper()
	ents, err := os.ReadDir(j.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("outside the root: entries %v appeared next to it", names)
	}
	ents, err = os.ReadDir(j.outside)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Fatalf("outside the root: %d entries in the sentinel directory, want 1", len(ents))
	}
	fi, err := os.Lstat(filepath.Join(j.outside, "victim"))
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o644 {
		t.Fatalf("outside the root: victim changed: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(filepath.Join(j.outside, "victim")); string(b) != "original" {
		t.Fatalf("outside the root: victim content changed to %q", b)
	}
}

func apply(t testing.TB, root string, data []byte, opts ...archive.ApplyOpt) (int64, error) {
	t.Helper()
	return archive.Apply(context.Background(), root, bytes.NewReader(data), opts...)
}

func lstat(t testing.TB, p string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return &st
}

func getxattr(p, name string) string {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

func TestApplyTree(t *testing.T) {
	testutil.RequireRoot(t)
	j := newJail(t)
	mt := time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)
	long := strings.Repeat("l", 200)
	deep := strings.Repeat("d/", 70) + "leaf"
	capXattr := string([]byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) // cap_net_bind_service, v2
	entries := []tartest.Entry{
		{Name: "./", Type: tar.TypeDir, Mode: 0o755, ModTime: mt},
		{Name: "dir/", Type: tar.TypeDir, Mode: 0o750, UID: 1000, GID: 1001, ModTime: mt},
		{Name: "dir/file", Type: tar.TypeReg, Body: []byte("hello"), Mode: 0o640, UID: 1000, GID: 1001, ModTime: mt,
			Xattrs: map[string]string{"user.note": "v1"}},
		{Name: "dir/link", Type: tar.TypeLink, Link: "dir/file"},
		{Name: "dir/sym", Type: tar.TypeSymlink, Link: "file", UID: 7, GID: 8, ModTime: mt},
		{Name: "suid", Type: tar.TypeReg, Body: []byte("x"), Mode: 0o4755, ModTime: mt},
		{Name: "sticky/", Type: tar.TypeDir, Mode: 0o1777, ModTime: mt},
		{Name: "fifo", Type: tar.TypeFifo, Mode: 0o600, ModTime: mt},
		{Name: "null", Type: tar.TypeChar, Mode: 0o666, Major: 1, Minor: 3, ModTime: mt},
		{Name: "blk", Type: tar.TypeBlock, Mode: 0o660, Major: 7, Minor: 0, ModTime: mt},
		{Name: "ping", Type: tar.TypeReg, Body: []byte("cap"), Mode: 0o755, ModTime: mt,
			Xattrs: map[string]string{"security.capability": capXattr}},
		{Name: long, Type: tar.TypeReg, Body: []byte("long"), Mode: 0o644, ModTime: mt},
		{Name: deep, Type: tar.TypeReg, Body: []byte("deep"), Mode: 0o644, ModTime: mt},
		{Name: "implicit/parent/file", Type: tar.TypeReg, Body: []byte("p"), Mode: 0o644, ModTime: mt},
		{Name: "overlayx", Type: tar.TypeReg, Body: []byte("o"), Mode: 0o644, ModTime: mt,
			Xattrs: map[string]string{"trusted.overlay.redirect": "/etc"}},
		{Name: "replaced", Type: tar.TypeReg, Body: []byte("first"), Mode: 0o644, ModTime: mt},
		{Name: "replaced", Type: tar.TypeReg, Body: []byte("second"), Mode: 0o600, ModTime: mt},
	}
	data := tartest.Tar(entries...)
	n, err := apply(t, j.root, data)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(data)) {
		t.Errorf("Apply read %d bytes, want the whole stream %d", n, len(data))
	}
	r := j.root
	st := lstat(t, filepath.Join(r, "dir"))
	if st.Mode&0o7777 != 0o750 || st.Uid != 1000 || st.Gid != 1001 {
		t.Errorf("dir: mode %o uid %d gid %d", st.Mode&0o7777, st.Uid, st.Gid)
	}
	if st.Mtim.Sec != mt.Unix() {
		t.Errorf("dir mtime %d, want %d (directory times must be set after their contents)", st.Mtim.Sec, mt.Unix())
	}
	if st := lstat(t, r); st.Mtim.Sec != mt.Unix() {
		t.Errorf("root mtime %d, want %d", st.Mtim.Sec, mt.Unix())
	}
	f := lstat(t, filepath.Join(r, "dir/file"))
	if f.Mode&0o7777 != 0o640 || f.Uid != 1000 || f.Nlink != 2 || f.Mtim.Sec != mt.Unix() {
		t.Errorf("dir/file: mode %o uid %d nlink %d mtime %d", f.Mode&0o7777, f.Uid, f.Nlink, f.Mtim.Sec)
	}
	if l := lstat(t, filepath.Join(r, "dir/link")); l.Ino != f.Ino {
		t.Errorf("dir/link is not a hardlink of dir/file")
	}
	if v := getxattr(filepath.Join(r, "dir/file"), "user.note"); v != "v1" {
		t.Errorf("dir/file user.note = %q", v)
	}
	if tgt, _ := os.Readlink(filepath.Join(r, "dir/sym")); tgt != "file" {
		t.Errorf("dir/sym → %q", tgt)
	}
	if s := lstat(t, filepath.Join(r, "dir/sym")); s.Uid != 7 || s.Gid != 8 || s.Mtim.Sec != mt.Unix() {
		t.Errorf("dir/sym: uid %d gid %d mtime %d", s.Uid, s.Gid, s.Mtim.Sec)
	}
	if s := lstat(t, filepath.Join(r, "suid")); s.Mode&0o7777 != 0o4755 {
		t.Errorf("suid mode %o", s.Mode&0o7777)
	}
	if s := lstat(t, filepath.Join(r, "sticky")); s.Mode&0o7777 != 0o1777 {
		t.Errorf("sticky mode %o", s.Mode&0o7777)
	}
	if s := lstat(t, filepath.Join(r, "fifo")); s.Mode&unix.S_IFMT != unix.S_IFIFO || s.Mode&0o777 != 0o600 {
		t.Errorf("fifo mode %o", s.Mode)
	}
	if s := lstat(t, filepath.Join(r, "null")); s.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(s.Rdev) != 1 || unix.Minor(s.Rdev) != 3 || s.Mode&0o777 != 0o666 {
		t.Errorf("null: mode %o rdev %d:%d", s.Mode, unix.Major(s.Rdev), unix.Minor(s.Rdev))
	}
	if s := lstat(t, filepath.Join(r, "blk")); s.Mode&unix.S_IFMT != unix.S_IFBLK || unix.Major(s.Rdev) != 7 {
		t.Errorf("blk: mode %o rdev %d:%d", s.Mode, unix.Major(s.Rdev), unix.Minor(s.Rdev))
	}
	if v := getxattr(filepath.Join(r, "ping"), "security.capability"); v != capXattr {
		t.Errorf("ping security.capability = %x, want %x", v, capXattr)
	}
	for name, want := range map[string]string{long: "long", deep: "deep", "implicit/parent/file": "p", "replaced": "second"} {
		if b, err := os.ReadFile(filepath.Join(r, name)); err != nil || string(b) != want {
			t.Errorf("%.40s: %q %v, want %q", name, b, err, want)
		}
	}
	if s := lstat(t, filepath.Join(r, "replaced")); s.Mode&0o777 != 0o600 {
		t.Errorf("replaced mode %o", s.Mode&0o777)
	}
	if v := getxattr(filepath.Join(r, "overlayx"), "trusted.overlay.redirect"); v != "" {
		t.Errorf("a layer set trusted.overlay.redirect=%q", v)
	}
	j.check(t)
}

func TestApplyWhiteoutsOverlay(t *testing.T) {
	testutil.RequireRoot(t)
	j := newJail(t)
	data := tartest.Tar(
		tartest.Dir("etc"),
		tartest.Whiteout("etc/gone"),
		tartest.Dir("opq"),
		tartest.Opaque("opq"),
		tartest.File("opq/kept", "k"),
		tartest.Opaque("newdir"),
		tartest.File(".wh..wh.plnk", ""),
	)
	if _, err := apply(t, j.root, data); err != nil {
		t.Fatal(err)
	}
	st := lstat(t, filepath.Join(j.root, "etc/gone"))
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("etc/gone: mode %o rdev %d, want a 0:0 character device", st.Mode, st.Rdev)
	}
	for _, d := range []string{"opq", "newdir"} {
		if v := getxattr(filepath.Join(j.root, d), "trusted.overlay.opaque"); v != "y" {
			t.Errorf("%s: trusted.overlay.opaque = %q, want y", d, v)
		}
	}
	if _, err := os.Stat(filepath.Join(j.root, "opq/kept")); err != nil {
		t.Error(err)
	}
	if _, err := os.Lstat(filepath.Join(j.root, ".wh..wh.plnk")); !os.IsNotExist(err) {
		t.Errorf(".wh..wh.plnk was written: %v", err)
	}
	j.check(t)
}

func TestApplyWhiteoutsDelete(t *testing.T) {
	testutil.RequireRoot(t)
	j := newJail(t)
	lower := tartest.Tar(
		tartest.Dir("etc"), tartest.File("etc/gone", "g"), tartest.File("etc/stays", "s"),
		tartest.Dir("opq"), tartest.File("opq/old", "o"), tartest.Dir("opq/olddir"), tartest.File("opq/olddir/f", "f"),
		tartest.Dir("rmdir"), tartest.File("rmdir/f", "f"),
	)
	if _, err := apply(t, j.root, lower, archive.WithWhiteouts(archive.WhiteoutDelete)); err != nil {
		t.Fatal(err)
	}
	upper := tartest.Tar(
		tartest.Whiteout("etc/gone"),
		tartest.Whiteout("rmdir"),
		tartest.Whiteout("never/existed"),
		tartest.Dir("opq"),
		tartest.File("opq/new", "n"),
		tartest.Opaque("opq"),
	)
	if _, err := apply(t, j.root, upper, archive.WithWhiteouts(archive.WhiteoutDelete)); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{"etc/gone": false, "etc/stays": true, "rmdir": false, "opq/old": false, "opq/olddir": false, "opq/new": true, "never": false} {
		_, err := os.Lstat(filepath.Join(j.root, p))
		if got := err == nil; got != want {
			t.Errorf("%s exists = %v, want %v", p, got, want)
		}
	}
	j.check(t)
}

func TestApplyHostile(t *testing.T) {
	testutil.RequireRoot(t)
	type tc struct {
		name    string
		entries func(j *jail) []tartest.Entry
		wantErr bool
		// overlayErr: an error only in overlay mode (deleting finds nothing
		// to delete, which is no error).
		overlayErr bool
		check      func(t *testing.T, j *jail)
	}
	cases := []tc{
		{name: "dotdot", wantErr: true, entries: func(j *jail) []tartest.Entry {
			return []tartest.Entry{tartest.File("../outside/victim", "pwned")}
		}},
		{name: "dotdot-inner", wantErr: true, entries: func(j *jail) []tartest.Entry {
			return []tartest.Entry{tartest.Dir("a"), tartest.File("a/../../outside/new", "pwned")}
		}},
		{name: "absolute", wantErr: true, entries: func(j *jail) []tartest.Entry {
			return []tartest.Entry{tartest.File(filepath.Join(j.outside, "victim"), "pwned")}
		}},
		{name: "symlink-out-then-write-through", wantErr: true, entries: func(j *jail) []tartest.Entry {
			return []tartest.Entry{tartest.Symlink("evil", j.outside), tartest.File("evil/new", "pwned")}
		}},
		{name: "relative-symlink-out-then-write-through", entries: func(j *jail) []tartest.Entry {
			// The link resolves as if the root were "/": "../../.." stays at the root.
			return []tartest.Entry{tartest.Symlink("evil", "../../../.."), tartest.File("evil/new", "contained")}
		}, check: func(t *testing.T, j *jail) {
			if b, err := os.ReadFile(filepath.Join(j.root, "new")); err != nil || string(b) != "contained" {
				t.Errorf("write through an in-root symlink: %q %v", b, err)
			}
		}},
		{name: "symlink-to-file-then-overwrite", entries: func(j *jail) []tartest.Entry {
			return []tartest.Entry{tartest.Symlink("f", filepath.Join(j.outside, "victim")), tartest.File("f", "replaced")}
		}, check: func(t *testing.T, j *jail) {
			if fi, err := os.Lstat(filepath.Join(j.root, "f")); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("f should be a regular file replacing the symlink: %v %v", fi, err)
			}
		}},
		{name: "symlink-dir-chain-out", wantErr: true, entries: func(j *jail) []tartest.Entry {
			return []tartest.Entry{tartest.Symlink("a", "/"), tartest.Symlink("a/b", j.outside), tartest.File("a/b/new", "x")}
		}},
		{name: "hardlink-absolute", wantErr: true, entries: func(j *jail) []tartest.Entry {
			return []tartest.Entry{tartest.Hardlink("h", filepath.Join(j.outside, "victim"))}
		}},
		{name: "hardlink-dotdot", wantErr: true, entries: func(j *jail) []tartest.Entry {
			return []tartest.Entry{tartest.Hardlink("h", "../outside/victim")}
		}},
		{name: "hardlink-through-symlinked-dir", wantErr: true, entries: func(j *jail) []tartest.Entry {
			return []tartest.Entry{tartest.Symlink("d", j.outside), tartest.Hardlink("h", "d/victim")}
		}},
		{name: "hardlink-to-symlink-leading-out", wantErr: true, entries: func(j *jail) []tartest.Entry {
			return []tartest.Entry{tartest.Symlink("s", filepath.Join(j.outside, "victim")), tartest.Hardlink("h", "s")}
		}},
		{name: "hardlink-then-write", entries: func(j *jail) []tartest.Entry {
			return []tartest.Entry{tartest.File("a", "one"), tartest.Hardlink("b", "a"), tartest.File("b", "two")}
		}, check: func(t *testing.T, j *jail) {
			if b, _ := os.ReadFile(filepath.Join(j.root, "a")); string(b) != "one" {
				t.Errorf("rewriting a hardlink changed its other name: a = %q", b)
			}
		}},
		{name: "whiteout-dotdot", wantErr: true, entries: func(j *jail) []tartest.Entry {
			return []tartest.Entry{tartest.File("../outside/.wh.victim", "")}
		}},
		{name: "whiteout-of-dotdot", wantErr: true, entries: func(j *jail) []tartest.Entry {
			return []tartest.Entry{tartest.File(".wh...", "")}
		}},
		{name: "whiteout-through-symlink", overlayErr: true, entries: func(j *jail) []tartest.Entry {
			return []tartest.Entry{tartest.Symlink("s", j.outside), tartest.Whiteout("s/victim")}
		}},
		{name: "opaque-through-symlink", entries: func(j *jail) []tartest.Entry {
			return []tartest.Entry{tartest.Symlink("s", "/"), tartest.Opaque("s")}
		}},
		{name: "file-over-directory-with-symlink", entries: func(j *jail) []tartest.Entry {
			return []tartest.Entry{tartest.Dir("d"), tartest.Symlink("d/s", j.outside), tartest.File("d", "now a file")}
		}},
		{name: "truncated-file", wantErr: true, entries: func(j *jail) []tartest.Entry {
			return nil // replaced below with a cut stream
		}},
	}
	for _, c := range cases {
		for _, mode := range []archive.WhiteoutMode{archive.WhiteoutOverlay, archive.WhiteoutDelete} {
			t.Run(c.name+map[archive.WhiteoutMode]string{0: "/overlay", 1: "/delete"}[mode], func(t *testing.T) {
				j := newJail(t)
				data := tartest.Tar(c.entries(j)...)
				if c.name == "truncated-file" {
					full := tartest.Tar(tartest.File("big", strings.Repeat("x", 10000)))
					data = full[:3000]
				}
				_, err := apply(t, j.root, data, archive.WithWhiteouts(mode))
				if c.wantErr || (c.overlayErr && mode == archive.WhiteoutOverlay) {
					if err == nil {
						t.Fatal("Apply succeeded, want an error")
					}
					if !strings.Contains(err.Error(), "layer") {
						t.Errorf("error does not name the layer entry: %v", err)
					}
				} else if err != nil {
					t.Fatalf("Apply: %v", err)
				}
				j.check(t)
				if c.check != nil {
					c.check(t, j)
				}
			})
		}
	}
}

func TestApplyErrorNamesEntry(t *testing.T) {
	testutil.RequireRoot(t)
	j := newJail(t)
	_, err := apply(t, j.root, tartest.Tar(tartest.File("ok", "1"), tartest.File("../bad", "2")))
	if err == nil || !strings.Contains(err.Error(), `"../bad"`) || !errdefs.IsInvalidArgument(err) {
		t.Fatalf("want an invalid-argument error naming \"../bad\", got %v", err)
	}
}

// zeroReader is an endless stream of zeros.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestApplyBombBounded(t *testing.T) {
	testutil.RequireRoot(t)
	t.Run("bytes", func(t *testing.T) {
		j := newJail(t)
		// A header announcing 1 TiB followed by zeros: decompresses forever.
		var hdr bytes.Buffer
		tw := tar.NewWriter(&hdr)
		if err := tw.WriteHeader(&tar.Header{Name: "bomb", Typeflag: tar.TypeReg, Size: 1 << 40, Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
		tw.Flush()
		r := io.MultiReader(&hdr, zeroReader{})
		_, err := archive.Apply(context.Background(), j.root, r, archive.WithMaxBytes(8<<20))
		if !archive.IsLimit(err) {
			t.Fatalf("want a limit error, got %v", err)
		}
		j.check(t)
	})
	t.Run("gzip-bytes", func(t *testing.T) {
		j := newJail(t)
		// 96 MiB of zeros compress to under 100 KiB.
		var raw bytes.Buffer
		tw := tar.NewWriter(&raw)
		tw.WriteHeader(&tar.Header{Name: "bomb", Typeflag: tar.TypeReg, Size: 96 << 20, Mode: 0o644})
		io.CopyN(tw, zeroReader{}, 96<<20)
		tw.Close()
		gz := tartest.Gzip(raw.Bytes())
		dr, c, err := compression.DecompressStream(bytes.NewReader(gz))
		if err != nil || c != compression.Gzip {
			t.Fatalf("decompress: %v %v", c, err)
		}
		defer dr.Close()
		_, err = archive.Apply(context.Background(), j.root, dr, archive.WithMaxBytes(16<<20))
		if !archive.IsLimit(err) {
			t.Fatalf("want a limit error, got %v", err)
		}
		var du int64
		filepath.Walk(j.root, func(p string, fi os.FileInfo, err error) error {
			if err == nil {
				du += fi.Size()
			}
			return nil
		})
		if du > 16<<20 {
			t.Errorf("%d bytes written, bound was %d", du, 16<<20)
		}
		j.check(t)
	})
	t.Run("sum-of-files", func(t *testing.T) {
		j := newJail(t)
		var es []tartest.Entry
		for i := 0; i < 10; i++ {
			es = append(es, tartest.Entry{Name: fmt.Sprintf("f%d", i), Type: tar.TypeReg, Body: make([]byte, 4<<20), Mode: 0o644})
		}
		_, err := apply(t, j.root, tartest.Tar(es...), archive.WithMaxBytes(16<<20))
		if !archive.IsLimit(err) || !strings.Contains(err.Error(), `"f4"`) {
			t.Fatalf("want a limit error at f4, got %v", err)
		}
		j.check(t)
	})
	t.Run("entries", func(t *testing.T) {
		j := newJail(t)
		var es []tartest.Entry
		for i := 0; i < 200; i++ {
			es = append(es, tartest.File("f"+strings.Repeat("x", i%50)+string(rune('a'+i%26)), ""))
		}
		_, err := apply(t, j.root, tartest.Tar(es...), archive.WithMaxEntries(100))
		if !archive.IsLimit(err) {
			t.Fatalf("want a limit error, got %v", err)
		}
		j.check(t)
	})
	t.Run("trailing-garbage", func(t *testing.T) {
		j := newJail(t)
		data := append(tartest.Tar(tartest.File("a", "a")), make([]byte, 64<<10)...)
		_, err := apply(t, j.root, data, archive.WithMaxBytes(16<<10))
		if !archive.IsLimit(err) {
			t.Fatalf("want a limit error for data after the end of the archive, got %v", err)
		}
	})
}

func TestApplyCanceled(t *testing.T) {
	testutil.RequireRoot(t)
	j := newJail(t)
	var es []tartest.Entry
	for i := 0; i < 1000; i++ {
		es = append(es, tartest.File("f"+strings.Repeat("x", i%100)+string(rune('a'+i/100)), ""))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := archive.Apply(ctx, j.root, bytes.NewReader(tartest.Tar(es...)))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

// TestApplySymlinkReplacedByDir: a name resolved through a symlink and then
// replaced by a real directory must not keep sending writes to the old target.
func TestApplySymlinkReplacedByDir(t *testing.T) {
	testutil.RequireRoot(t)
	j := newJail(t)
	data := tartest.Tar(
		tartest.Dir("b"), tartest.Symlink("a", "b"), tartest.File("a/one", "1"),
		tartest.Dir("a"), tartest.File("a/two", "2"),
	)
	if _, err := apply(t, j.root, data); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(j.root, "a/two")); err != nil {
		t.Errorf("a/two: %v", err)
	}
	if _, err := os.Stat(filepath.Join(j.root, "b/two")); !os.IsNotExist(err) {
		t.Errorf("a/two was written through the replaced symlink into b: %v", err)
	}
	if _, err := os.Stat(filepath.Join(j.root, "b/one")); err != nil {
		t.Errorf("b/one: %v", err)
	}
	j.check(t)
}
