package metadata

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/mount"
	"github.com/berth-containers/berth/snapshot"
)

// fakeSnapshotter keeps snapshots in memory, enforcing the contract's
// rules (parent committed, unique keys, no removal of a parent).
type fakeSnapshotter struct {
	mu    sync.Mutex
	snaps map[string]snapshot.Info
	size  map[string]int64
}

func newFake() *fakeSnapshotter {
	return &fakeSnapshotter{snaps: map[string]snapshot.Info{}, size: map[string]int64{}}
}

func (f *fakeSnapshotter) keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.snaps {
		out = append(out, k)
	}
	return out
}

func (f *fakeSnapshotter) Stat(ctx context.Context, key string) (snapshot.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, ok := f.snaps[key]
	if !ok {
		return snapshot.Info{}, fmt.Errorf("fake %q: %w", key, errdefs.ErrNotFound)
	}
	return i, nil
}

func (f *fakeSnapshotter) Update(ctx context.Context, info snapshot.Info, fp ...string) (snapshot.Info, error) {
	return snapshot.Info{}, errdefs.ErrNotImplemented
}

func (f *fakeSnapshotter) Usage(ctx context.Context, key string) (snapshot.Usage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.snaps[key]; !ok {
		return snapshot.Usage{}, fmt.Errorf("fake %q: %w", key, errdefs.ErrNotFound)
	}
	return snapshot.Usage{Size: f.size[key], Inodes: 1}, nil
}

func (f *fakeSnapshotter) Mounts(ctx context.Context, key string) ([]mount.Mount, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.snaps[key]; !ok {
		return nil, fmt.Errorf("fake %q: %w", key, errdefs.ErrNotFound)
	}
	return []mount.Mount{{Type: "fake", Source: key}}, nil
}

func (f *fakeSnapshotter) create(kind snapshot.Kind, key, parent string) ([]mount.Mount, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.snaps[key]; ok {
		return nil, fmt.Errorf("fake %q: %w", key, errdefs.ErrAlreadyExists)
	}
	if parent != "" {
		p, ok := f.snaps[parent]
		if !ok {
			return nil, fmt.Errorf("fake parent %q: %w", parent, errdefs.ErrNotFound)
		}
		if p.Kind != snapshot.KindCommitted {
			return nil, fmt.Errorf("fake parent %q not committed: %w", parent, errdefs.ErrFailedPrecondition)
		}
	}
	now := time.Now()
	f.snaps[key] = snapshot.Info{Kind: kind, Name: key, Parent: parent, Created: now, Updated: now}
	f.size[key] = 1000
	return []mount.Mount{{Type: "fake", Source: key}}, nil
}

func (f *fakeSnapshotter) Prepare(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]mount.Mount, error) {
	return f.create(snapshot.KindActive, key, parent)
}

func (f *fakeSnapshotter) View(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]mount.Mount, error) {
	return f.create(snapshot.KindView, key, parent)
}

func (f *fakeSnapshotter) Commit(ctx context.Context, name, key string, opts ...snapshot.Opt) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, ok := f.snaps[key]
	if !ok {
		return fmt.Errorf("fake %q: %w", key, errdefs.ErrNotFound)
	}
	if i.Kind != snapshot.KindActive {
		return fmt.Errorf("fake %q not active: %w", key, errdefs.ErrFailedPrecondition)
	}
	if _, ok := f.snaps[name]; ok {
		return fmt.Errorf("fake %q: %w", name, errdefs.ErrAlreadyExists)
	}
	delete(f.snaps, key)
	i.Name, i.Kind = name, snapshot.KindCommitted
	f.snaps[name] = i
	f.size[name] = f.size[key]
	delete(f.size, key)
	return nil
}

func (f *fakeSnapshotter) Remove(ctx context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.snaps[key]; !ok {
		return fmt.Errorf("fake %q: %w", key, errdefs.ErrNotFound)
	}
	for k, i := range f.snaps {
		if i.Parent == key {
			return fmt.Errorf("fake %q has child %q: %w", key, k, errdefs.ErrFailedPrecondition)
		}
	}
	delete(f.snaps, key)
	delete(f.size, key)
	return nil
}

func (f *fakeSnapshotter) Walk(ctx context.Context, fn func(context.Context, snapshot.Info) error, fs ...string) error {
	f.mu.Lock()
	var infos []snapshot.Info
	for _, i := range f.snaps {
		infos = append(infos, i)
	}
	f.mu.Unlock()
	for _, i := range infos {
		if err := fn(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeSnapshotter) Close() error { return nil }
