package metadata

import (
	"context"
	"testing"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/snapshot"
)

func TestSnapshotNamespaces(t *testing.T) {
	e := newEnv(t)
	sn := e.db.Snapshotter("fake")
	if e.db.Snapshotter("nope") != nil {
		t.Fatal("unknown snapshotter returned a view")
	}
	a, b := nsCtx("a"), nsCtx("b")
	if _, err := sn.Prepare(a, "base-active", ""); err != nil {
		t.Fatal(err)
	}
	if err := sn.Commit(a, "base", "base-active", snapshot.WithLabels(map[string]string{"l": "1"})); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Stat(a, "base-active"); !errdefs.IsNotFound(err) {
		t.Fatalf("active key survives commit: %v", err)
	}
	info, err := sn.Stat(a, "base")
	if err != nil || info.Kind != snapshot.KindCommitted || info.Labels["l"] != "1" || info.Name != "base" {
		t.Fatalf("Stat(base) = %+v, %v", info, err)
	}
	mounts, err := sn.Prepare(a, "work", "base")
	if err != nil || len(mounts) != 1 {
		t.Fatalf("Prepare(work) = %v, %v", mounts, err)
	}
	// The backend sees namespaced keys.
	for _, k := range e.fake.keys() {
		if ns, _, _, ok := ParseBackendKey(k); !ok || ns != "a" {
			t.Fatalf("backend key %q not namespaced", k)
		}
	}
	// Namespace b sees none of it and cannot use a's snapshots as parents.
	if _, err := sn.Stat(b, "base"); !errdefs.IsNotFound(err) {
		t.Fatalf("ns b sees ns a's snapshot: %v", err)
	}
	if _, err := sn.Prepare(b, "x", "base"); !errdefs.IsNotFound(err) {
		t.Fatalf("ns b prepared on ns a's parent: %v", err)
	}
	// The same key may exist in both namespaces.
	if _, err := sn.Prepare(b, "work", ""); err != nil {
		t.Fatal(err)
	}
	n := 0
	sn.Walk(b, func(context.Context, snapshot.Info) error { n++; return nil })
	if n != 1 {
		t.Fatalf("ns b walks %d snapshots, want 1", n)
	}
	var committed []string
	sn.Walk(a, func(_ context.Context, i snapshot.Info) error { committed = append(committed, i.Name); return nil }, "kind==committed")
	if len(committed) != 1 || committed[0] != "base" {
		t.Fatalf("Walk(kind==committed) = %v", committed)
	}
	// Rules.
	if _, err := sn.Prepare(a, "work", "base"); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("duplicate Prepare = %v", err)
	}
	if _, err := sn.Prepare(a, "on-active", "work"); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("Prepare on an active parent = %v", err)
	}
	if err := sn.Commit(a, "base", "work"); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("Commit onto an existing name = %v", err)
	}
	if err := sn.Remove(a, "base"); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("Remove of a parent = %v", err)
	}
	if _, err := sn.View(a, "view", "base"); err != nil {
		t.Fatal(err)
	}
	if err := sn.Commit(a, "v2", "view"); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("Commit of a view = %v", err)
	}
	if u, err := sn.Usage(a, "work"); err != nil || u.Size != 1000 {
		t.Fatalf("Usage = %+v, %v", u, err)
	}
	if m, err := sn.Mounts(a, "work"); err != nil || len(m) != 1 {
		t.Fatalf("Mounts = %v, %v", m, err)
	}
	up, err := sn.Update(a, snapshot.Info{Name: "base", Labels: map[string]string{"m": "2"}}, "labels.m")
	if err != nil || up.Labels["l"] != "1" || up.Labels["m"] != "2" {
		t.Fatalf("Update = %+v, %v", up, err)
	}
	if _, err := sn.Update(a, snapshot.Info{Name: "base", Parent: "x"}, "parent"); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Update(parent) = %v", err)
	}
	for _, k := range []string{"work", "view", "base"} {
		if err := sn.Remove(a, k); err != nil {
			t.Fatalf("Remove(%s): %v", k, err)
		}
	}
	if err := sn.Remove(b, "work"); err != nil {
		t.Fatal(err)
	}
	if keys := e.fake.keys(); len(keys) != 0 {
		t.Fatalf("backend keeps %v after every Remove", keys)
	}
	// Bad input leaves nothing behind.
	if _, err := sn.Prepare(a, "", ""); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Prepare with empty key = %v", err)
	}
	if _, err := sn.Prepare(a, "k", "missing"); !errdefs.IsNotFound(err) {
		t.Fatalf("Prepare on a missing parent = %v", err)
	}
	if keys := e.fake.keys(); len(keys) != 0 {
		t.Fatalf("bad input left backend snapshots %v", keys)
	}
}
