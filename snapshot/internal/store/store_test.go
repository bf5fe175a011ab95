package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-containers/berth/mount"
	"github.com/berth-containers/berth/snapshot"
)

type plainDriver struct{}

func (plainDriver) Fill(context.Context, string, snapshot.Kind, []string) error { return nil }
func (plainDriver) Mounts(dir string, _ snapshot.Kind, _ []string) []mount.Mount {
	return []mount.Mount{{Type: "bind", Source: filepath.Join(dir, "fs"), Options: []string{"rbind", "rw"}}}
}

// TestCleanupRollsForward: a record committed whose directory rename did not
// reach the disk is completed on the next open; unknown directories go.
func TestCleanupRollsForward(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := New(root, "plain", plainDriver{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prepare(ctx, "a", ""); err != nil {
		t.Fatal(err)
	}
	id, err := s.IDOf("a")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "snapshots", id, "fs", "data"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// As if the rename into place had been lost.
	if err := os.Rename(filepath.Join(root, "snapshots", id), filepath.Join(root, "snapshots", "new-"+id)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "snapshots", "new-42", "fs"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err = New(root, "plain", plainDriver{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if b, err := os.ReadFile(filepath.Join(root, "snapshots", id, "fs", "data")); err != nil || string(b) != "x" {
		t.Errorf("snapshot a not rolled forward: %q %v", b, err)
	}
	ents, _ := os.ReadDir(filepath.Join(root, "snapshots"))
	if len(ents) != 1 {
		t.Errorf("%d directories after cleanup, want 1", len(ents))
	}
}
