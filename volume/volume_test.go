package volume

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berth-containers/berth/internal/errdefs"
)

func TestCreateInspectListRemove(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "volumes")
	users := map[string][]string{}
	var mu sync.Mutex
	s, err := New(root, WithUsage(func(context.Context) (map[string][]string, error) {
		mu.Lock()
		defer mu.Unlock()
		out := map[string][]string{}
		for k, v := range users {
			out[k] = v
		}
		return out, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Create(ctx, "data", map[string]string{"team": "a"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Mountpoint != filepath.Join(root, "data", "_data") || v.Driver != "local" || v.CreatedAt.IsZero() {
		t.Fatalf("%+v", v)
	}
	if st, err := os.Stat(v.Mountpoint); err != nil || !st.IsDir() {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(v.Mountpoint, "f"), []byte("keep"), 0o644)
	// Idempotent: same volume, data and labels kept.
	v2, created, err := s.Ensure(ctx, "data", map[string]string{"team": "b"})
	if err != nil || created || v2.Labels["team"] != "a" {
		t.Fatalf("%+v %v %v", v2, created, err)
	}
	if data, _ := os.ReadFile(filepath.Join(v.Mountpoint, "f")); string(data) != "keep" {
		t.Fatal("data lost on re-create")
	}
	anon, err := s.Create(ctx, "", map[string]string{"anon": "1"})
	if err != nil || len(anon.Name) != 64 {
		t.Fatalf("%+v %v", anon, err)
	}
	mu.Lock()
	users["data"] = []string{"c1"}
	mu.Unlock()
	got, err := s.Inspect(ctx, "data")
	if err != nil || got.RefCount != 1 || got.UsedBy[0] != "c1" {
		t.Fatalf("%+v %v", got, err)
	}
	list, _ := s.List(ctx, Filter{})
	if len(list) != 2 {
		t.Fatalf("list %+v", list)
	}
	list, _ = s.List(ctx, Filter{Labels: map[string]string{"team": "a"}})
	if len(list) != 1 || list[0].Name != "data" {
		t.Fatalf("label filter %+v", list)
	}
	yes := true
	list, _ = s.List(ctx, Filter{Dangling: &yes})
	if len(list) != 1 || list[0].Name != anon.Name {
		t.Fatalf("dangling %+v", list)
	}
	err = s.Remove(ctx, "data", false)
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "remove data: volume is in use - [c1]") {
		t.Fatalf("in use: %v", err)
	}
	// Prune: anonymous unused volumes only.
	pruned, err := s.Prune(ctx, Filter{}, false, "anon")
	if err != nil || len(pruned) != 1 || pruned[0] != anon.Name {
		t.Fatalf("prune %v %v", pruned, err)
	}
	if err := s.Remove(ctx, "data", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Inspect(ctx, "data"); !errdefs.IsNotFound(err) {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "data", false); !errdefs.IsNotFound(err) {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(root)
	if len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
}

func TestBadNames(t *testing.T) {
	s, err := New(filepath.Join(t.TempDir(), "v"))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"a", "-x", "../x", "x/y", "a b", ".hidden", strings.Repeat("a", 300)} {
		if _, err := s.Create(context.Background(), bad, nil); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	ents, _ := os.ReadDir(s.Root())
	if len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
	if _, err := New("relative"); !errdefs.IsInvalidArgument(err) {
		t.Fatal(err)
	}
}

func TestCrashLeftovers(t *testing.T) {
	root := filepath.Join(t.TempDir(), "v")
	os.MkdirAll(filepath.Join(root, ".tmp-123", "_data"), 0o755)
	os.MkdirAll(filepath.Join(root, "nometa", "_data"), 0o755)
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, ".tmp-123")); !os.IsNotExist(err) {
		t.Fatal("temp dir kept")
	}
	list, _ := s.List(context.Background(), Filter{})
	if len(list) != 0 {
		t.Fatalf("half volume listed: %+v", list)
	}
}

func TestConcurrentCreate(t *testing.T) {
	s, _ := New(filepath.Join(t.TempDir(), "v"))
	var wg sync.WaitGroup
	var mu sync.Mutex
	made := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, c, err := s.Ensure(context.Background(), "shared", nil)
			if err != nil {
				t.Error(err)
			}
			if c {
				mu.Lock()
				made++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if made != 1 {
		t.Fatalf("created %d times", made)
	}
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"data", "a", "../x", "x.y-z_1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateName(s) == nil && (strings.ContainsAny(s, "/\x00") || s == "." || s == ".." || strings.HasPrefix(s, ".")) {
			t.Fatalf("accepted %q", s)
		}
	})
}
