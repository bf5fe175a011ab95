package local

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/testutil"
)

// crashData is what the child writes: deterministic so the parent can
// verify the resumed blob.
func crashData() []byte {
	b := make([]byte, 3<<20)
	for i := range b {
		b[i] = byte(i*7 + i>>11)
	}
	return b
}

const crashEnv = "BERTH_CONTENT_CRASH_ROOT"

// TestCrashChild is the child half of TestIngestSurvivesSIGKILL: it writes
// part of a blob, says so, and waits to be killed.
func TestCrashChild(t *testing.T) {
	root := os.Getenv(crashEnv)
	if root == "" {
		return // only meaningful when re-executed by the parent test
	}
	cs, err := NewStore(root)
	if err != nil {
		t.Fatal(err)
	}
	b := crashData()
	desc := ocispec.Descriptor{Digest: digest.FromBytes(b), Size: int64(len(b))}
	w, err := cs.Writer(context.Background(), "crash", desc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b[:1<<20+333]); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("WROTE\n")
	select {} // killed here, writer open, nothing committed
}

func TestIngestSurvivesSIGKILL(t *testing.T) {
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+root)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.Contains(line, "WROTE") {
		t.Fatalf("child did not report its write: %q %v", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	cs, err := NewStore(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b := crashData()
	desc := ocispec.Descriptor{Digest: digest.FromBytes(b), Size: int64(len(b))}
	st, err := cs.Status(ctx, "crash")
	if err != nil {
		t.Fatalf("ingest lost after SIGKILL: %v", err)
	}
	if st.Offset != 1<<20+333 {
		t.Fatalf("ingest offset after SIGKILL = %d, want %d", st.Offset, 1<<20+333)
	}
	if _, err := cs.Info(ctx, desc.Digest); !errdefs.IsNotFound(err) {
		t.Fatalf("blob visible before commit: %v", err)
	}
	// Resume through WriteBlob: only the rest is needed.
	if err := content.WriteBlob(ctx, cs, "crash", bytes.NewReader(b), desc); err != nil {
		t.Fatal(err)
	}
	got, err := content.ReadBlob(ctx, cs, desc)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("resumed blob: %v (equal %v)", err, bytes.Equal(got, b))
	}
}

// TestFullDisk fills a small tmpfs during an ingest: the write fails with
// ENOSPC, nothing is committed, and the ingest can be aborted.
func TestFullDisk(t *testing.T) {
	testutil.Integration(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m,mode=0700"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	cs, err := Open(filepath.Join(dir, "content"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b := make([]byte, 2<<20)
	for i := range b {
		b[i] = byte(i)
	}
	desc := ocispec.Descriptor{Digest: digest.FromBytes(b), Size: int64(len(b))}
	err = content.WriteBlob(ctx, cs, "full", bytes.NewReader(b), desc)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("WriteBlob on a full disk = %v, want ENOSPC", err)
	}
	if _, err := cs.Info(ctx, desc.Digest); !errdefs.IsNotFound(err) {
		t.Fatalf("blob committed on a full disk: %v", err)
	}
	st, err := cs.Status(ctx, "full")
	if err != nil {
		t.Fatalf("ingest not visible after ENOSPC: %v", err)
	}
	if st.Offset <= 0 || st.Offset >= desc.Size {
		t.Fatalf("ingest offset %d after ENOSPC", st.Offset)
	}
	if err := cs.Abort(ctx, "full"); err != nil {
		t.Fatalf("Abort after ENOSPC: %v", err)
	}
	n := 0
	cs.Walk(ctx, func(content.Info) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d blobs after a failed ingest", n)
	}
	ents, _ := os.ReadDir(filepath.Join(cs.Root(), "ingest"))
	if len(ents) != 0 {
		t.Fatalf("ingest dir not empty after Abort: %v", ents)
	}
	// Space is back: a small blob goes in.
	small := []byte("fits")
	if err := content.WriteBlob(ctx, cs, "small", bytes.NewReader(small), ocispec.Descriptor{Digest: digest.FromBytes(small), Size: 4}); err != nil {
		t.Fatalf("write after abort: %v", err)
	}
}

// TestCommittedBlobIsReadOnlyAndAlone checks the on-disk layout: the blob
// is read-only at blobs/<alg>/<hex> and no temp files are left.
func TestCommittedBlobIsReadOnlyAndAlone(t *testing.T) {
	cs, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := []byte("layout")
	d := digest.FromBytes(b)
	if err := content.WriteBlob(context.Background(), cs, "layout", bytes.NewReader(b), ocispec.Descriptor{Digest: d, Size: int64(len(b))}, content.WithLabels(map[string]string{"k": "v"})); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(cs.Root(), "blobs", "sha256", d.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o444 {
		t.Fatalf("blob mode %v, want 0444", fi.Mode())
	}
	for _, sub := range []string{"blobs/sha256", "ingest", "labels/sha256"} {
		ents, _ := os.ReadDir(filepath.Join(cs.Root(), sub))
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") {
				t.Errorf("temp file left: %s/%s", sub, e.Name())
			}
		}
	}
}
