package snapshot

import (
	"context"
	"fmt"
	"time"

	"github.com/berth-containers/berth/mount"
)

// Kind is the state of a snapshot.
type Kind int

const (
	KindUnknown Kind = iota
	KindView
	KindActive
	KindCommitted
)

func (k Kind) String() string {
	switch k {
	case KindView:
		return "view"
	case KindActive:
		return "active"
	case KindCommitted:
		return "committed"
	}
	return "unknown"
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, error) {
	switch s {
	case "view":
		return KindView, nil
	case "active":
		return KindActive, nil
	case "committed":
		return KindCommitted, nil
	}
	return KindUnknown, fmt.Errorf("snapshot kind %q: unknown", s)
}

// Info describes one snapshot.
type Info struct {
	Kind    Kind
	Name    string // the key
	Parent  string // name of the committed parent, "" for none
	Labels  map[string]string
	Created time.Time
	Updated time.Time
}

// Usage is the disk space a snapshot's own changes use (not its parents').
type Usage struct {
	Inodes int64
	Size   int64
}

// Add accumulates u into x.
func (x *Usage) Add(u Usage) { x.Inodes += u.Inodes; x.Size += u.Size }

// Snapshotter manages snapshots. Keys are unique across every kind. A parent
// must be committed. Remove refuses a snapshot that has children.
type Snapshotter interface {
	// Stat returns the snapshot's info; errdefs.ErrNotFound when absent.
	Stat(ctx context.Context, key string) (Info, error)
	// Update changes labels ("labels" or "labels.<key>" field paths; all
	// labels when none are given). Other fields are immutable.
	Update(ctx context.Context, info Info, fieldpaths ...string) (Info, error)
	// Usage of an active snapshot is measured now; of a committed one, as it
	// was at commit.
	Usage(ctx context.Context, key string) (Usage, error)
	// Mounts returns the mounts of an active snapshot or view.
	Mounts(ctx context.Context, key string) ([]mount.Mount, error)
	// Prepare creates an active snapshot on top of parent ("" for empty).
	Prepare(ctx context.Context, key, parent string, opts ...Opt) ([]mount.Mount, error)
	// View creates a read-only snapshot of parent.
	View(ctx context.Context, key, parent string, opts ...Opt) ([]mount.Mount, error)
	// Commit turns the active snapshot key into the committed snapshot name;
	// key no longer exists afterwards.
	Commit(ctx context.Context, name, key string, opts ...Opt) error
	// Remove deletes a snapshot (and its data); ErrFailedPrecondition when
	// it has children.
	Remove(ctx context.Context, key string) error
	// Walk calls fn for every snapshot (filters: "kind==committed",
	// "parent==<name>", "labels.<k>==<v>"; several filters must all match).
	Walk(ctx context.Context, fn func(context.Context, Info) error, filters ...string) error
	// Close releases the backend's resources.
	Close() error
}

// Opt changes the Info of a snapshot being created or committed.
type Opt func(*Info) error

// WithLabels merges labels into the snapshot's labels.
func WithLabels(labels map[string]string) Opt {
	return func(i *Info) error {
		if i.Labels == nil {
			i.Labels = map[string]string{}
		}
		for k, v := range labels {
			i.Labels[k] = v
		}
		return nil
	}
}

// Cleaner is implemented by snapshotters that can find and remove data on
// disk that their own records do not know (left by a crash).
type Cleaner interface {
	Cleanup(ctx context.Context) error
}
