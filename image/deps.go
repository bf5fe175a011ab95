package image

import (
	"log/slog"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/images"
	"github.com/berth-containers/berth/leases"
	"github.com/berth-containers/berth/registry"
	"github.com/berth-containers/berth/snapshot"
	"github.com/berth-containers/berth/unpack"
)

// Labels Berth puts on records while handling images.
const (
	// LabelPullLease marks the leases pulls and imports hold while they
	// run; a daemon starting on a root deletes those a previous run left.
	LabelPullLease = "berth.io/transfer"
)

// Deps are the stores and clients image operations work with. Every store
// is namespaced by the context (metadata's views).
type Deps struct {
	Content content.Store
	Images  images.Store
	Leases  leases.Manager
	// Snapshotter (namespaced) and the name metadata knows it by: the GC
	// reference label on an image config is
	// "berth.io/gc.ref.snapshot.<SnapshotterName>".
	Snapshotter     snapshot.Snapshotter
	SnapshotterName string
	// Unpacker over Snapshotter, reading Content (shared by every pull).
	Unpacker *unpack.Unpacker
	// Resolver reaches registries (pull, push).
	Resolver registry.Resolver
	// Concurrency bounds parallel layer transfers (default 6).
	Concurrency int
	Log         *slog.Logger
}

func (d *Deps) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}

func (d *Deps) concurrency() int {
	if d.Concurrency > 0 {
		return d.Concurrency
	}
	return 6
}

// SnapshotLabel is the GC label on an image config naming its top snapshot.
func (d *Deps) SnapshotLabel() string {
	return "berth.io/gc.ref.snapshot." + d.SnapshotterName
}
