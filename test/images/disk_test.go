package images

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/testimage"
	"github.com/berth-containers/berth/internal/testregistry"
)

// TestFullDisk: a root on a small tmpfs fills up during a pull: the pull
// fails naming the cause, no image appears, and the daemon keeps serving
// and cleans up after itself.
func TestFullDisk(t *testing.T) {
	d := newDaemon(t, "")
	if err := os.MkdirAll(d.root, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", d.root, "tmpfs", 0, "size=6m,mode=0711"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(d.root, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", d.root, err)
		}
	})
	d.start() // its cleanup (stop) runs before the unmount
	reg := testregistry.New(t, testregistry.Options{})
	img, err := testimage.Generated(13, 2, 16<<20, testimage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg.Seed("big", "latest", img.Blobs, img.Root, img.Manifests...)
	_, stderr, err := d.berthErr("pull", reg.Host+"/big:latest")
	if err == nil || !strings.Contains(stderr, "no space left on device") {
		t.Fatalf("pull onto a full disk: err %v, stderr %q", err, stderr)
	}
	t.Logf("pull onto a full disk: %s", stderr)
	if imgs := listImages(t, d); len(imgs) != 0 {
		t.Fatalf("images after the failed pull: %+v", imgs)
	}
	d.berth("gc")
	mustContain(t, "check", d.berth("system", "check", "--all-ingests", "--remove"), "orphans")
	if left := d.leftovers(); len(left) != 0 {
		t.Fatalf("files left after gc and check: %v", left)
	}
	// The daemon still works: a small image fits.
	busy := busybox(t)
	reg.Seed("busybox", "latest", busy.Blobs, busy.Root, busy.Manifests...)
	d.berth("pull", reg.Host+"/busybox:latest")
}
