package registry_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/content/local"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/testimage"
	"github.com/berth-containers/berth/internal/testregistry"
	"github.com/berth-containers/berth/registry"
)

func TestDownloadResumesIngest(t *testing.T) {
	t.Parallel()
	reg := testregistry.New(t, testregistry.Options{})
	img := small(t, 5, testimage.Options{Compression: testimage.Uncompressed})
	reg.Seed("g", "latest", img.Blobs, img.Root)
	cs, err := local.NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	layer := img.Layers[0].Desc
	data := img.Blobs[layer.Digest]

	// An earlier pull got 10000 bytes in, then died.
	w, err := cs.Writer(ctx, "pull-"+layer.Digest.Encoded(), layer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data[:10000]); err != nil {
		t.Fatal(err)
	}
	w.Close()

	r := registry.NewResolver(fast(registry.Options{}))
	f, _ := r.Fetcher(ctx, reg.Host+"/g")
	var last int64
	if err := registry.Download(ctx, f, cs, "pull-"+layer.Digest.Encoded(), layer, func(n int64) { last = n }); err != nil {
		t.Fatal(err)
	}
	if last != layer.Size {
		t.Fatalf("progress ended at %d of %d", last, layer.Size)
	}
	got, err := content.ReadBlob(ctx, cs, layer)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored blob: %v", err)
	}
	reqs := reg.Requests()
	if q := reqs[len(reqs)-1]; q.Method != http.MethodGet || q.Range != "bytes=10000-" {
		t.Fatalf("last request %+v, want a Range from 10000", q)
	}
	// Present already: nothing fetched.
	n := len(reg.Requests())
	if err := registry.Download(ctx, f, cs, "pull-again", layer, nil); err != nil || len(reg.Requests()) != n {
		t.Fatalf("second download: %v, %d requests", err, len(reg.Requests())-n)
	}
	// A corrupt blob is refused by the store and not committed.
	other := img.Layers[1].Desc
	reg.AddFault(&testregistry.Fault{Path: "/blobs/", Corrupt: true})
	if err := registry.Download(ctx, f, cs, "pull-bad", other, nil); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("corrupt: %v", err)
	}
	if _, err := cs.Info(ctx, other.Digest); !errdefs.IsNotFound(err) {
		t.Fatalf("corrupt blob committed: %v", err)
	}
}
