package gc

import (
	"context"
	"time"
)

// ResourceType is the kind of a node.
type ResourceType uint8

const (
	ResourceUnknown ResourceType = iota
	ResourceContent
	ResourceSnapshot
	ResourceIngest
	ResourceLease
	ResourceImage
	ResourceContainer
)

// Node is one resource in one namespace. For snapshots Key is
// "<snapshotter>/<key>".
type Node struct {
	Type      ResourceType
	Namespace string
	Key       string
}

// Stats reports what one collection did.
type Stats struct {
	ContentDeleted   int
	SnapshotsDeleted int
	LeasesDeleted    int
	BytesFreed       int64
	Duration         time.Duration
}

// Mark returns every node reachable from roots through refs.
func Mark(ctx context.Context, roots []Node, refs func(Node, func(Node)) error) (map[Node]struct{}, error) {
	seen := make(map[Node]struct{}, len(roots))
	stack := append([]Node(nil), roots...)
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, ok := seen[n]; ok {
			continue
		}
		seen[n] = struct{}{}
		if err := refs(n, func(c Node) {
			if _, ok := seen[c]; !ok {
				stack = append(stack, c)
			}
		}); err != nil {
			return nil, err
		}
	}
	return seen, nil
}
