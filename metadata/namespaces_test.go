package metadata

import (
	"sort"
	"testing"

	"github.com/berth-containers/berth/internal/errdefs"
)

func TestNamespaces(t *testing.T) {
	e := newEnv(t)
	a, b := nsCtx("a"), nsCtx("b")
	d := writeRaw(t, a, e.db.ContentStore(), []byte("a's"))
	if _, err := e.db.Leases().Create(b); err != nil {
		t.Fatal(err)
	}
	nss, err := e.db.Namespaces(a)
	sort.Strings(nss)
	if err != nil || len(nss) != 2 || nss[0] != "a" || nss[1] != "b" {
		t.Fatalf("Namespaces = %v, %v", nss, err)
	}
	if err := e.db.DeleteNamespace(a, "a"); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("DeleteNamespace of a busy namespace = %v", err)
	}
	if err := e.db.ContentStore().Delete(a, d.Digest); err != nil {
		t.Fatal(err)
	}
	if err := e.db.DeleteNamespace(a, "a"); err != nil {
		t.Fatalf("DeleteNamespace of an emptied namespace: %v", err)
	}
	if err := e.db.DeleteNamespace(a, "a"); !errdefs.IsNotFound(err) {
		t.Fatalf("second DeleteNamespace = %v", err)
	}
	if err := e.db.DeleteNamespace(a, "bad/name"); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("DeleteNamespace(bad/name) = %v", err)
	}
	// The blob's data goes at the next GC.
	mustGC(t, e.db)
	if n := len(e.blobsOnDisk(t)); n != 0 {
		t.Fatalf("%d blobs after the namespace went and GC ran", n)
	}
}
