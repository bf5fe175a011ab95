package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
)

var v2LeafFiles = []string{"cgroup.procs", "cgroup.controllers", "cgroup.subtree_control", "cgroup.freeze", "cgroup.events", "cgroup.kill",
	"cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle", "cpu.stat", "cpuset.cpus", "cpuset.mems",
	"memory.max", "memory.low", "memory.high", "memory.swap.max", "memory.oom.group", "memory.current", "memory.stat", "memory.events",
	"memory.swap.current", "pids.max", "pids.current", "io.weight", "io.max", "io.stat", "hugetlb.2MB.max", "hugetlb.2MB.rsvd.max",
	"hugetlb.2MB.current", "hugetlb.2MB.events", "rdma.max"}

const allV2 = "cpuset cpu io memory hugetlb pids rdma"

// fakeV2 lays out a cgroup2 tree: root and /berth with cgroup.controllers,
// and the leaf /berth/<leaf> (unless leaf is "") with its control files.
func fakeV2(t *testing.T, leaf string) string {
	t.Helper()
	root := t.TempDir()
	touch(t, root, "cgroup.controllers", "cgroup.subtree_control", "cgroup.procs")
	writeT(t, root, "cgroup.controllers", allV2+"\n")
	touch(t, filepath.Join(root, "berth"), "cgroup.controllers", "cgroup.subtree_control", "cgroup.procs")
	writeT(t, filepath.Join(root, "berth"), "cgroup.controllers", allV2+"\n")
	if leaf != "" {
		d := filepath.Join(root, "berth", leaf)
		touch(t, d, v2LeafFiles...)
		writeT(t, d, "cgroup.controllers", allV2+"\n")
	}
	return root
}

func TestV2FakeRichSet(t *testing.T) {
	root := fakeV2(t, "c1")
	r := richResources()
	// v2 has no realtime, net_cls/net_prio, so those are errors (below); drop them here.
	r.CPU.RealtimePeriod, r.CPU.RealtimeRuntime, r.Network = nil, nil, nil
	r.Rdma = map[string]specs.LinuxRdma{"mlx5_0": {HcaHandles: func() *uint32 { v := uint32(4); return &v }()}}
	r.Unified = map[string]string{"memory.high": "300000000", "cpu.weight": "77", "memory.oom.group": "1"}
	m, err := New(Config{Root: root, ID: "c1", Resources: r})
	if err != nil {
		t.Fatal(err)
	}
	if m.Save().Mode != ModeV2 || m.Path("") != filepath.Join(root, "berth", "c1") {
		t.Fatalf("saved %+v", m.Save())
	}
	rec := &recorder{root: root}
	m.(*v2Manager).trace = rec.trace
	if err := m.Apply(77); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	diffWrites(t, rec.writes, []string{
		"berth/c1/cgroup.procs=77",
		// cpu.shares is not converted: unified cpu.weight wins.
		"berth/c1/cpu.max=20000 100000",
		"berth/c1/cpu.max.burst=1000",
		"berth/c1/cpu.idle=0",
		"berth/c1/cpuset.cpus=0-1",
		"berth/c1/cpuset.mems=0",
		"berth/c1/memory.swap.max=268435456",
		"berth/c1/memory.max=268435456",
		"berth/c1/memory.low=134217728",
		"berth/c1/pids.max=100",
		"berth/c1/io.weight=default 4950",
		"berth/c1/io.weight=8:0 5960",
		"berth/c1/io.max=8:0 rbps=1048576",
		"berth/c1/io.max=8:16 wbps=2097152",
		"berth/c1/io.max=8:0 riops=100",
		"berth/c1/io.max=8:0 wiops=max",
		"berth/c1/hugetlb.2MB.max=4194304",
		"berth/c1/hugetlb.2MB.rsvd.max=4194304",
		"berth/c1/rdma.max=mlx5_0 hca_handle=4",
		"berth/c1/cpu.weight=77",
		"berth/c1/memory.high=300000000",
		"berth/c1/memory.oom.group=1",
		"berth/c1/<bpf-device-program>=23 instructions",
	})
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, m.Save())
}

func TestV2FakeSharesAndBFQ(t *testing.T) {
	root := fakeV2(t, "c2")
	touch(t, filepath.Join(root, "berth", "c2"), "io.bfq.weight")
	m, err := New(Config{Root: root, ID: "c2"})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{root: root}
	m.(*v2Manager).trace = rec.trace
	err = m.Set(&specs.LinuxResources{
		CPU:     &specs.LinuxCPU{Shares: pu64(1024), Period: pu64(50000)},
		BlockIO: &specs.LinuxBlockIO{Weight: pu16(500), WeightDevice: []specs.LinuxWeightDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8}, Weight: pu16(10)}}},
		Memory:  &specs.LinuxMemory{Limit: p64(-1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	diffWrites(t, rec.writes, []string{
		"berth/c2/cpu.weight=39",
		"berth/c2/cpu.max=max 50000",
		"berth/c2/memory.swap.max=max",
		"berth/c2/memory.max=max",
		"berth/c2/io.bfq.weight=500",
		"berth/c2/io.bfq.weight=8:0 10",
	})
}

func TestV2FakeApplyEnablesControllers(t *testing.T) {
	root := fakeV2(t, "")
	r := &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: p64(5)}, Memory: &specs.LinuxMemory{Limit: p64(1 << 20)}}
	m, err := New(Config{Root: root, Path: "/berth/c3", Resources: r})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{root: root}
	m.(*v2Manager).trace = rec.trace
	if err := m.Apply(-1); err != nil {
		t.Fatal(err)
	}
	// Root: only what the spec needs; below root: everything the parent offers.
	diffWrites(t, rec.writes, []string{
		"cgroup.subtree_control=+memory +pids",
		"berth/cgroup.subtree_control=+memory +pids +cpuset +cpu +io +hugetlb +rdma",
	})
	if !m.Exists() {
		t.Fatal("Apply(-1) did not create the cgroup")
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, m.Save())
}

func TestV2FakeErrors(t *testing.T) {
	root := fakeV2(t, "c4")
	cases := map[string]*specs.LinuxResources{
		"linux.resources.cpu.realtime":               {CPU: &specs.LinuxCPU{RealtimeRuntime: p64(1)}},
		"linux.resources.network":                    {Network: &specs.LinuxNetwork{ClassID: new(uint32)}},
		"linux.resources.memory.swap":                {Memory: &specs.LinuxMemory{Swap: p64(100)}},
		`linux.resources.unified["../x"]`:            {Unified: map[string]string{"../x": "1"}},
		`linux.resources.unified["a/b.c"]`:           {Unified: map[string]string{"a/b.c": "1"}},
		`linux.resources.unified["cgroup.procs"]`:    {Unified: map[string]string{"cgroup.procs": "1"}},
		"linux.resources.hugepageLimits[0].pageSize": {HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB/../x"}}},
	}
	for field, r := range cases {
		if _, err := New(Config{Root: root, ID: "c4", Resources: r}); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: New error %v", field, err)
		}
	}
	m, err := New(Config{Root: root, ID: "c4"})
	if err != nil {
		t.Fatal(err)
	}
	// A unified key naming a file the cgroup lacks names the key.
	err = m.Set(&specs.LinuxResources{Unified: map[string]string{"memory.nosuch": "1"}})
	if err == nil || !strings.Contains(err.Error(), `linux.resources.unified["memory.nosuch"]`) {
		t.Errorf("unified write to a missing file: %v", err)
	}
}

func TestV2FakeFreezeStatsKill(t *testing.T) {
	root := fakeV2(t, "c5")
	d := filepath.Join(root, "berth", "c5")
	writeT(t, d, "cgroup.events", "populated 1\nfrozen 1\n")
	writeT(t, d, "cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 7\n")
	writeT(t, d, "memory.current", "8192\n")
	writeT(t, d, "memory.max", "max\n")
	writeT(t, d, "memory.stat", "anon 4096\nfile 2048\nkernel 100\n")
	writeT(t, d, "memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n")
	writeT(t, d, "memory.swap.current", "0\n")
	writeT(t, d, "memory.swap.max", "max\n")
	writeT(t, d, "pids.current", "3\n")
	writeT(t, d, "pids.max", "10\n")
	writeT(t, d, "io.stat", "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n")
	writeT(t, d, "hugetlb.2MB.current", "0\n")
	writeT(t, d, "hugetlb.2MB.events", "max 5\n")
	writeT(t, d, "cgroup.procs", "5\n")
	m, err := New(Config{Root: root, ID: "c5"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if got := readT(t, d, "cgroup.freeze"); got != "1" {
		t.Errorf("cgroup.freeze = %q", got)
	}
	if s, _ := m.FreezerState(); s != Frozen {
		t.Errorf("FreezerState = %q", s)
	}
	writeT(t, d, "cgroup.events", "populated 1\nfrozen 0\n")
	if s, _ := m.FreezerState(); s != Freezing {
		t.Errorf("FreezerState = %q, want freezing", s)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if s, _ := m.FreezerState(); s != Thawed {
		t.Errorf("FreezerState = %q", s)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.CPU.Usage.Total != 1500000 || st.CPU.Usage.User != 1e6 || st.CPU.Throttling.ThrottledTime != 7000 {
		t.Errorf("cpu %+v", st.CPU)
	}
	if st.Memory.Usage.Usage != 8192 || st.Memory.Usage.Limit != ^uint64(0) || st.Memory.Usage.Failcnt != 3 || st.Memory.Cache != 2048 || st.Memory.Swap.Limit != ^uint64(0) {
		t.Errorf("memory %+v", st.Memory)
	}
	if st.Pids != (PidsStats{3, 10}) {
		t.Errorf("pids %+v", st.Pids)
	}
	if len(st.Blkio.IoServiceBytesRecursive) != 2 || len(st.Blkio.IoServicedRecursive) != 2 {
		t.Errorf("blkio %+v", st.Blkio)
	}
	if st.Hugetlb["2MB"].Failcnt != 5 {
		t.Errorf("hugetlb %+v", st.Hugetlb)
	}
	if n, _ := m.OOMKillCount(); n != 2 {
		t.Errorf("OOMKillCount = %d", n)
	}
	if err := m.(Killer).Kill(); err != nil {
		t.Fatal(err)
	}
	if got := readT(t, d, "cgroup.kill"); got != "1" {
		t.Errorf("cgroup.kill = %q", got)
	}
	if pids, _ := m.Pids(); len(pids) != 1 || pids[0] != 5 {
		t.Errorf("Pids = %v", pids)
	}
}

func TestConversions(t *testing.T) {
	for shares, w := range map[uint64]uint64{0: 0, 1: 1, 2: 1, 1024: 39, 262144: 10000, 1 << 30: 10000} {
		if got := SharesToWeight(shares); got != w {
			t.Errorf("SharesToWeight(%d) = %d, want %d", shares, got, w)
		}
	}
	for bw, w := range map[uint64]uint64{0: 0, 10: 1, 500: 4950, 1000: 10000} {
		if got := BlkioWeightToIOWeight(bw); got != w {
			t.Errorf("BlkioWeightToIOWeight(%d) = %d, want %d", bw, got, w)
		}
	}
	type sw struct {
		limit, swap *int64
		want        string
		ok, err     bool
	}
	for i, c := range []sw{
		{nil, nil, "", false, false},
		{p64(100), nil, "", false, false},
		{p64(-1), nil, "max", true, false},
		{p64(100), p64(-1), "max", true, false},
		{p64(100), p64(0), "", false, false},
		{p64(-1), p64(0), "max", true, false},
		{p64(100), p64(300), "200", true, false},
		{p64(100), p64(100), "0", true, false},
		{p64(100), p64(50), "", false, true},
		{nil, p64(50), "", false, true},
		{p64(-1), p64(50), "", false, true},
	} {
		got, ok, err := swapV2(c.limit, c.swap)
		if got != c.want || ok != c.ok || (err != nil) != c.err {
			t.Errorf("case %d: swapV2 = %q, %v, %v", i, got, ok, err)
		}
	}
}

func TestNeededControllers(t *testing.T) {
	r := &specs.LinuxResources{
		CPU:     &specs.LinuxCPU{Cpus: "0"},
		Unified: map[string]string{"memory.high": "1", "cgroup.max.depth": "3", "irq.pressure": "x", "misc.max": "y"},
	}
	got := strings.Join(neededControllers(r), ",")
	if got != "cpuset,memory,misc" {
		t.Fatalf("neededControllers = %s", got)
	}
}

// The cgroup v2 OOM watch: an event when memory.events' "oom" rises, none
// for other counters, and the end of the watch when the file goes away.
func TestV2FakeWatchOOM(t *testing.T) {
	root := fakeV2(t, "c9")
	d := filepath.Join(root, "berth", "c9")
	writeT(t, d, "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n")
	m, err := New(Config{Root: root, ID: "c9"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := WatchOOM(m)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	expect := func(want bool, what string) {
		t.Helper()
		select {
		case _, ok := <-w.C:
			if !want || !ok {
				t.Fatalf("%s: got an event (open %v), want none", what, ok)
			}
		case <-time.After(300 * time.Millisecond):
			if want {
				t.Fatalf("%s: no event", what)
			}
		}
	}
	writeT(t, d, "memory.events", "low 0\nhigh 4\nmax 2\noom 0\noom_kill 0\n")
	expect(false, "max and high rose")
	writeT(t, d, "memory.events", "low 0\nhigh 4\nmax 3\noom 1\noom_kill 1\n")
	expect(true, "oom rose")
	writeT(t, d, "memory.events", "low 0\nhigh 4\nmax 3\noom 1\noom_kill 1\n")
	expect(false, "rewritten unchanged")
	if err := os.Remove(filepath.Join(d, "memory.events")); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-w.C:
		if ok {
			t.Fatal("an event after the file went away")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not end when memory.events went away")
	}
	// Close after the end is harmless; a fresh watch closes on Close.
	w.Close()
	writeT(t, d, "memory.events", "oom 0\n")
	w2, err := WatchOOM(m)
	if err != nil {
		t.Fatal(err)
	}
	w2.Close()
	select {
	case _, ok := <-w2.C:
		if ok {
			t.Fatal("event after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the watch")
	}
}

// No memory cgroup: a clear "not implemented".
func TestWatchOOMWithoutMemory(t *testing.T) {
	root := fakeV2(t, "c10")
	m, err := New(Config{Root: root, ID: "c10"})
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(filepath.Join(root, "berth", "c10", "memory.events"))
	if _, err := WatchOOM(m); !errdefs.IsNotImplemented(err) {
		t.Fatalf("WatchOOM without memory files = %v, want not implemented", err)
	}
}
