package snapshottest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/mount"
	"github.com/berth-containers/berth/snapshot"
)

// Opener opens the snapshotter rooted at root (called again on the same
// root to test reopening).
type Opener func(root string) (snapshot.Snapshotter, error)

// Run runs the whole suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, context.Context, snapshot.Snapshotter, string)
	}{
		{"Chain", testChain},
		{"ViewReadOnly", testViewReadOnly},
		{"Remove", testRemove},
		{"Usage", testUsage},
		{"LabelsAndWalk", testLabelsAndWalk},
		{"Errors", testErrors},
		{"ManyLayers", testManyLayers},
		{"CommitRules", testCommitRules},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			sn, err := open(root)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sn.Close() })
			tc.fn(t, context.Background(), sn, root)
		})
	}
	t.Run("Reopen", func(t *testing.T) { testReopen(t, open) })
}

// withMounted mounts the snapshot key on a temporary directory for fn.
func withMounted(t *testing.T, sn snapshot.Snapshotter, key string, fn func(dir string)) {
	t.Helper()
	ms, err := sn.Mounts(context.Background(), key)
	if err != nil {
		t.Fatalf("mounts of %s: %v", key, err)
	}
	if err := mount.WithTempMount(context.Background(), ms, func(dir string) error { fn(dir); return nil }); err != nil {
		t.Fatalf("mount %s: %v", key, err)
	}
}

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// tree lists dir as "path" → file content, "path/" for directories and
// "path -> target" for symlinks.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case rel == ".":
		case fi.IsDir():
			out[rel+"/"] = ""
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "-> " + l
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func equalTrees(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	var diffs []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			diffs = append(diffs, "missing "+k)
		} else if g != v {
			diffs = append(diffs, fmt.Sprintf("%s = %q, want %q", k, g, v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, "unexpected "+k)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("%s:\n  %s", what, strings.Join(diffs, "\n  "))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testChain(t *testing.T, ctx context.Context, sn snapshot.Snapshotter, root string) {
	_, err := sn.Prepare(ctx, "a", "")
	must(t, err)
	withMounted(t, sn, "a", func(dir string) {
		write(t, dir, map[string]string{"etc/conf": "1", "etc/gone": "x", "opq/old": "o", "opq/sub/old": "o", "keep": "k", "ren": "r"})
		must(t, os.Symlink("keep", filepath.Join(dir, "link")))
	})
	must(t, sn.Commit(ctx, "l1", "a"))
	_, err = sn.Prepare(ctx, "b", "l1")
	must(t, err)
	withMounted(t, sn, "b", func(dir string) {
		equalTrees(t, "layer 2 sees layer 1", tree(t, dir), map[string]string{
			"etc/": "", "etc/conf": "1", "etc/gone": "x", "opq/": "", "opq/old": "o", "opq/sub/": "", "opq/sub/old": "o",
			"keep": "k", "ren": "r", "link": "-> keep",
		})
		must(t, os.Remove(filepath.Join(dir, "etc/gone")))
		must(t, os.RemoveAll(filepath.Join(dir, "opq")))
		must(t, os.Mkdir(filepath.Join(dir, "opq"), 0o755))
		must(t, os.Rename(filepath.Join(dir, "ren"), filepath.Join(dir, "renamed")))
		write(t, dir, map[string]string{"opq/new": "n", "etc/conf": "2"})
	})
	must(t, sn.Commit(ctx, "l2", "b"))
	_, err = sn.Prepare(ctx, "c", "l2")
	must(t, err)
	withMounted(t, sn, "c", func(dir string) {
		write(t, dir, map[string]string{"etc/gone": "back"})
	})
	must(t, sn.Commit(ctx, "l3", "c"))
	want := map[string]string{
		"etc/": "", "etc/conf": "2", "etc/gone": "back", "opq/": "", "opq/new": "n", "keep": "k", "renamed": "r", "link": "-> keep",
	}
	_, err = sn.View(ctx, "v3", "l3")
	must(t, err)
	withMounted(t, sn, "v3", func(dir string) { equalTrees(t, "view of l3", tree(t, dir), want) })
	_, err = sn.View(ctx, "v1", "l1")
	must(t, err)
	withMounted(t, sn, "v1", func(dir string) {
		if got := tree(t, dir); got["etc/conf"] != "1" || got["etc/gone"] != "x" {
			t.Errorf("view of l1 changed by later layers: %v", got)
		}
	})
	info, err := sn.Stat(ctx, "l3")
	must(t, err)
	if info.Kind != snapshot.KindCommitted || info.Parent != "l2" || info.Name != "l3" {
		t.Errorf("Stat(l3) = %+v", info)
	}
	info, err = sn.Stat(ctx, "v3")
	must(t, err)
	if info.Kind != snapshot.KindView || info.Parent != "l3" {
		t.Errorf("Stat(v3) = %+v", info)
	}
	if _, err := sn.Stat(ctx, "c"); !errdefs.IsNotFound(err) {
		t.Errorf("the committed active key c still exists: %v", err)
	}
}

func testViewReadOnly(t *testing.T, ctx context.Context, sn snapshot.Snapshotter, root string) {
	_, err := sn.Prepare(ctx, "a", "")
	must(t, err)
	withMounted(t, sn, "a", func(dir string) { write(t, dir, map[string]string{"f": "1"}) })
	must(t, sn.Commit(ctx, "l1", "a"))
	for _, parent := range []string{"", "l1"} {
		key := "view-of-" + parent
		_, err = sn.View(ctx, key, parent)
		must(t, err)
		withMounted(t, sn, key, func(dir string) {
			err := os.WriteFile(filepath.Join(dir, "new"), []byte("x"), 0o644)
			if !errors.Is(err, unix.EROFS) {
				t.Errorf("write into view of %q: %v, want EROFS", parent, err)
			}
		})
	}
	if _, err := sn.Mounts(ctx, "l1"); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("Mounts of a committed snapshot: %v, want failed precondition", err)
	}
}

func countDirs(t *testing.T, root string) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(root, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func testRemove(t *testing.T, ctx context.Context, sn snapshot.Snapshotter, root string) {
	_, err := sn.Prepare(ctx, "a", "")
	must(t, err)
	must(t, sn.Commit(ctx, "l1", "a"))
	_, err = sn.Prepare(ctx, "b", "l1")
	must(t, err)
	_, err = sn.View(ctx, "v", "l1")
	must(t, err)
	if err := sn.Remove(ctx, "l1"); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("Remove of a parent with children: %v, want failed precondition", err)
	}
	must(t, sn.Remove(ctx, "b"))
	if err := sn.Remove(ctx, "l1"); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("Remove of a parent with a view: %v, want failed precondition", err)
	}
	must(t, sn.Remove(ctx, "v"))
	must(t, sn.Remove(ctx, "l1"))
	if err := sn.Remove(ctx, "l1"); !errdefs.IsNotFound(err) {
		t.Errorf("second Remove: %v, want not found", err)
	}
	if n := countDirs(t, root); n != 0 {
		t.Errorf("%d snapshot directories left after removing everything", n)
	}
	n := 0
	must(t, sn.Walk(ctx, func(context.Context, snapshot.Info) error { n++; return nil }))
	if n != 0 {
		t.Errorf("Walk finds %d snapshots after removing everything", n)
	}
}

func testUsage(t *testing.T, ctx context.Context, sn snapshot.Snapshotter, root string) {
	_, err := sn.Prepare(ctx, "a", "")
	must(t, err)
	withMounted(t, sn, "a", func(dir string) {
		big := bytes.Repeat([]byte{1}, 1<<20)
		must(t, os.WriteFile(filepath.Join(dir, "big"), big, 0o644))
		must(t, os.Link(filepath.Join(dir, "big"), filepath.Join(dir, "big2")))
	})
	u, err := sn.Usage(ctx, "a")
	must(t, err)
	if u.Size < 1<<20 || u.Size > 1<<20+64<<10 || u.Inodes != 2 {
		t.Errorf("usage of active a = %+v, want ~1 MiB (hardlink counted once) and 2 inodes", u)
	}
	must(t, sn.Commit(ctx, "l1", "a"))
	u2, err := sn.Usage(ctx, "l1")
	must(t, err)
	if u2 != u {
		t.Errorf("usage of committed l1 = %+v, want %+v", u2, u)
	}
}

func testLabelsAndWalk(t *testing.T, ctx context.Context, sn snapshot.Snapshotter, root string) {
	_, err := sn.Prepare(ctx, "a", "", snapshot.WithLabels(map[string]string{"x": "1", "y": "2"}))
	must(t, err)
	must(t, sn.Commit(ctx, "l1", "a", snapshot.WithLabels(map[string]string{"z": "3"})))
	info, err := sn.Stat(ctx, "l1")
	must(t, err)
	if info.Labels["x"] != "1" || info.Labels["z"] != "3" {
		t.Errorf("labels after commit: %v", info.Labels)
	}
	info.Labels = map[string]string{"x": "9"}
	info, err = sn.Update(ctx, info, "labels.x", "labels.y")
	must(t, err)
	if info.Labels["x"] != "9" || info.Labels["z"] != "3" || info.Labels["y"] != "" {
		t.Errorf("labels after Update(labels.x, labels.y): %v", info.Labels)
	}
	if _, err := sn.Update(ctx, snapshot.Info{Name: "l1", Parent: "other"}, "parent"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Update(parent): %v, want invalid argument", err)
	}
	_, err = sn.Prepare(ctx, "b", "l1")
	must(t, err)
	_, err = sn.View(ctx, "v", "l1")
	must(t, err)
	walk := func(filters ...string) []string {
		var names []string
		must(t, sn.Walk(ctx, func(_ context.Context, i snapshot.Info) error { names = append(names, i.Name); return nil }, filters...))
		sort.Strings(names)
		return strings.Split(strings.Join(names, ","), ",")
	}
	for _, c := range []struct {
		filters []string
		want    string
	}{
		{nil, "b,l1,v"},
		{[]string{"kind==committed"}, "l1"},
		{[]string{"parent==l1"}, "b,v"},
		{[]string{"parent==l1,kind==view"}, "v"},
		{[]string{"labels.z==3"}, "l1"},
		{[]string{"kind!=committed"}, "b,v"},
	} {
		if got := strings.Join(walk(c.filters...), ","); got != c.want {
			t.Errorf("Walk(%v) = %s, want %s", c.filters, got, c.want)
		}
	}
	if err := sn.Walk(ctx, func(context.Context, snapshot.Info) error { return nil }, "bogus"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Walk with a bad filter: %v", err)
	}
}

func testErrors(t *testing.T, ctx context.Context, sn snapshot.Snapshotter, root string) {
	if _, err := sn.Prepare(ctx, "a", "missing"); !errdefs.IsNotFound(err) {
		t.Errorf("Prepare on a missing parent: %v, want not found", err)
	}
	if _, err := sn.Prepare(ctx, "", ""); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Prepare with an empty key: %v", err)
	}
	_, err := sn.Prepare(ctx, "act", "")
	must(t, err)
	if _, err := sn.Prepare(ctx, "child", "act"); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("Prepare on an active parent: %v, want failed precondition", err)
	}
	if _, err := sn.Prepare(ctx, "act", ""); !errdefs.IsAlreadyExists(err) {
		t.Errorf("Prepare of an existing key: %v, want already exists", err)
	}
	if n := countDirs(t, root); n != 1 {
		t.Errorf("%d snapshot directories after failed prepares, want 1", n)
	}
	if _, err := sn.Stat(ctx, "a"); !errdefs.IsNotFound(err) {
		t.Errorf("a failed Prepare left a record: %v", err)
	}
	if err := sn.Remove(ctx, "nope"); !errdefs.IsNotFound(err) {
		t.Errorf("Remove of a missing key: %v", err)
	}
	if _, err := sn.Usage(ctx, "nope"); !errdefs.IsNotFound(err) {
		t.Errorf("Usage of a missing key: %v", err)
	}
}

func testCommitRules(t *testing.T, ctx context.Context, sn snapshot.Snapshotter, root string) {
	_, err := sn.Prepare(ctx, "a", "")
	must(t, err)
	must(t, sn.Commit(ctx, "l1", "a"))
	_, err = sn.View(ctx, "v", "l1")
	must(t, err)
	if err := sn.Commit(ctx, "x", "v"); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("Commit of a view: %v, want failed precondition", err)
	}
	if err := sn.Commit(ctx, "x", "l1"); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("Commit of a committed snapshot: %v, want failed precondition", err)
	}
	_, err = sn.Prepare(ctx, "b", "")
	must(t, err)
	if err := sn.Commit(ctx, "l1", "b"); !errdefs.IsAlreadyExists(err) {
		t.Errorf("Commit onto an existing name: %v, want already exists", err)
	}
	if info, err := sn.Stat(ctx, "b"); err != nil || info.Kind != snapshot.KindActive {
		t.Errorf("a failed Commit changed b: %+v %v", info, err)
	}
}

// testManyLayers stacks enough layers that the overlay options exceed a page.
func testManyLayers(t *testing.T, ctx context.Context, sn snapshot.Snapshotter, root string) {
	parent := ""
	const n = 100
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("active-%d", i)
		_, err := sn.Prepare(ctx, key, parent)
		must(t, err)
		withMounted(t, sn, key, func(dir string) {
			write(t, dir, map[string]string{fmt.Sprintf("f%02d", i): fmt.Sprint(i), "top": fmt.Sprint(i)})
		})
		name := fmt.Sprintf("layer-with-a-rather-long-name-to-make-options-long-%d", i)
		must(t, sn.Commit(ctx, name, key))
		parent = name
	}
	_, err := sn.Prepare(ctx, "top", parent)
	must(t, err)
	withMounted(t, sn, "top", func(dir string) {
		got := tree(t, dir)
		if len(got) != n+1 || got["top"] != fmt.Sprint(n-1) || got["f00"] != "0" {
			t.Errorf("%d layers: %d entries, top=%q f00=%q", n, len(got), got["top"], got["f00"])
		}
	})
}

func testReopen(t *testing.T, open Opener) {
	ctx := context.Background()
	root := t.TempDir()
	sn, err := open(root)
	must(t, err)
	_, err = sn.Prepare(ctx, "a", "")
	must(t, err)
	must(t, sn.Commit(ctx, "l1", "a"))
	must(t, sn.Close())
	// A crash half-way: directories no record names.
	for _, d := range []string{"new-123", "rm-7", "999"} {
		must(t, os.MkdirAll(filepath.Join(root, "snapshots", d, "fs", "junk"), 0o755))
	}
	sn, err = open(root)
	must(t, err)
	defer sn.Close()
	if n := countDirs(t, root); n != 1 {
		t.Errorf("%d snapshot directories after reopening, want 1 (orphans removed)", n)
	}
	if info, err := sn.Stat(ctx, "l1"); err != nil || info.Kind != snapshot.KindCommitted {
		t.Errorf("l1 after reopening: %+v %v", info, err)
	}
}
