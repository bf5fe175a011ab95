package metadata

import (
	"bytes"
	"context"
	"testing"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/content/contenttest"
	"github.com/berth-containers/berth/internal/errdefs"
)

func TestContentSuite(t *testing.T) {
	contenttest.Run(t, func(t *testing.T) (context.Context, content.Store) {
		e := newEnv(t)
		return nsCtx("suite"), e.db.ContentStore()
	})
}

func TestContentNamespaces(t *testing.T) {
	e := newEnv(t)
	cs := e.db.ContentStore()
	a, b := nsCtx("a"), nsCtx("b")
	data, desc := contenttest.Blob(t, 4096)
	if err := content.WriteBlob(a, cs, "x", bytes.NewReader(data), desc); err != nil {
		t.Fatal(err)
	}
	// B cannot see A's blob, nor read it, nor claim it by digest alone.
	if _, err := cs.Info(b, desc.Digest); !errdefs.IsNotFound(err) {
		t.Fatalf("ns b sees ns a's blob: %v", err)
	}
	if _, err := cs.ReaderAt(b, desc); !errdefs.IsNotFound(err) {
		t.Fatalf("ns b reads ns a's blob: %v", err)
	}
	w, err := cs.Writer(b, "x", desc)
	if err != nil {
		t.Fatalf("ns b writer for a blob stored for ns a: %v", err)
	}
	if err := w.Commit(b, desc.Size, desc.Digest); err == nil {
		t.Fatal("ns b committed a blob without writing its bytes")
	}
	w.Close()
	if _, err := cs.Info(b, desc.Digest); !errdefs.IsNotFound(err) {
		t.Fatalf("failed commit made the blob visible in ns b: %v", err)
	}
	cs.Abort(b, "x")
	// Writing the bytes gives B its own reference; the data is stored once.
	if err := content.WriteBlob(b, cs, "x", bytes.NewReader(data), desc); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Info(b, desc.Digest); err != nil {
		t.Fatal(err)
	}
	if n := len(e.blobsOnDisk(t)); n != 1 {
		t.Fatalf("%d blobs on disk, want 1 shared", n)
	}
	// Ingests are per namespace too.
	_, other := contenttest.Blob(t, 10)
	w, err = cs.Writer(a, "partial", other)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := cs.Status(b, "partial"); !errdefs.IsNotFound(err) {
		t.Fatalf("ns b sees ns a's ingest: %v", err)
	}
	if sts, _ := cs.ListStatuses(b); len(sts) != 0 {
		t.Fatalf("ns b lists ns a's ingests: %+v", sts)
	}
	if sts, _ := cs.ListStatuses(a); len(sts) != 1 || sts[0].Ref != "partial" {
		t.Fatalf("ns a ingests = %+v", sts)
	}
	// Deleting A's reference leaves B's.
	if err := cs.Delete(a, desc.Digest); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Info(b, desc.Digest); err != nil {
		t.Fatalf("ns b lost the blob when ns a deleted its reference: %v", err)
	}
	// AddContent shares explicitly.
	if err := e.db.AddContent(nsCtx("c"), desc.Digest, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if info, err := cs.Info(nsCtx("c"), desc.Digest); err != nil || info.Labels["k"] != "v" {
		t.Fatalf("AddContent: %+v %v", info, err)
	}
	// No namespace on the request.
	if _, err := cs.Info(context.Background(), desc.Digest); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Info without namespace = %v, want invalid argument", err)
	}
}
