package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-containers/berth/archive"
	"github.com/berth-containers/berth/archive/tartest"
)

// FuzzApply feeds arbitrary bytes to Apply: it may fail, but must never
// panic, hang or touch anything outside the root.
func FuzzApply(f *testing.F) {
	f.Add(tartest.Tar(tartest.File("a", "b")))
	f.Add(tartest.Tar(tartest.Symlink("s", "/"), tartest.File("s/x", "y")))
	f.Add(tartest.Tar(tartest.Symlink("s", "../.."), tartest.Dir("s/d"), tartest.Hardlink("s/d/h", "s")))
	f.Add(tartest.Tar(tartest.Dir("d"), tartest.Opaque("d"), tartest.Whiteout("d/x"), tartest.File(".wh...", "")))
	f.Add(tartest.Tar(tartest.Hardlink("h", "../x"), tartest.File("../../y", "z")))
	f.Add(tartest.Tar(tartest.Entry{Name: "dev", Type: tar.TypeChar, Major: 1, Minor: 3, Mode: 0o666},
		tartest.Entry{Name: "x", Type: tar.TypeReg, Body: []byte("x"), Xattrs: map[string]string{"user.a": "b", "trusted.overlay.opaque": "y"}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if os.Geteuid() != 0 {
			t.Fatal("FuzzApply needs root")
		}
		j := newJail(t)
		for _, mode := range []archive.WhiteoutMode{archive.WhiteoutOverlay, archive.WhiteoutDelete} {
			root := filepath.Join(j.root, "m"+string(rune('0'+mode)))
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			_, _ = archive.Apply(context.Background(), root, bytes.NewReader(data),
				archive.WithWhiteouts(mode), archive.WithMaxBytes(1<<20), archive.WithMaxEntries(1000), archive.WithoutSync())
			j.check(t)
		}
	})
}
