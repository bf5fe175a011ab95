package container

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berth-containers/berth/content/local"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/namespaces"
	"github.com/berth-containers/berth/metadata"
	"github.com/berth-containers/berth/oci"
	"github.com/berth-containers/berth/snapshot"
	"github.com/berth-containers/berth/snapshot/native"
)

func newStore(t *testing.T) (*Store, *metadata.DB) {
	t.Helper()
	root := t.TempDir()
	cs, err := local.Open(filepath.Join(root, "content"))
	if err != nil {
		t.Fatal(err)
	}
	sn, err := native.New(filepath.Join(root, "native"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := metadata.NewDB(filepath.Join(root, "meta.db"), cs, map[string]snapshot.Snapshotter{"native": sn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return NewStore(db), db
}

func nsCtx(ns string) context.Context {
	return namespaces.WithNamespace(context.Background(), ns)
}

func TestCreateGetNames(t *testing.T) {
	s, _ := newStore(t)
	ctx := nsCtx("default")
	c, err := s.Create(ctx, Container{Name: "web", Image: "busybox:latest", Runtime: RuntimeBerth,
		Options: oci.CreateOptions{Memory: 64 << 20}, RestartPolicy: RestartPolicy{Name: "on-failure", MaxRetries: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ID) != 64 || c.Status.State != StateCreated || c.Created.IsZero() {
		t.Fatalf("%+v", c)
	}
	for _, ref := range []string{c.ID, c.ID[:12], c.ID[:3], "web", "/web"} {
		got, err := s.Get(ctx, ref)
		if err != nil || got.ID != c.ID || got.Options.Memory != 64<<20 || got.RestartPolicy.MaxRetries != 3 {
			t.Errorf("Get(%q) = %+v, %v", ref, got, err)
		}
	}
	_, err = s.Create(ctx, Container{Name: "web"})
	if !errdefs.IsAlreadyExists(err) || !strings.Contains(err.Error(), `Conflict. The container name "/web" is already in use by container "`+c.ID+`"`) {
		t.Fatalf("conflict: %v", err)
	}
	// Same name in another namespace is fine.
	if _, err := s.Create(nsCtx("other"), Container{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(nsCtx("other"), c.ID); !errdefs.IsNotFound(err) {
		t.Fatalf("cross-namespace get: %v", err)
	}
	_, err = s.Get(ctx, "nosuch")
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "No such container: nosuch") {
		t.Fatalf("not found: %v", err)
	}
	for _, bad := range []string{"-x", "a", "a b", "x/y", strings.Repeat("a", 300)} {
		if _, err := s.Create(ctx, Container{Name: bad}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	if _, err := s.Create(ctx, Container{ID: "xyz"}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad id: %v", err)
	}
	if _, err := s.Create(ctx, Container{RestartPolicy: RestartPolicy{Name: "sometimes"}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad restart: %v", err)
	}
	// Generated names.
	g, err := s.Create(ctx, Container{})
	if err != nil || !strings.Contains(g.Name, "_") || ValidateName(g.Name) != nil {
		t.Fatalf("generated %q %v", g.Name, err)
	}
}

func TestAmbiguousPrefix(t *testing.T) {
	s, _ := newStore(t)
	ctx := nsCtx("default")
	a := strings.Repeat("a", 63)
	if _, err := s.Create(ctx, Container{ID: a + "1", Name: "one"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, Container{ID: a + "2", Name: "two"}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get(ctx, "aaaa")
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "multiple IDs found with provided prefix: aaaa") {
		t.Fatalf("ambiguous: %v", err)
	}
	if c, err := s.Get(ctx, a+"2"); err != nil || c.Name != "two" {
		t.Fatalf("%v %v", c, err)
	}
}

func TestUpdateDeleteRename(t *testing.T) {
	s, _ := newStore(t)
	ctx := nsCtx("default")
	c, _ := s.Create(ctx, Container{Name: "a1"})
	s.Create(ctx, Container{Name: "b1"})
	u, err := s.Update(ctx, "a1", func(c *Container) error {
		c.Status.State = StateRunning
		c.Status.Pid = 42
		c.Name = "a2"
		return nil
	})
	if err != nil || u.Status.Pid != 42 || u.Name != "a2" {
		t.Fatalf("%+v %v", u, err)
	}
	if _, err := s.Get(ctx, "a1"); !errdefs.IsNotFound(err) {
		t.Fatalf("old name still resolves: %v", err)
	}
	if _, err := s.Update(ctx, "a2", func(c *Container) error { c.Name = "b1"; return nil }); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("rename conflict: %v", err)
	}
	if _, err := s.Update(ctx, "a2", func(c *Container) error { c.Status.State = "bogus"; return nil }); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad state: %v", err)
	}
	if got, _ := s.Get(ctx, c.ID); got.Status.State != StateRunning || got.Name != "a2" {
		t.Fatalf("failed update changed the record: %+v", got)
	}
	if err := s.Delete(ctx, "a2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, c.ID); !errdefs.IsNotFound(err) {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, Container{Name: "a2"}); err != nil {
		t.Fatalf("name not freed: %v", err)
	}
	if err := s.Delete(ctx, "a2x"); !errdefs.IsNotFound(err) {
		t.Fatal(err)
	}
}

func TestListFilters(t *testing.T) {
	s, _ := newStore(t)
	ctx := nsCtx("default")
	s.Create(ctx, Container{Name: "web1", Image: "docker.io/library/nginx:1.25", ImageDigest: "sha256:" + strings.Repeat("ab", 32), Labels: map[string]string{"app": "web", "tier": "front"}})
	s.Create(ctx, Container{Name: "web2", Image: "busybox", Labels: map[string]string{"app": "web"}, Status: Status{State: StateRunning}})
	s.Create(ctx, Container{Name: "db", Image: "busybox:latest", Labels: map[string]string{"app": "db"}, Status: Status{State: StateExited}})
	names := func(f Filter) string {
		l, err := s.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, c := range l {
			n = append(n, c.Name)
		}
		sortStrings(n)
		return strings.Join(n, ",")
	}
	for _, c := range []struct {
		filters []string
		want    string
	}{
		{nil, "db,web1,web2"},
		{[]string{"status=running"}, "web2"},
		{[]string{"status=running", "status=exited"}, "db,web2"},
		{[]string{"label=app=web"}, "web1,web2"},
		{[]string{"label=tier"}, "web1"},
		{[]string{"label=app=web", "label=tier=front"}, "web1"},
		{[]string{"name=web"}, "web1,web2"},
		{[]string{"ancestor=busybox"}, "db,web2"},
		{[]string{"ancestor=nginx"}, "web1"},
		{[]string{"ancestor=nginx:1.25"}, "web1"},
		{[]string{"ancestor=abab"}, "web1"},
		{[]string{"ancestor=busybox:latest"}, "db"},
	} {
		f, err := ParseFilters(c.filters)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(f); got != c.want {
			t.Errorf("filters %v: %s, want %s", c.filters, got, c.want)
		}
	}
	for _, bad := range []string{"status=sleeping", "nokey", "color=red", "name="} {
		if _, err := ParseFilters([]string{bad}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("filter %q: %v", bad, err)
		}
	}
}

func sortStrings(s []string) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

func TestConcurrentSameName(t *testing.T) {
	s, _ := newStore(t)
	ctx := nsCtx("default")
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Create(ctx, Container{Name: "race"}); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if !errdefs.IsAlreadyExists(err) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d creates of one name succeeded", ok)
	}
}

func TestGCRootsAndVolumeUsage(t *testing.T) {
	s, db := newStore(t)
	ctx := nsCtx("default")
	sn := db.Snapshotter("native")
	if _, err := sn.Prepare(ctx, "held", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Prepare(ctx, "loose", ""); err != nil {
		t.Fatal(err)
	}
	c, err := s.Create(ctx, Container{Name: "holder", Snapshotter: "native", SnapshotKey: "held",
		Volumes: []oci.VolumeRef{{Name: "v1", Destination: "/a"}, {Name: "v2", Destination: "/b"}}})
	if err != nil {
		t.Fatal(err)
	}
	s.Create(nsCtx("ns2"), Container{Name: "other", Volumes: []oci.VolumeRef{{Name: "v1", Destination: "/x"}}})
	if _, err := db.GarbageCollect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Stat(ctx, "held"); err != nil {
		t.Fatalf("container's snapshot collected: %v", err)
	}
	if _, err := sn.Stat(ctx, "loose"); !errdefs.IsNotFound(err) {
		t.Fatalf("unheld snapshot kept: %v", err)
	}
	u, err := s.VolumeUsage(ctx)
	if err != nil || len(u["v1"]) != 2 || len(u["v2"]) != 1 || u["v2"][0] != c.ID {
		t.Fatalf("usage %v %v", u, err)
	}
	if err := s.Delete(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GarbageCollect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Stat(ctx, "held"); !errdefs.IsNotFound(err) {
		t.Fatalf("snapshot of a deleted container kept: %v", err)
	}
}

func TestNoNamespace(t *testing.T) {
	s, _ := newStore(t)
	if _, err := s.Create(context.Background(), Container{}); err == nil {
		t.Fatal("create without a namespace")
	}
}

func FuzzParseFilters(f *testing.F) {
	for _, s := range []string{"status=running", "label=a=b", "ancestor=busybox:latest", "name=/x", "id=abc", "bogus", "=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilters([]string{s})
		if err != nil {
			return
		}
		for _, st := range flt.Status {
			if !st.Valid() {
				t.Fatalf("accepted status %q", st)
			}
		}
		flt.Match(Container{ID: strings.Repeat("a", 64), Name: "n1", Image: s, ImageDigest: "sha256:" + strings.Repeat("b", 64), Labels: map[string]string{"a": "b"}})
		if ValidateName(s) == nil && (strings.ContainsAny(strings.TrimPrefix(s, "/"), "/ \x00") || len(s) < 2) {
			t.Fatalf("name %q accepted", s)
		}
	})
}
