package overlay

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/mount"
	"github.com/berth-containers/berth/snapshot"
	"github.com/berth-containers/berth/snapshot/internal/store"
)

// Name is the snapshotter's conventional name.
const Name = "overlay"

type driver struct{}

// New opens the overlay snapshotter rooted at root. It fails with a clear
// error when overlayfs cannot be used there (see Supported).
func New(root string) (snapshot.Snapshotter, error) {
	return NewWithLogger(root, nil)
}

// NewWithLogger is New with a logger.
func NewWithLogger(root string, log *slog.Logger) (snapshot.Snapshotter, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("overlay snapshotter root %s: %w", root, err)
	}
	if err := Supported(root); err != nil {
		return nil, err
	}
	return store.New(root, Name, driver{}, log)
}

func (driver) Fill(ctx context.Context, dir string, kind snapshot.Kind, parents []string) error {
	if kind == snapshot.KindActive {
		return os.Mkdir(filepath.Join(dir, "work"), 0o711)
	}
	return nil
}

func (driver) Mounts(dir string, kind snapshot.Kind, parents []string) []mount.Mount {
	fs := filepath.Join(dir, "fs")
	switch {
	case kind == snapshot.KindActive && len(parents) == 0:
		return []mount.Mount{{Type: "bind", Source: fs, Options: []string{"rbind", "rw"}}}
	case kind == snapshot.KindActive:
		return []mount.Mount{{Type: "overlay", Source: "overlay", Options: []string{
			"index=off",
			"lowerdir=" + lowerdirs(parents),
			"upperdir=" + fs,
			"workdir=" + filepath.Join(dir, "work"),
		}}}
	case len(parents) == 0:
		return []mount.Mount{{Type: "bind", Source: fs, Options: []string{"rbind", "ro"}}}
	case len(parents) == 1:
		return []mount.Mount{{Type: "bind", Source: filepath.Join(parents[0], "fs"), Options: []string{"rbind", "ro"}}}
	default:
		return []mount.Mount{{Type: "overlay", Source: "overlay", Options: []string{
			"index=off", "ro", "lowerdir=" + lowerdirs(parents),
		}}}
	}
}

func lowerdirs(parents []string) string {
	l := make([]string, len(parents))
	for i, p := range parents {
		l[i] = filepath.Join(p, "fs")
	}
	return strings.Join(l, ":")
}

// Supported checks that overlayfs can be mounted with an upper directory on
// root's filesystem, by mounting (and unmounting) a small overlay there.
func Supported(root string) error {
	// A probe left by a crash (its mount died with the mount namespace or
	// was detached) is removed first.
	if old, _ := filepath.Glob(filepath.Join(root, "probe-*")); len(old) > 0 {
		for _, o := range old {
			_ = mount.UnmountAll(filepath.Join(o, "merged"), unix.MNT_DETACH)
			_ = os.RemoveAll(o)
		}
	}
	dir, err := os.MkdirTemp(root, "probe-")
	if err != nil {
		return fmt.Errorf("overlay probe in %s: %w", root, err)
	}
	defer os.RemoveAll(dir)
	for _, d := range []string{"lower1", "lower2", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("overlay probe in %s: %w", root, err)
		}
	}
	m := mount.Mount{Type: "overlay", Source: "overlay", Options: []string{
		"index=off",
		"lowerdir=" + filepath.Join(dir, "lower2") + ":" + filepath.Join(dir, "lower1"),
		"upperdir=" + filepath.Join(dir, "upper"),
		"workdir=" + filepath.Join(dir, "work"),
	}}
	merged := filepath.Join(dir, "merged")
	if err := m.Mount(merged); err != nil {
		return fmt.Errorf("overlayfs is not usable on %s (use the native snapshotter): %w", root, err)
	}
	if err := mount.UnmountAll(merged, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("overlay probe: %w", err)
	}
	return nil
}
