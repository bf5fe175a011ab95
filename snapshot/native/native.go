package native

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/berth-containers/berth/mount"
	"github.com/berth-containers/berth/snapshot"
	"github.com/berth-containers/berth/snapshot/internal/store"
)

// Name is the snapshotter's conventional name.
const Name = "native"

type driver struct{}

// New opens the native snapshotter rooted at root.
func New(root string) (snapshot.Snapshotter, error) { return NewWithLogger(root, nil) }

// NewWithLogger is New with a logger.
func NewWithLogger(root string, log *slog.Logger) (snapshot.Snapshotter, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("native snapshotter root %s: %w", root, err)
	}
	return store.New(root, Name, driver{}, log)
}

func (driver) Fill(ctx context.Context, dir string, kind snapshot.Kind, parents []string) error {
	if kind != snapshot.KindActive || len(parents) == 0 {
		return nil
	}
	return CopyTree(ctx, filepath.Join(dir, "fs"), filepath.Join(parents[0], "fs"))
}

func (driver) Mounts(dir string, kind snapshot.Kind, parents []string) []mount.Mount {
	if kind == snapshot.KindActive {
		return []mount.Mount{{Type: "bind", Source: filepath.Join(dir, "fs"), Options: []string{"rbind", "rw"}}}
	}
	src := filepath.Join(dir, "fs")
	if len(parents) > 0 {
		src = filepath.Join(parents[0], "fs")
	}
	return []mount.Mount{{Type: "bind", Source: src, Options: []string{"rbind", "ro"}}}
}
