package state

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
)

func TestCreateOpenSaveRemove(t *testing.T) {
	root := t.TempDir()
	h, err := Create(root, "c1")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(h.Dir)
	if err != nil || fi.Mode().Perm() != 0o711 {
		t.Fatalf("state dir mode = %v, %v; want 0711", fi.Mode().Perm(), err)
	}
	if _, err := Create(root, "c1"); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("duplicate Create = %v, want already exists", err)
	}
	st := &State{ID: "c1", Bundle: "/b", Pid: 42, Created: time.Now().UTC(), CreateDone: true}
	if err := h.Save(st); err != nil {
		t.Fatal(err)
	}
	h.Unlock()
	got, err := Read(root, "c1")
	if err != nil || got.Pid != 42 || got.Bundle != "/b" || !got.CreateDone {
		t.Fatalf("Read = %+v, %v", got, err)
	}
	h2, err := Open(root, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if err := h2.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(root, "c1"); !errdefs.IsNotFound(err) {
		t.Fatalf("Open after Remove = %v, want not found", err)
	}
	if ids, _ := List(root); len(ids) != 0 {
		t.Fatalf("List after Remove = %v", ids)
	}
}

func TestBadIDsLeaveNothing(t *testing.T) {
	root := t.TempDir()
	for _, id := range []string{"", ".", "..", "a/b", "../x", "a b", string(make([]byte, 2000))} {
		if _, err := Create(root, id); !errdefs.IsInvalidArgument(err) {
			t.Errorf("Create(%q) = %v, want invalid argument", id, err)
		}
	}
	ents, _ := os.ReadDir(root)
	if len(ents) != 0 {
		t.Fatalf("bad ids left %v behind", ents)
	}
}

func TestLockSerialises(t *testing.T) {
	root := t.TempDir()
	h, err := Create(root, "c")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	order := []string{}
	done := make(chan struct{})
	go func() {
		h2, err := Open(root, "c")
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		mu.Lock()
		order = append(order, "second")
		mu.Unlock()
		h2.Unlock()
		close(done)
	}()
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	order = append(order, "first")
	mu.Unlock()
	h.Unlock()
	<-done
	if len(order) != 2 || order[0] != "first" {
		t.Fatalf("lock order %v", order)
	}
	// A different id is not blocked by a held lock.
	h3, _ := Open(root, "c")
	defer h3.Unlock()
	other, err := Create(root, "d")
	if err != nil {
		t.Fatal(err)
	}
	other.Unlock()
}

func TestOpenAfterConcurrentRemove(t *testing.T) {
	root := t.TempDir()
	h, err := Create(root, "gone")
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() {
		h2, err := Open(root, "gone")
		if err == nil {
			h2.Unlock()
		}
		res <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := h.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := <-res; !errdefs.IsNotFound(err) {
		t.Fatalf("Open racing Remove = %v, want not found", err)
	}
}

func TestParseStat(t *testing.T) {
	line := "1234 (we)ird name) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100 0"
	ps, err := ParseStat(line)
	if err != nil || ps.State != 'S' || ps.StartTime != 987654 {
		t.Fatalf("ParseStat = %+v, %v", ps, err)
	}
	for _, bad := range []string{"", "12 (x", "12 (x) S 1 2", "12 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 zz"} {
		if _, err := ParseStat(bad); err == nil {
			t.Errorf("ParseStat(%q) accepted", bad)
		}
	}
	self, err := Stat(os.Getpid())
	if err != nil || self.StartTime == 0 {
		t.Fatalf("Stat(self) = %+v, %v", self, err)
	}
	if !Alive(os.Getpid(), self.StartTime) || Alive(os.Getpid(), self.StartTime+1) {
		t.Fatal("Alive does not compare start times")
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add("1 (init) S 0 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 5 1 1 0")
	f.Fuzz(func(t *testing.T, s string) { _, _ = ParseStat(s) })
}

// TestConfigRecorded: the configuration survives state.json and is decoded only
// when asked for; its hooks are readable on their own, also from a state.json
// written before they were recorded apart.
func TestConfigRecorded(t *testing.T) {
	root := t.TempDir()
	h, err := Create(root, "c2")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Unlock()
	hooks := &specs.Hooks{Poststart: []specs.Hook{{Path: "/bin/true"}}}
	st := &State{ID: "c2", Pid: 42}
	st.SetSpec(&specs.Spec{Version: "1.2.0", Hostname: "h", Hooks: hooks}, nil)
	if err := h.Save(st); err != nil {
		t.Fatal(err)
	}
	got, err := Read(root, "c2")
	if err != nil {
		t.Fatal(err)
	}
	if got.config != nil {
		t.Fatal("Read decoded the configuration")
	}
	hk, err := got.ConfigHooks()
	if err != nil || hk == nil || len(hk.Poststart) != 1 || hk.Poststart[0].Path != "/bin/true" {
		t.Fatalf("ConfigHooks = %+v, %v", hk, err)
	}
	if got.config != nil {
		t.Fatal("ConfigHooks decoded the configuration")
	}
	s, err := got.Spec()
	if err != nil || s == nil || s.Hostname != "h" || s.Hooks == nil {
		t.Fatalf("Spec = %+v, %v", s, err)
	}
	// A file of the earlier format: hooks only inside the configuration.
	b, err := os.ReadFile(filepath.Join(root, "c2", StateFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "hooks")
	delete(m, "format")
	b, _ = json.Marshal(m)
	if err := os.WriteFile(filepath.Join(root, "c2", StateFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	old, err := Read(root, "c2")
	if err != nil {
		t.Fatal(err)
	}
	if hk, err := old.ConfigHooks(); err != nil || hk == nil || len(hk.Poststart) != 1 {
		t.Fatalf("ConfigHooks of an earlier state.json = %+v, %v", hk, err)
	}
	// A damaged configuration is an error naming the file, not a silent nil.
	old.RawConfig = json.RawMessage(`{"process": 7}`)
	old.config = nil
	if _, err := old.Spec(); err == nil || !strings.Contains(err.Error(), StateFile) {
		t.Fatalf("Spec of a damaged config = %v", err)
	}
}
