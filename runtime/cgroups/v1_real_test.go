package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/testutil"
)

// requireV1Host fails loudly when the host lacks the v1 layout these tests need.
func requireV1Host(t *testing.T) {
	t.Helper()
	testutil.Integration(t)
	if m := Mode(DefaultRoot); m != ModeV1 && m != ModeHybrid {
		t.Fatalf("real cgroup v1 tests need v1 hierarchies under %s; this host is %q", DefaultRoot, m)
	}
	h, err := discoverV1(DefaultRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer", "blkio"} {
		if h[c] == "" {
			t.Fatalf("real cgroup v1 tests need the %s controller mounted under %s", c, DefaultRoot)
		}
	}
}

func newReal(t *testing.T, r *specs.LinuxResources) Manager {
	t.Helper()
	name := uniqueName(t)
	m, err := New(Config{Path: "/" + name, ID: name, Resources: r})
	if err != nil {
		t.Fatal(err)
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

func TestV1RealLifecycle(t *testing.T) {
	requireV1Host(t)
	disk := someDisk(t)
	r := &specs.LinuxResources{
		BlockIO: &specs.LinuxBlockIO{Weight: pu16(300), LeafWeight: pu16(300),
			ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: disk, Rate: 1 << 20}}},
		Memory: &specs.LinuxMemory{Limit: p64(64 << 20), Swap: p64(128 << 20), Reservation: p64(32 << 20), Swappiness: pu64(10)},
		CPU:    &specs.LinuxCPU{Shares: pu64(512), Quota: p64(50000), Period: pu64(100000), Cpus: "0", Mems: "0"},
		Pids:   &specs.LinuxPids{Limit: p64(20)},
		Devices: append(DefaultDeviceRules(),
			specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: p64(1), Minor: p64(3), Access: "w"}),
	}
	m := newReal(t, r)
	c := startChild(t, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo spun; read x")
	if err := m.Apply(c.pid); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	mem := m.Path("memory")
	for file, want := range map[string]string{
		"memory.limit_in_bytes":       "67108864",
		"memory.memsw.limit_in_bytes": "134217728",
		"memory.soft_limit_in_bytes":  "33554432",
		"memory.swappiness":           "10",
	} {
		if got := readT(t, mem, file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	weightFile := "blkio.weight"
	if !fileExists(m.Path("blkio"), weightFile) {
		weightFile = "blkio.bfq.weight"
	}
	if got := readT(t, m.Path("blkio"), weightFile); got != "300" && got != "default 300" {
		t.Errorf("%s = %q", weightFile, got)
	}
	if got, want := readT(t, m.Path("blkio"), "blkio.throttle.read_bps_device"), fmt.Sprintf("%d:%d 1048576", disk.Major, disk.Minor); got != want {
		t.Errorf("blkio.throttle.read_bps_device = %q, want %q", got, want)
	}
	if got := readT(t, m.Path("pids"), "pids.max"); got != "20" {
		t.Errorf("pids.max = %q", got)
	}
	if got := readT(t, m.Path("cpu"), "cpu.shares"); got != "512" {
		t.Errorf("cpu.shares = %q", got)
	}
	if got := readT(t, m.Path("cpu"), "cpu.cfs_quota_us"); got != "50000" {
		t.Errorf("cpu.cfs_quota_us = %q", got)
	}
	if got := readT(t, m.Path("cpuset"), "cpuset.cpus"); got != "0" {
		t.Errorf("cpuset.cpus = %q", got)
	}
	list := readT(t, m.Path("devices"), "devices.list")
	if !strings.Contains(list, "c 1:5 rwm") || !strings.Contains(list, "c 1:3 rm") || strings.Contains(list, "a *:* rwm") {
		t.Errorf("devices.list = %q, want c 1:5 rwm and c 1:3 rm, no a *:* rwm", list)
	}

	// The child is a member of every hierarchy (name=systemd and unified too).
	cg, err := ProcessCgroups(c.pid)
	if err != nil {
		t.Fatal(err)
	}
	want := m.Save().Path
	for _, ctrl := range []string{"memory", "pids", "cpu", "cpuset", "devices", "freezer", "name=systemd"} {
		if cg[ctrl] != want {
			t.Errorf("/proc/%d/cgroup: %s = %q, want %q", c.pid, ctrl, cg[ctrl], want)
		}
	}
	if Mode(DefaultRoot) == ModeHybrid && cg[Unified] != want {
		t.Errorf("/proc/%d/cgroup: unified = %q, want %q", c.pid, cg[Unified], want)
	}
	pids, err := m.Pids()
	if err != nil || !slices.Contains(pids, c.pid) {
		t.Fatalf("Pids() = %v, %v; want it to contain %d", pids, err, c.pid)
	}
	if !m.Exists() {
		t.Fatal("Exists() = false after Apply")
	}

	c.goOn()
	if got := c.line(); got != "spun" {
		t.Fatalf("child said %q", got)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.CPU.Usage.Total == 0 || st.Memory.Usage.Usage == 0 || st.Pids.Current == 0 || st.Pids.Limit != 20 ||
		st.Memory.Usage.Limit != 64<<20 || len(st.Memory.Raw) == 0 {
		t.Errorf("stats look empty: %+v", st)
	}
	if n, err := m.OOMKillCount(); err != nil || n != 0 {
		t.Errorf("OOMKillCount = %d, %v", n, err)
	}

	// Freeze and thaw a real process.
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if s, err := m.FreezerState(); err != nil || s != Frozen {
		t.Fatalf("FreezerState = %q, %v; want frozen", s, err)
	}
	if st := procState(t, c.pid); st != "D" && st != "S" && st != "T" {
		t.Logf("frozen child state %q", st)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if s, err := m.FreezerState(); err != nil || s != Thawed {
		t.Fatalf("FreezerState = %q, %v; want thawed", s, err)
	}

	// Load from the saved state and update a limit.
	m2, err := Load(m.Save())
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: p64(0)}}); err != nil {
		t.Fatal(err)
	}
	if got := readT(t, m.Path("pids"), "pids.max"); got != "max" {
		t.Errorf("pids.max after update = %q, want max", got)
	}
}

func procState(t *testing.T, pid int) string {
	s := readT(t, filepath.Join("/proc", itoa(pid), "stat"))
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

func TestV1RealPidsLimitStopsForks(t *testing.T) {
	requireV1Host(t)
	r := &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: p64(5)}}
	m := newReal(t, r)
	// dash gives up at the first fork that fails, saying so.
	c := startChild(t, "echo begin; i=0; while [ $i -lt 10 ]; do sleep 30 & i=$((i+1)); done; echo started $i; read x")
	if err := m.Apply(c.pid); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	c.goOn()
	if got := c.line(); got != "begin" {
		t.Fatalf("child said %q", got)
	}
	out := c.line()
	if !strings.Contains(strings.ToLower(out), "fork") {
		t.Errorf("child said %q, want a fork failure under pids.max=5", out)
	}
	pids, _ := m.Pids()
	if len(pids) > 5 || len(pids) < 4 {
		t.Errorf("cgroup holds %d pids with pids.max=5: %v", len(pids), pids)
	}
	st, err := m.Stats()
	if err != nil || st.Pids.Current > 5 || st.Pids.Limit != 5 {
		t.Errorf("pids stats %+v, %v", st.Pids, err)
	}
}

func TestV1RealDevicesDenyWrite(t *testing.T) {
	requireV1Host(t)
	r := &specs.LinuxResources{Devices: append(DefaultDeviceRules(),
		specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: p64(1), Minor: p64(3), Access: "w"})}
	m := newReal(t, r)
	c := startChild(t, `if echo x >/dev/null; then echo null-ok; else echo null-denied; fi; if echo x >/dev/zero; then echo zero-ok; else echo zero-denied; fi; read x`)
	if err := m.Apply(c.pid); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	c.goOn()
	got := c.line()
	if strings.Contains(got, "not permitted") {
		got = c.line()
	}
	if got != "null-denied" {
		t.Errorf("writing /dev/null: %q, want it denied", got)
	}
	for {
		got := c.line()
		if strings.HasPrefix(got, "zero-") {
			if got != "zero-ok" {
				t.Errorf("writing /dev/zero: %q, want zero-ok", got)
			}
			break
		}
	}
}

// someDisk is a block device of this host (a whole disk, as throttling wants).
func someDisk(t *testing.T) specs.LinuxBlockIODevice {
	t.Helper()
	matches, _ := filepath.Glob("/sys/block/*/dev")
	for _, p := range matches {
		var maj, min int64
		if _, err := fmt.Sscanf(readT(t, p), "%d:%d", &maj, &min); err == nil {
			return specs.LinuxBlockIODevice{Major: maj, Minor: min}
		}
	}
	t.Fatal("no block device under /sys/block for the blkio test")
	return specs.LinuxBlockIODevice{}
}

// frozenSilent checks the child does not answer while frozen and does once thawed.
func frozenSilent(t *testing.T, m Manager, c *child) {
	t.Helper()
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	c.goOn()
	go func() { s, _ := c.out.ReadString('\n'); got <- strings.TrimSpace(s) }()
	select {
	case s := <-got:
		t.Fatalf("frozen child answered %q", s)
	case <-time.After(300 * time.Millisecond):
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "alive" {
			t.Fatalf("thawed child said %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("thawed child did not answer within 10s")
	}
}

func TestV1RealFreezeStopsProcess(t *testing.T) {
	requireV1Host(t)
	m := newReal(t, nil)
	c := startChild(t, "while :; do echo alive; read x; done")
	if err := m.Apply(c.pid); err != nil {
		t.Fatal(err)
	}
	c.goOn()
	if got := c.line(); got != "alive" {
		t.Fatalf("child said %q", got)
	}
	frozenSilent(t, m, c)
}

func TestV1RealDestroyBusyThenClean(t *testing.T) {
	requireV1Host(t)
	m := newReal(t, nil)
	c := startChild(t, "read x")
	if err := m.Apply(c.pid); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := m.Destroy()
	if err == nil || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("Destroy with a live process: %v, want a busy error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Destroy of a busy cgroup took %v", d)
	}
	if !m.Exists() {
		t.Fatal("Destroy removed a cgroup that still holds a process")
	}
	c.stop()
	if err := m.Destroy(); err != nil {
		t.Fatalf("Destroy after the process ended: %v", err)
	}
	assertGone(t, m.Save())
}

func TestV1RealOOMKillCounted(t *testing.T) {
	requireV1Host(t)
	testutil.LookPath(t, "tail", "coreutils")
	r := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p64(16 << 20), Swap: p64(16 << 20)}}
	m := newReal(t, r)
	// tail keeps a whole newline-free stream in memory: it outgrows 16 MiB.
	c := startChild(t, "head -c 200000000 /dev/zero | tail >/dev/null; echo status $?; read x")
	if err := m.Apply(c.pid); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	w, err := WatchOOM(m)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	c.goOn()
	select {
	case _, ok := <-w.C:
		if !ok {
			t.Fatal("OOM watch ended without an event")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no OOM event within 30s")
	}
	// The shell may report the kill ("Killed") before the status line, once
	// per process it saw die.
	got := c.line()
	for i := 0; i < 3 && got == "Killed"; i++ {
		got = c.line()
	}
	if got != "status 137" {
		t.Errorf("tail under a 16 MiB limit: %q, want status 137 (SIGKILL)", got)
	}
	n, err := m.OOMKillCount()
	if err != nil || n < 1 {
		t.Fatalf("OOMKillCount = %d, %v; want >= 1", n, err)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Memory.Usage.Max < 8<<20 || st.Memory.Usage.Limit != 16<<20 {
		t.Errorf("memory stats after an OOM: usage %+v swap %+v", st.Memory.Usage, st.Memory.Swap)
	}
}

// A cpuset parent left empty by someone else is filled before the child.
func TestV1RealCpusetEmptyParent(t *testing.T) {
	requireV1Host(t)
	parent := uniqueName(t)
	dir := filepath.Join(DefaultRoot, "cpuset", parent)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) })
	if got := readT(t, dir, "cpuset.cpus"); got != "" {
		t.Fatalf("fresh cpuset cgroup has cpus %q (clone_children set?)", got)
	}
	m2, err := New(Config{Path: "/" + parent + "/c", ID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		killAll(t, m2)
		if err := m2.Destroy(); err != nil {
			t.Error(err)
		}
		for _, d := range m2.Save().Paths {
			_ = os.Remove(filepath.Dir(d))
		}
	})
	c := startChild(t, "read x")
	if err := m2.Apply(c.pid); err != nil {
		t.Fatalf("Apply under an empty cpuset parent: %v", err)
	}
	if readT(t, dir, "cpuset.cpus") == "" || readT(t, m2.Path("cpuset"), "cpuset.mems") == "" {
		t.Fatal("cpuset not initialised")
	}
}

func TestHybridRealKill(t *testing.T) {
	requireV1Host(t)
	if Mode(DefaultRoot) != ModeHybrid {
		t.Fatalf("this host is %q, not hybrid: cgroup.kill through %s/unified cannot be tested", Mode(DefaultRoot), DefaultRoot)
	}
	m := newReal(t, nil)
	c := startChild(t, "sleep 60 & sleep 60 & echo started; wait")
	if err := m.Apply(c.pid); err != nil {
		t.Fatal(err)
	}
	c.goOn()
	if got := c.line(); got != "started" {
		t.Fatalf("child said %q", got)
	}
	if pids, _ := m.Pids(); len(pids) != 3 {
		t.Fatalf("Pids = %v, want the shell and two sleeps", pids)
	}
	if err := m.(Killer).Kill(); err != nil {
		t.Fatal(err)
	}
	err := c.cmd.Wait()
	c.ended = true
	if ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, _ := m.Pids()
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pids %v survive cgroup.kill", pids)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Raising and lowering memory with swap works in both directions (the kernel
// wants memory <= memory+swap at every step).
func TestV1RealMemoryUpdates(t *testing.T) {
	requireV1Host(t)
	m := newReal(t, nil)
	if err := m.Apply(-1); err != nil {
		t.Fatal(err)
	}
	mem := m.Path("memory")
	for _, step := range []struct{ limit, swap int64 }{
		{64 << 20, 128 << 20}, {256 << 20, 512 << 20}, {32 << 20, 64 << 20}, {-1, -1}, {16 << 20, 16 << 20},
	} {
		r := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p64(step.limit), Swap: p64(step.swap)}}
		if err := m.Set(r); err != nil {
			t.Fatalf("limit %d swap %d: %v", step.limit, step.swap, err)
		}
		want := func(v int64) string {
			if v < 0 {
				return "9223372036854771712"
			}
			return fmt.Sprint(v)
		}
		if got := readT(t, mem, "memory.limit_in_bytes"); got != want(step.limit) {
			t.Errorf("limit %d: memory.limit_in_bytes = %s", step.limit, got)
		}
		if got := readT(t, mem, "memory.memsw.limit_in_bytes"); got != want(step.swap) {
			t.Errorf("swap %d: memory.memsw.limit_in_bytes = %s", step.swap, got)
		}
	}
	// Memory unlimited alone lifts memory+swap too.
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p64(-1)}}); err != nil {
		t.Fatal(err)
	}
	if got := readT(t, mem, "memory.memsw.limit_in_bytes"); got != "9223372036854771712" {
		t.Errorf("memsw after limit -1: %s", got)
	}
}
