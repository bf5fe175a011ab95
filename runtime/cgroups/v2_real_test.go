package cgroups

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/testutil"
)

// What these real cgroup2 tests cannot cover on a hybrid host: its cgroup2
// hierarchy has no controllers enabled (cpu, memory, io, pids, cpuset sit on
// v1; hugetlb may sit on cgroup2 unused), so cpu.max, memory.max,
// memory.swap.max, io.*, pids.max and hugetlb.*.max are covered by the fake
// tree tests in v2_fake_test.go only. Membership, cgroup.freeze, cgroup.events,
// cgroup.kill and the eBPF device filter are core cgroup2 features and are
// tested here for real.

// unifiedRoot is a real cgroup2 hierarchy on this host: the root itself on a
// v2 host, <root>/unified on a hybrid one.
func unifiedRoot(t *testing.T) string {
	t.Helper()
	testutil.Integration(t)
	switch Mode(DefaultRoot) {
	case ModeV2:
		return DefaultRoot
	case ModeHybrid:
		return filepath.Join(DefaultRoot, "unified")
	}
	t.Fatalf("real cgroup v2 tests need cgroup2 mounted at %s or %s/unified; this host has neither (v1 only)", DefaultRoot, DefaultRoot)
	return ""
}

func newRealV2(t *testing.T, r *specs.LinuxResources) Manager {
	t.Helper()
	root := unifiedRoot(t)
	name := uniqueName(t)
	m, err := New(Config{Root: root, Path: "/" + name, ID: name, Resources: r})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Save().Mode; got != ModeV2 {
		t.Fatalf("mode of %s = %q, want v2", root, got)
	}
	t.Cleanup(func() {
		killAll(t, m)
		if err := m.Destroy(); err != nil {
			t.Errorf("destroy: %v", err)
		}
		assertGone(t, m.Save())
	})
	return m
}

func TestV2RealLifecycleAndFreeze(t *testing.T) {
	m := newRealV2(t, nil)
	c := startChild(t, "while :; do echo alive; read x; done")
	if err := m.Apply(c.pid); err != nil {
		t.Fatal(err)
	}
	if !m.Exists() {
		t.Fatal("Exists() = false after Apply")
	}
	dir := m.Path("")
	if got := readT(t, dir, "cgroup.procs"); got != itoa(c.pid) {
		t.Fatalf("cgroup.procs = %q, want %d", got, c.pid)
	}
	cg, err := ProcessCgroups(c.pid)
	if err != nil {
		t.Fatal(err)
	}
	if cg[Unified] != m.Save().Path && !strings.HasSuffix(dir, cg[Unified]) {
		t.Errorf("/proc/%d/cgroup unified = %q, want %q", c.pid, cg[Unified], m.Save().Path)
	}
	if pids, err := m.Pids(); err != nil || !slices.Equal(pids, []int{c.pid}) {
		t.Fatalf("Pids() = %v, %v", pids, err)
	}
	c.goOn()
	if got := c.line(); got != "alive" {
		t.Fatalf("child said %q", got)
	}

	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if s, err := m.FreezerState(); err != nil || s != Frozen {
		t.Fatalf("FreezerState = %q, %v", s, err)
	}
	if ev := readT(t, dir, "cgroup.events"); !strings.Contains(ev, "frozen 1") {
		t.Fatalf("cgroup.events = %q, want frozen 1", ev)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if s, err := m.FreezerState(); err != nil || s != Thawed {
		t.Fatalf("FreezerState = %q, %v", s, err)
	}
	c.goOn()
	if got := c.line(); got != "alive" {
		t.Fatalf("thawed child said %q", got)
	}
	frozenSilent(t, m, c)

	// cgroup.kill ends every process at once.
	if err := m.(Killer).Kill(); err != nil {
		t.Fatal(err)
	}
	err = c.cmd.Wait()
	c.ended = true
	if ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL", err)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.CPU.Usage.Total == 0 {
		t.Errorf("cpu usage 0 in v2 stats: %+v", st.CPU)
	}
}

func TestV2RealDeviceFilter(t *testing.T) {
	null := specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: p64(1), Minor: p64(3), Access: "w"}
	r := &specs.LinuxResources{Devices: append(DefaultDeviceRules(), null)}
	m := newRealV2(t, r)
	script := `while :; do if echo x >/dev/null; then echo null-ok; else echo null-denied; fi; if echo x >/dev/zero; then echo zero-ok; else echo zero-denied; fi; read x; done`
	c := startChild(t, script)
	if err := m.Apply(c.pid); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	c.goOn()
	if a, b := c.verdict(), c.verdict(); a != "null-denied" || b != "zero-ok" {
		t.Fatalf("with /dev/null write denied: child said %q, %q; want null-denied, zero-ok", a, b)
	}
	// An update replaces the program instead of adding to it.
	r.Devices = DefaultDeviceRules()
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	c.goOn()
	if a, b := c.verdict(), c.verdict(); a != "null-ok" || b != "zero-ok" {
		t.Fatalf("after update allowing /dev/null: child said %q, %q", a, b)
	}
	// Deny everything.
	r.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	c.goOn()
	if a, b := c.verdict(), c.verdict(); a != "null-denied" || b != "zero-denied" {
		t.Fatalf("after deny-all: child said %q, %q", a, b)
	}
}

func TestV2RealBadUnifiedKeyLeavesNothing(t *testing.T) {
	root := unifiedRoot(t)
	name := uniqueName(t)
	_, err := New(Config{Root: root, Path: "/" + name, ID: name, Resources: &specs.LinuxResources{Unified: map[string]string{"../cgroup.procs": "1"}}})
	if err == nil || !strings.Contains(err.Error(), "linux.resources.unified") {
		t.Fatalf("New with a bad unified key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, name)); err == nil {
		t.Fatalf("New left %s behind", filepath.Join(root, name))
	}
}
