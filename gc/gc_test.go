package gc

import (
	"context"
	"errors"
	"testing"
)

func TestMark(t *testing.T) {
	n := func(k string) Node { return Node{Type: ResourceContent, Namespace: "ns", Key: k} }
	edges := map[Node][]Node{
		n("index"):    {n("manifest")},
		n("manifest"): {n("config"), n("layer1"), n("layer2")},
		n("config"):   {{Type: ResourceSnapshot, Namespace: "ns", Key: "fake/top"}},
		{Type: ResourceSnapshot, Namespace: "ns", Key: "fake/top"}: {{Type: ResourceSnapshot, Namespace: "ns", Key: "fake/base"}},
		n("cycle-a"):   {n("cycle-b")},
		n("cycle-b"):   {n("cycle-a")},
		n("unreached"): {n("layer1")},
	}
	refs := func(x Node, emit func(Node)) error {
		for _, c := range edges[x] {
			emit(c)
		}
		return nil
	}
	marked, err := Mark(context.Background(), []Node{n("index"), n("cycle-a")}, refs)
	if err != nil {
		t.Fatal(err)
	}
	if len(marked) != 9 {
		t.Fatalf("marked %d nodes, want 9: %v", len(marked), marked)
	}
	if _, ok := marked[n("unreached")]; ok {
		t.Fatal("unreachable node marked")
	}
	if _, ok := marked[Node{Type: ResourceSnapshot, Namespace: "ns", Key: "fake/base"}]; !ok {
		t.Fatal("snapshot parent not marked")
	}
	// The same key in another namespace is another node.
	if _, ok := marked[Node{Type: ResourceContent, Namespace: "other", Key: "index"}]; ok {
		t.Fatal("namespaces mixed up")
	}
	boom := errors.New("boom")
	if _, err := Mark(context.Background(), []Node{n("index")}, func(Node, func(Node)) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Mark with a failing refs = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Mark(ctx, []Node{n("index")}, refs); !errors.Is(err, context.Canceled) {
		t.Fatalf("Mark with a canceled context = %v", err)
	}
}
