package contenttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/internal/errdefs"
)

// Factory returns a fresh, empty store and the context to use it with.
type Factory func(t *testing.T) (context.Context, content.Store)

// Run runs the whole suite against stores made by newStore.
func Run(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, context.Context, content.Store)
	}{
		{"WriteReadVerify", testWriteRead},
		{"SHA512", testSHA512},
		{"EmptyBlob", testEmpty},
		{"Resume", testResume},
		{"WriteBlobResumes", testWriteBlobResume},
		{"Abort", testAbort},
		{"Truncate", testTruncate},
		{"LockedRef", testLocked},
		{"ConcurrentSameDigest", testConcurrentSameDigest},
		{"WrongDigest", testWrongDigest},
		{"WrongSize", testWrongSize},
		{"AlreadyExists", testExists},
		{"LabelsWalkUpdate", testLabels},
		{"Delete", testDelete},
		{"Statuses", testStatuses},
		{"BadInput", testBadInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cs := newStore(t)
			tc.fn(t, ctx, cs)
		})
	}
}

// Blob returns n random bytes and their descriptor.
func Blob(t testing.TB, n int) ([]byte, ocispec.Descriptor) {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b, ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(b), Size: int64(n)}
}

func mustWrite(t *testing.T, ctx context.Context, cs content.Store, ref string, b []byte, desc ocispec.Descriptor) {
	t.Helper()
	if err := content.WriteBlob(ctx, cs, ref, bytes.NewReader(b), desc); err != nil {
		t.Fatalf("WriteBlob %s: %v", ref, err)
	}
}

func assertBlob(t *testing.T, ctx context.Context, cs content.Store, b []byte, desc ocispec.Descriptor) {
	t.Helper()
	got, err := content.ReadBlob(ctx, cs, desc)
	if err != nil {
		t.Fatalf("ReadBlob %s: %v", desc.Digest, err)
	}
	if !bytes.Equal(got, b) {
		t.Fatalf("ReadBlob %s: content differs", desc.Digest)
	}
	info, err := cs.Info(ctx, desc.Digest)
	if err != nil {
		t.Fatalf("Info %s: %v", desc.Digest, err)
	}
	if info.Size != desc.Size || info.Digest != desc.Digest {
		t.Fatalf("Info = %+v, want digest %s size %d", info, desc.Digest, desc.Size)
	}
}

func assertAbsent(t *testing.T, ctx context.Context, cs content.Store, d digest.Digest) {
	t.Helper()
	if _, err := cs.Info(ctx, d); !errdefs.IsNotFound(err) {
		t.Fatalf("Info %s = %v, want not found", d, err)
	}
	if _, err := cs.ReaderAt(ctx, ocispec.Descriptor{Digest: d}); !errdefs.IsNotFound(err) {
		t.Fatalf("ReaderAt %s = %v, want not found", d, err)
	}
}

func testWriteRead(t *testing.T, ctx context.Context, cs content.Store) {
	b, desc := Blob(t, 1<<20+17)
	w, err := cs.Writer(ctx, "write-read", desc)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := 0; i < len(b); i += 4000 {
		end := min(i+4000, len(b))
		if _, err := w.Write(b[i:end]); err != nil {
			t.Fatal(err)
		}
	}
	if w.Offset() != desc.Size || w.Digest() != desc.Digest {
		t.Fatalf("writer offset %d digest %s, want %d %s", w.Offset(), w.Digest(), desc.Size, desc.Digest)
	}
	if err := w.Commit(ctx, desc.Size, desc.Digest); err != nil {
		t.Fatal(err)
	}
	assertBlob(t, ctx, cs, b, desc)
	ra, err := cs.ReaderAt(ctx, desc)
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	part := make([]byte, 100)
	if _, err := ra.ReadAt(part, 5000); err != nil || !bytes.Equal(part, b[5000:5100]) {
		t.Fatalf("ReadAt(5000) = %v, content equal %v", err, bytes.Equal(part, b[5000:5100]))
	}
	if _, err := cs.Status(ctx, "write-read"); !errdefs.IsNotFound(err) {
		t.Fatalf("Status after commit = %v, want not found", err)
	}
}

func testSHA512(t *testing.T, ctx context.Context, cs content.Store) {
	b := []byte("sha512 content for berth")
	desc := ocispec.Descriptor{Digest: digest.SHA512.FromBytes(b), Size: int64(len(b))}
	mustWrite(t, ctx, cs, "sha512", b, desc)
	assertBlob(t, ctx, cs, b, desc)
	// A sha256 digest expected of a writer opened without a digest also works.
	b2 := []byte("no digest known up front")
	w, err := cs.Writer(ctx, "nodigest", ocispec.Descriptor{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write(b2)
	want := digest.SHA512.FromBytes(b2)
	if err := w.Commit(ctx, int64(len(b2)), want); err != nil {
		t.Fatal(err)
	}
	assertBlob(t, ctx, cs, b2, ocispec.Descriptor{Digest: want, Size: int64(len(b2))})
}

func testEmpty(t *testing.T, ctx context.Context, cs content.Store) {
	desc := ocispec.Descriptor{Digest: digest.FromBytes(nil), Size: 0}
	mustWrite(t, ctx, cs, "empty", nil, desc)
	assertBlob(t, ctx, cs, nil, desc)
}

func testResume(t *testing.T, ctx context.Context, cs content.Store) {
	b, desc := Blob(t, 300000)
	w, err := cs.Writer(ctx, "resume", desc)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b[:123456])
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := cs.Status(ctx, "resume")
	if err != nil {
		t.Fatal(err)
	}
	if st.Offset != 123456 || st.Total != desc.Size || st.Expected != desc.Digest || st.Ref != "resume" {
		t.Fatalf("Status = %+v", st)
	}
	w, err = cs.Writer(ctx, "resume", desc)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Offset() != 123456 || w.Digest() != digest.FromBytes(b[:123456]) {
		t.Fatalf("resumed writer: offset %d digest %s", w.Offset(), w.Digest())
	}
	w.Write(b[123456:])
	if err := w.Commit(ctx, desc.Size, desc.Digest); err != nil {
		t.Fatal(err)
	}
	assertBlob(t, ctx, cs, b, desc)
}

// onlyReader hides Seek, so WriteBlob must skip bytes.
type onlyReader struct{ io.Reader }

func testWriteBlobResume(t *testing.T, ctx context.Context, cs content.Store) {
	b, desc := Blob(t, 100000)
	w, err := cs.Writer(ctx, "wb-resume", desc)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b[:40000])
	w.Close()
	if err := content.WriteBlob(ctx, cs, "wb-resume", onlyReader{bytes.NewReader(b)}, desc); err != nil {
		t.Fatal(err)
	}
	assertBlob(t, ctx, cs, b, desc)
	// Again: present already, not an error.
	if err := content.WriteBlob(ctx, cs, "wb-resume-2", bytes.NewReader(b), desc); err != nil {
		t.Fatalf("WriteBlob of a present blob: %v", err)
	}
	// A source longer than the descriptor says is refused.
	long, ldesc := Blob(t, 1000)
	ldesc.Size = 999
	ldesc.Digest = digest.FromBytes(long[:999])
	if err := content.WriteBlob(ctx, cs, "too-long", bytes.NewReader(long), ldesc); err == nil {
		t.Fatal("WriteBlob with a source longer than the descriptor succeeded")
	}
	assertAbsent(t, ctx, cs, ldesc.Digest)
	cs.Abort(ctx, "too-long")
}

func testAbort(t *testing.T, ctx context.Context, cs content.Store) {
	b, desc := Blob(t, 5000)
	w, err := cs.Writer(ctx, "abort", desc)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b[:100])
	if err := cs.Abort(ctx, "abort"); !errdefs.IsUnavailable(err) {
		t.Fatalf("Abort of a held ingest = %v, want unavailable", err)
	}
	w.Close()
	if err := cs.Abort(ctx, "abort"); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Status(ctx, "abort"); !errdefs.IsNotFound(err) {
		t.Fatalf("Status after abort = %v, want not found", err)
	}
	if err := cs.Abort(ctx, "abort"); !errdefs.IsNotFound(err) {
		t.Fatalf("second Abort = %v, want not found", err)
	}
	w, err = cs.Writer(ctx, "abort", desc)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Offset() != 0 {
		t.Fatalf("writer after abort starts at %d", w.Offset())
	}
	assertAbsent(t, ctx, cs, desc.Digest)
}

func testTruncate(t *testing.T, ctx context.Context, cs content.Store) {
	b, desc := Blob(t, 5000)
	w, err := cs.Writer(ctx, "truncate", desc)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write([]byte("garbage"))
	if err := w.Truncate(3); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Truncate(3) = %v, want invalid argument", err)
	}
	if err := w.Truncate(0); err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	if err := w.Commit(ctx, desc.Size, desc.Digest); err != nil {
		t.Fatal(err)
	}
	assertBlob(t, ctx, cs, b, desc)
}

func testLocked(t *testing.T, ctx context.Context, cs content.Store) {
	_, desc := Blob(t, 10)
	w, err := cs.Writer(ctx, "locked", desc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Writer(ctx, "locked", desc); !errdefs.IsUnavailable(err) {
		t.Fatalf("second Writer = %v, want unavailable", err)
	}
	w.Close()
	w2, err := cs.Writer(ctx, "locked", desc)
	if err != nil {
		t.Fatalf("Writer after Close: %v", err)
	}
	w2.Close()
	cs.Abort(ctx, "locked")
}

func testConcurrentSameDigest(t *testing.T, ctx context.Context, cs content.Store) {
	b, desc := Blob(t, 200000)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = content.WriteBlob(ctx, cs, fmt.Sprintf("concurrent-%d", i), bytes.NewReader(b), desc)
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	assertBlob(t, ctx, cs, b, desc)
	sts, err := cs.ListStatuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 0 {
		t.Fatalf("ingests left after concurrent writes: %+v", sts)
	}
}

func testWrongDigest(t *testing.T, ctx context.Context, cs content.Store) {
	b, desc := Blob(t, 1000)
	wrong := digest.FromString("something else")
	w, err := cs.Writer(ctx, "wrong-digest", ocispec.Descriptor{Digest: wrong, Size: desc.Size})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write(b)
	err = w.Commit(ctx, desc.Size, wrong)
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), wrong.String()) || !strings.Contains(err.Error(), desc.Digest.String()) {
		t.Fatalf("Commit with wrong digest = %v, want failed precondition naming expected and actual", err)
	}
	assertAbsent(t, ctx, cs, wrong)
	assertAbsent(t, ctx, cs, desc.Digest)
	// The ingest is reset so a retry starts clean.
	if w.Offset() != 0 {
		t.Fatalf("offset after digest mismatch = %d, want 0", w.Offset())
	}
}

func testWrongSize(t *testing.T, ctx context.Context, cs content.Store) {
	b, desc := Blob(t, 1000)
	w, err := cs.Writer(ctx, "wrong-size", desc)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write(b[:999])
	err = w.Commit(ctx, desc.Size, desc.Digest)
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "1000") || !strings.Contains(err.Error(), "999") {
		t.Fatalf("Commit short = %v, want failed precondition naming both sizes", err)
	}
	assertAbsent(t, ctx, cs, desc.Digest)
	// Short data stays resumable: finish it.
	if w.Offset() != 999 {
		t.Fatalf("offset after short commit = %d", w.Offset())
	}
	w.Write(b[999:])
	if err := w.Commit(ctx, desc.Size, desc.Digest); err != nil {
		t.Fatal(err)
	}
	assertBlob(t, ctx, cs, b, desc)
}

func testExists(t *testing.T, ctx context.Context, cs content.Store) {
	b, desc := Blob(t, 100)
	mustWrite(t, ctx, cs, "exists-1", b, desc)
	if _, err := cs.Writer(ctx, "exists-2", desc); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("Writer for a committed digest = %v, want already exists", err)
	}
	w, err := cs.Writer(ctx, "exists-3", ocispec.Descriptor{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write(b)
	if err := w.Commit(ctx, desc.Size, desc.Digest); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("Commit of a present blob = %v, want already exists", err)
	}
	if _, err := cs.Status(ctx, "exists-3"); !errdefs.IsNotFound(err) {
		t.Fatalf("ingest left after already-exists commit: %v", err)
	}
}

func testLabels(t *testing.T, ctx context.Context, cs content.Store) {
	b1, d1 := Blob(t, 10)
	b2, d2 := Blob(t, 20)
	if err := content.WriteBlob(ctx, cs, "l1", bytes.NewReader(b1), d1, content.WithLabels(map[string]string{"berth.io/role": "config", "a": "1"})); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, ctx, cs, "l2", b2, d2)
	info, err := cs.Info(ctx, d1.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if info.Labels["berth.io/role"] != "config" || info.Labels["a"] != "1" {
		t.Fatalf("labels = %v", info.Labels)
	}
	walk := func(filters ...string) []digest.Digest {
		var out []digest.Digest
		if err := cs.Walk(ctx, func(i content.Info) error { out = append(out, i.Digest); return nil }, filters...); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := walk(); len(got) != 2 {
		t.Fatalf("Walk() = %v, want 2 blobs", got)
	}
	if got := walk(`labels."berth.io/role"==config`); len(got) != 1 || got[0] != d1.Digest {
		t.Fatalf("Walk(label) = %v, want %s", got, d1.Digest)
	}
	if got := walk("digest==" + d2.Digest.String()); len(got) != 1 || got[0] != d2.Digest {
		t.Fatalf("Walk(digest) = %v", got)
	}
	if _, err := cs.Update(ctx, content.Info{Digest: d2.Digest, Labels: map[string]string{"berth.io/role": "config"}}, "labels.berth.io/role"); err != nil {
		t.Fatal(err)
	}
	if got := walk(`labels."berth.io/role"==config`); len(got) != 2 {
		t.Fatalf("Walk(label) after Update = %v, want 2", got)
	}
	// Remove one label, keep the other.
	info, err = cs.Update(ctx, content.Info{Digest: d1.Digest}, "labels.a")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := info.Labels["a"]; ok || info.Labels["berth.io/role"] != "config" {
		t.Fatalf("labels after removing a: %v", info.Labels)
	}
	if _, err := cs.Update(ctx, content.Info{Digest: d1.Digest}, "size"); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Update(size) = %v, want invalid argument", err)
	}
	if _, err := cs.Update(ctx, content.Info{Digest: digest.FromString("absent")}); !errdefs.IsNotFound(err) {
		t.Fatalf("Update(absent) = %v, want not found", err)
	}
	if err := cs.Walk(ctx, func(content.Info) error { return nil }, `labels."unterminated`); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Walk(bad filter) = %v, want invalid argument", err)
	}
	stop := errors.New("stop")
	if err := cs.Walk(ctx, func(content.Info) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Walk did not return fn's error: %v", err)
	}
}

func testDelete(t *testing.T, ctx context.Context, cs content.Store) {
	b, desc := Blob(t, 100)
	mustWrite(t, ctx, cs, "delete", b, desc)
	if err := cs.Delete(ctx, desc.Digest); err != nil {
		t.Fatal(err)
	}
	assertAbsent(t, ctx, cs, desc.Digest)
	if err := cs.Delete(ctx, desc.Digest); !errdefs.IsNotFound(err) {
		t.Fatalf("second Delete = %v, want not found", err)
	}
	// Can be written again.
	mustWrite(t, ctx, cs, "delete", b, desc)
	assertBlob(t, ctx, cs, b, desc)
}

func testStatuses(t *testing.T, ctx context.Context, cs content.Store) {
	for i := 0; i < 3; i++ {
		b, desc := Blob(t, 100)
		w, err := cs.Writer(ctx, fmt.Sprintf("status-%d", i), desc)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b[:10*(i+1)])
		w.Close()
	}
	sts, err := cs.ListStatuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 3 {
		t.Fatalf("ListStatuses = %+v, want 3", sts)
	}
	for _, st := range sts {
		var i int
		fmt.Sscanf(st.Ref, "status-%d", &i)
		if st.Offset != int64(10*(i+1)) || st.Total != 100 {
			t.Errorf("status %+v: want offset %d total 100", st, 10*(i+1))
		}
	}
	sts, err = cs.ListStatuses(ctx, "ref==status-1")
	if err != nil || len(sts) != 1 || sts[0].Ref != "status-1" {
		t.Fatalf("ListStatuses(ref==status-1) = %+v, %v", sts, err)
	}
	for i := 0; i < 3; i++ {
		if err := cs.Abort(ctx, fmt.Sprintf("status-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
}

func testBadInput(t *testing.T, ctx context.Context, cs content.Store) {
	for _, d := range []digest.Digest{"sha256:../../etc/passwd", "md5:d41d8cd98f00b204e9800998ecf8427e", "nonsense", "sha256:ABC"} {
		if _, err := cs.Info(ctx, d); err == nil || errdefs.IsNotFound(err) {
			t.Errorf("Info(%q) = %v, want a validation error", d, err)
		}
		if _, err := cs.Writer(ctx, "bad", ocispec.Descriptor{Digest: d}); err == nil {
			t.Errorf("Writer with digest %q succeeded", d)
		}
		if err := cs.Delete(ctx, d); err == nil || errdefs.IsNotFound(err) {
			t.Errorf("Delete(%q) = %v, want a validation error", d, err)
		}
	}
	if _, err := cs.Writer(ctx, "", ocispec.Descriptor{}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Writer with empty ref = %v, want invalid argument", err)
	}
	if _, err := cs.Writer(ctx, "neg", ocispec.Descriptor{Size: -1}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Writer with size -1 = %v, want invalid argument", err)
	}
	sts, _ := cs.ListStatuses(ctx)
	if len(sts) != 0 {
		t.Errorf("bad input left ingests: %+v", sts)
	}
	// ReadBlob refuses a descriptor whose size disagrees with the blob.
	b, desc := Blob(t, 64)
	mustWrite(t, ctx, cs, "readblob", b, desc)
	wrong := desc
	wrong.Size = 63
	if _, err := content.ReadBlob(ctx, cs, wrong); err == nil {
		t.Error("ReadBlob with a wrong size succeeded")
	}
	huge := desc
	huge.Size = content.MaxBlobInMemory + 1
	if _, err := content.ReadBlob(ctx, cs, huge); !errdefs.IsInvalidArgument(err) {
		t.Errorf("ReadBlob of a huge descriptor = %v, want invalid argument", err)
	}
}
