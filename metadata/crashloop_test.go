package metadata

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/images"
)

const crashLoopEnv = "BERTH_METADATA_CRASHLOOP_ROOT"

// TestCrashLoopChild is the child half of TestKilledAnywhere: it writes
// blobs, creates and deletes images and collects garbage until killed.
func TestCrashLoopChild(t *testing.T) {
	root := os.Getenv(crashLoopEnv)
	if root == "" {
		return // only meaningful when re-executed by the parent test
	}
	db, _ := openCrashDB(t, root)
	ctx := nsCtx("default")
	cs := db.ContentStore()
	rnd := rand.New(rand.NewSource(time.Now().UnixNano()))
	os.Stdout.WriteString("READY\n")
	for i := 0; ; i++ {
		b := make([]byte, 1+rnd.Intn(256<<10))
		rnd.Read(b)
		d := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(b), Size: int64(len(b))}
		if err := content.WriteBlob(ctx, cs, fmt.Sprintf("w-%d", i%4), bytes.NewReader(b), d); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("img-%d", i%7)
		db.Images().Delete(ctx, name)
		if _, err := db.Images().Create(ctx, images.Image{Name: name, Target: d}); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			if _, err := db.GarbageCollect(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestKilledAnywhere kills a writer-and-collector at random moments and
// checks after each restart: no record without its data, every image's
// blob readable and verified, the orphan check cleans up fully.
func TestKilledAnywhere(t *testing.T) {
	root := t.TempDir()
	rnd := rand.New(rand.NewSource(time.Now().UnixNano()))
	for round := 0; round < 6; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashLoopChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashLoopEnv+"="+root)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(out)
		line, err := br.ReadString('\n')
		if err != nil || !strings.Contains(line, "READY") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: child not ready: %q %v %s", round, line, err, stderr.String())
		}
		var rest bytes.Buffer
		drained := make(chan struct{})
		go func() { io.Copy(&rest, br); close(drained) }()
		time.Sleep(time.Duration(20+rnd.Intn(300)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		<-drained
		cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: child ended before the kill: %s\n%s", round, rest.String(), stderr.String())
		}

		db, _ := openCrashDB(t, root)
		ctx := nsCtx("default")
		n := 0
		err = db.ContentStore().Walk(ctx, func(info content.Info) error {
			n++
			if _, err := content.ReadBlob(ctx, db.ContentStore(), ocispec.Descriptor{Digest: info.Digest, Size: info.Size}); err != nil {
				t.Errorf("round %d: record %s: %v", round, info.Digest, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		imgs, err := db.Images().List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, img := range imgs {
			if _, err := content.ReadBlob(ctx, db.ContentStore(), img.Target); err != nil {
				t.Errorf("round %d: image %s: %v", round, img.Name, err)
			}
		}
		o, err := db.Check(ctx, CheckOptions{IngestAge: -1})
		if err != nil {
			t.Fatal(err)
		}
		if len(o.Dangling) != 0 {
			t.Errorf("round %d: dangling records after SIGKILL: %v", round, o.Dangling)
		}
		if _, err := db.RemoveOrphans(ctx, CheckOptions{IngestAge: -1}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GarbageCollect(context.Background()); err != nil {
			t.Fatal(err)
		}
		if o, err := db.Check(ctx, CheckOptions{IngestAge: -1}); err != nil || !o.Empty() {
			t.Fatalf("round %d: orphans after cleanup: %+v %v", round, o, err)
		}
		t.Logf("round %d: %d blobs, %d images", round, n, len(imgs))
		db.Close()
	}
}
