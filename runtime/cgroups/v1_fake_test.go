package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
)

func richResources() *specs.LinuxResources {
	dev := func(maj, min int64) specs.LinuxBlockIODevice { return specs.LinuxBlockIODevice{Major: maj, Minor: min} }
	cls := uint32(0x100001)
	return &specs.LinuxResources{
		CPU: &specs.LinuxCPU{Shares: pu64(1024), Quota: p64(20000), Period: pu64(100000), Burst: pu64(1000),
			RealtimeRuntime: p64(950000), RealtimePeriod: pu64(1000000), Cpus: "0-1", Mems: "0", Idle: p64(0)},
		Memory: &specs.LinuxMemory{Limit: p64(256 << 20), Reservation: p64(128 << 20), Swap: p64(512 << 20), Kernel: p64(64 << 20),
			KernelTCP: p64(16 << 20), Swappiness: pu64(60), DisableOOMKiller: pbool(true), UseHierarchy: pbool(true)},
		Pids: &specs.LinuxPids{Limit: p64(100)},
		BlockIO: &specs.LinuxBlockIO{Weight: pu16(500), LeafWeight: pu16(300),
			WeightDevice:            []specs.LinuxWeightDevice{{LinuxBlockIODevice: dev(8, 0), Weight: pu16(600), LeafWeight: pu16(200)}},
			ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 0), Rate: 1048576}},
			ThrottleWriteBpsDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 16), Rate: 2097152}},
			ThrottleReadIOPSDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 0), Rate: 100}},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 0), Rate: 0}},
		},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
		Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: p64(1), Minor: p64(3), Access: "rw"},
			{Allow: true, Type: "b", Major: p64(8), Minor: p64(-1), Access: "r"},
			{Allow: true, Type: "c", Major: p64(136)},
		},
		Network: &specs.LinuxNetwork{ClassID: &cls, Priorities: []specs.LinuxInterfacePriority{{Name: "eth0", Priority: 5}, {Name: "lo", Priority: 1}}},
	}
}

func TestV1FakeRichSet(t *testing.T) {
	root := fakeV1(t, "/a/b", false)
	r := richResources()
	m, err := New(Config{Root: root, Path: "a/b", ID: "x", Resources: r})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{root: root}
	m.(*v1Manager).trace = rec.trace
	if err := m.Apply(4242); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	diffWrites(t, rec.writes, []string{
		"blkio/a/b/cgroup.procs=4242",
		"cpu/a/b/cgroup.procs=4242",
		"cpuacct/a/b/cgroup.procs=4242",
		"cpuset/a/b/cgroup.procs=4242",
		"devices/a/b/cgroup.procs=4242",
		"freezer/a/b/cgroup.procs=4242",
		"hugetlb/a/b/cgroup.procs=4242",
		"memory/a/b/cgroup.procs=4242",
		"net_cls,net_prio/a/b/cgroup.procs=4242",
		"pids/a/b/cgroup.procs=4242",
		"systemd/a/b/cgroup.procs=4242",
		"cpuset/a/b/cpuset.cpus=0-1",
		"cpuset/a/b/cpuset.mems=0",
		"cpu/a/b/cpu.shares=1024",
		"cpu/a/b/cpu.cfs_period_us=100000",
		"cpu/a/b/cpu.cfs_quota_us=20000",
		"cpu/a/b/cpu.cfs_burst_us=1000",
		"cpu/a/b/cpu.rt_period_us=1000000",
		"cpu/a/b/cpu.rt_runtime_us=950000",
		"cpu/a/b/cpu.idle=0",
		"memory/a/b/memory.memsw.limit_in_bytes=536870912",
		"memory/a/b/memory.limit_in_bytes=268435456",
		"memory/a/b/memory.soft_limit_in_bytes=134217728",
		"memory/a/b/memory.kmem.limit_in_bytes=67108864",
		"memory/a/b/memory.kmem.tcp.limit_in_bytes=16777216",
		"memory/a/b/memory.swappiness=60",
		"memory/a/b/memory.oom_control=1",
		"memory/a/b/memory.use_hierarchy=1",
		"pids/a/b/pids.max=100",
		"blkio/a/b/blkio.weight=500",
		"blkio/a/b/blkio.leaf_weight=300",
		"blkio/a/b/blkio.weight_device=8:0 600",
		"blkio/a/b/blkio.leaf_weight_device=8:0 200",
		"blkio/a/b/blkio.throttle.read_bps_device=8:0 1048576",
		"blkio/a/b/blkio.throttle.write_bps_device=8:16 2097152",
		"blkio/a/b/blkio.throttle.read_iops_device=8:0 100",
		"blkio/a/b/blkio.throttle.write_iops_device=8:0 0",
		"hugetlb/a/b/hugetlb.2MB.limit_in_bytes=4194304",
		"hugetlb/a/b/hugetlb.2MB.rsvd.limit_in_bytes=4194304",
		"devices/a/b/devices.deny=a",
		"devices/a/b/devices.deny=a *:* rwm",
		"devices/a/b/devices.allow=c 1:3 rw",
		"devices/a/b/devices.allow=b 8:* r",
		"devices/a/b/devices.allow=c 136:* rwm",
		"net_cls,net_prio/a/b/net_cls.classid=1048577",
		"net_cls,net_prio/a/b/net_prio.ifpriomap=eth0 5",
		"net_cls,net_prio/a/b/net_prio.ifpriomap=lo 1",
	})
	// The files hold the last value written.
	if got := readT(t, root, "memory/a/b/memory.limit_in_bytes"); got != "268435456" {
		t.Errorf("memory.limit_in_bytes = %q", got)
	}
	if m.Path("net_prio") != filepath.Join(root, "net_cls,net_prio", "a/b") || m.Path("net_cls") != m.Path("net_prio") {
		t.Errorf("co-mounted paths: net_cls %q net_prio %q", m.Path("net_cls"), m.Path("net_prio"))
	}

	// Saved state round-trips and a loaded manager destroys everything.
	m2, err := Load(m.Save())
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, m.Save())
	if err := m2.Destroy(); err != nil {
		t.Fatalf("second Destroy: %v", err)
	}
	if m2.Exists() {
		t.Error("Exists() after Destroy")
	}
}

func TestV1FakeOnlySetFieldsAreWritten(t *testing.T) {
	root := fakeV1(t, "/c", false)
	r := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p64(-1)}, Pids: &specs.LinuxPids{Limit: p64(-1)}}
	m, err := New(Config{Root: root, Path: "/c", Resources: r})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{root: root}
	m.(*v1Manager).trace = rec.trace
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	diffWrites(t, rec.writes, []string{
		"memory/c/memory.memsw.limit_in_bytes=-1",
		"memory/c/memory.limit_in_bytes=-1",
		"pids/c/pids.max=max",
	})
}

func TestV1FakeMissingControllerFailsEarly(t *testing.T) {
	root := fakeV1(t, "/d", false, "cpu", "memory", "pids", "freezer", "devices", "cpuset")
	cases := map[string]*specs.LinuxResources{
		"linux.resources.hugepageLimits":    {HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}}},
		"linux.resources.network.classID":   {Network: &specs.LinuxNetwork{ClassID: new(uint32)}},
		"linux.resources.blockIO":           {BlockIO: &specs.LinuxBlockIO{Weight: pu16(10)}},
		"linux.resources.unified":           {Unified: map[string]string{"memory.high": "1"}},
		"linux.resources.devices[0]":        {Devices: []specs.LinuxDeviceCgroup{{Type: "x"}}},
		"linux.resources.memory.swappiness": {Memory: &specs.LinuxMemory{Swappiness: pu64(101)}},
	}
	for field, r := range cases {
		_, err := New(Config{Root: root, Path: "/new-" + strings.ReplaceAll(field, "/", "_"), Resources: r})
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: New error %v, want one naming the field", field, err)
		}
	}
	// Nothing was created.
	for _, h := range []string{"cpu", "memory", "pids"} {
		ents, _ := os.ReadDir(filepath.Join(root, h))
		for _, e := range ents {
			if e.IsDir() && e.Name() != "d" {
				t.Errorf("left behind %s/%s", h, e.Name())
			}
		}
	}
	// Asking for nothing from a missing controller is fine.
	if _, err := New(Config{Root: root, Path: "/d", Resources: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: p64(3)}}}); err != nil {
		t.Fatal(err)
	}
}

func TestV1FakeSetErrorNamesFieldAndFile(t *testing.T) {
	root := fakeV1(t, "/e", false)
	if err := os.Remove(filepath.Join(root, "cpu/e/cpu.cfs_burst_us")); err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{Root: root, Path: "/e"})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Burst: pu64(5)}})
	if err == nil || !strings.Contains(err.Error(), "linux.resources.cpu.burst") || !strings.Contains(err.Error(), "cpu.cfs_burst_us") {
		t.Fatalf("Set error %v, want linux.resources.cpu.burst and cpu.cfs_burst_us", err)
	}
	err = m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p64(100), Swap: p64(50)}})
	if err == nil || !strings.Contains(err.Error(), "linux.resources.memory.swap") || !errdefs.IsInvalidArgument(err) {
		t.Fatalf("swap below limit: %v", err)
	}
}

func TestV1FakeFreezer(t *testing.T) {
	root := fakeV1(t, "/f", false)
	m, err := New(Config{Root: root, Path: "/f"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if got := readT(t, root, "freezer/f/freezer.state"); got != "FROZEN" {
		t.Errorf("freezer.state = %q", got)
	}
	if s, _ := m.FreezerState(); s != Frozen {
		t.Errorf("FreezerState = %q", s)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if s, _ := m.FreezerState(); s != Thawed {
		t.Errorf("FreezerState = %q", s)
	}
}

func TestV1FakeStatsAndPids(t *testing.T) {
	root := fakeV1(t, "/s", true)
	d := func(h string) string { return filepath.Join(root, h, "s") }
	writeT(t, d("cpuacct"), "cpuacct.usage", "123456789\n")
	writeT(t, d("cpuacct"), "cpuacct.usage_percpu", "100 200 \n")
	writeT(t, d("cpuacct"), "cpuacct.stat", "user 5\nsystem 7\n")
	writeT(t, d("cpu"), "cpu.stat", "nr_periods 10\nnr_throttled 3\nthrottled_time 999\n")
	writeT(t, d("memory"), "memory.usage_in_bytes", "4096\n")
	writeT(t, d("memory"), "memory.max_usage_in_bytes", "8192\n")
	writeT(t, d("memory"), "memory.limit_in_bytes", "9223372036854771712\n")
	writeT(t, d("memory"), "memory.failcnt", "2\n")
	writeT(t, d("memory"), "memory.stat", "cache 1024\nrss 2048\n")
	writeT(t, d("memory"), "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
	writeT(t, d("pids"), "pids.current", "4\n")
	writeT(t, d("pids"), "pids.max", "max\n")
	writeT(t, d("blkio"), "blkio.throttle.io_service_bytes_recursive", "8:0 Read 100\n8:0 Write 200\nTotal 300\n")
	writeT(t, d("hugetlb"), "hugetlb.2MB.usage_in_bytes", "2097152\n")
	writeT(t, d("hugetlb"), "hugetlb.2MB.failcnt", "1\n")
	writeT(t, d("pids"), "cgroup.procs", "12\n11\n")
	touch(t, filepath.Join(d("pids"), "child"), "cgroup.procs")
	writeT(t, filepath.Join(d("pids"), "child"), "cgroup.procs", "13\n")

	m, err := New(Config{Root: root, Path: "/s"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.CPU.Usage.Total != 123456789 || len(st.CPU.Usage.Percpu) != 2 || st.CPU.Usage.User != 5e7 || st.CPU.Usage.Kernel != 7e7 {
		t.Errorf("cpu usage %+v", st.CPU.Usage)
	}
	if st.CPU.Throttling != (Throttling{10, 3, 999}) {
		t.Errorf("throttling %+v", st.CPU.Throttling)
	}
	if st.Memory.Usage.Usage != 4096 || st.Memory.Usage.Max != 8192 || st.Memory.Usage.Failcnt != 2 || st.Memory.Cache != 1024 || st.Memory.Raw["rss"] != 2048 {
		t.Errorf("memory %+v", st.Memory)
	}
	if st.Pids.Current != 4 || st.Pids.Limit != 0 {
		t.Errorf("pids %+v", st.Pids)
	}
	if len(st.Blkio.IoServiceBytesRecursive) != 2 || st.Blkio.IoServiceBytesRecursive[1] != (BlkioEntry{8, 0, "Write", 200}) {
		t.Errorf("blkio %+v", st.Blkio)
	}
	if h := st.Hugetlb["2MB"]; h.Usage != 2097152 || h.Failcnt != 1 {
		t.Errorf("hugetlb %+v", st.Hugetlb)
	}
	if n, err := m.OOMKillCount(); err != nil || n != 3 {
		t.Errorf("OOMKillCount = %d, %v", n, err)
	}
	pids, err := m.Pids()
	if err != nil || len(pids) != 3 || pids[0] != 11 || pids[2] != 13 {
		t.Errorf("Pids = %v, %v", pids, err)
	}
	if m.Path("") != filepath.Join(root, "unified", "s") {
		t.Errorf("hybrid unified path %q", m.Path(""))
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, m.Save())
}

func TestV1FakeApplyErrorNamesFile(t *testing.T) {
	root := fakeV1(t, "/r", false, "memory", "pids")
	// A cgroup.procs that cannot be written (a directory in its place).
	p := filepath.Join(root, "pids", "r", "cgroup.procs")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{Root: root, Path: "/r"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(1); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("Apply error %v, want one naming %s", err, p)
	}
}

func TestHybridFakeHugetlbOnlyOnUnifiedIsRefused(t *testing.T) {
	root := fakeV1(t, "/h", true, "cpu", "memory", "pids", "freezer", "devices")
	writeT(t, filepath.Join(root, "unified"), "cgroup.controllers", "hugetlb\n")
	r := &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "1GB", Limit: 1 << 30}}}
	_, err := New(Config{Root: root, Path: "/h2", Resources: r})
	if err == nil || !strings.Contains(err.Error(), "linux.resources.hugepageLimits") || !strings.Contains(err.Error(), "mount -t cgroup -o hugetlb") {
		t.Fatalf("New with hugetlb only on cgroup2: %v", err)
	}
	if got := readT(t, root, "unified", "cgroup.subtree_control"); got != "" {
		t.Fatalf("unified subtree_control changed to %q", got)
	}
}

func TestV1FakeLeafWeightSkippedWithoutCFQ(t *testing.T) {
	root := fakeV1(t, "/lw", false, "blkio")
	d := filepath.Join(root, "blkio", "lw")
	for _, f := range []string{"blkio.weight", "blkio.leaf_weight", "blkio.leaf_weight_device", "blkio.weight_device"} {
		if err := os.Remove(filepath.Join(d, f)); err != nil {
			t.Fatal(err)
		}
	}
	touch(t, d, "blkio.bfq.weight", "blkio.bfq.weight_device")
	m, err := New(Config{Root: root, Path: "/lw"})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{root: root}
	m.(*v1Manager).trace = rec.trace
	err = m.Set(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: pu16(200), LeafWeight: pu16(100),
		WeightDevice: []specs.LinuxWeightDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Weight: pu16(50), LeafWeight: pu16(60)}}}})
	if err != nil {
		t.Fatal(err)
	}
	diffWrites(t, rec.writes, []string{
		"blkio/lw/blkio.bfq.weight=200",
		"blkio/lw/blkio.bfq.weight_device=8:0 50",
	})
}

func TestV1FakeUnknownPageSize(t *testing.T) {
	root := fakeV1(t, "/p", false, "hugetlb", "memory")
	touch(t, filepath.Join(root, "hugetlb"), "hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.rsvd.limit_in_bytes", "hugetlb.1GB.limit_in_bytes")
	r := &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}, {Pagesize: "3MB", Limit: 1}}}
	_, err := New(Config{Root: root, Path: "/p2", Resources: r})
	if err == nil || !strings.Contains(err.Error(), `linux.resources.hugepageLimits[1].pageSize "3MB"`) || !strings.Contains(err.Error(), "1GB, 2MB") {
		t.Fatalf("New with page size 3MB: %v", err)
	}
	r.HugepageLimits = r.HugepageLimits[:1]
	if _, err := New(Config{Root: root, Path: "/p2", Resources: r}); err != nil {
		t.Fatal(err)
	}
}

func TestHybridFakeFreezeWithoutV1Freezer(t *testing.T) {
	root := fakeV1(t, "/z", true, "memory", "pids")
	writeT(t, filepath.Join(root, "unified", "z"), "cgroup.events", "populated 1\nfrozen 1\n")
	m, err := New(Config{Root: root, Path: "/z"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if got := readT(t, root, "unified/z/cgroup.freeze"); got != "1" {
		t.Fatalf("unified cgroup.freeze = %q", got)
	}
	if s, _ := m.FreezerState(); s != Frozen {
		t.Fatalf("FreezerState = %q", s)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if s, _ := m.FreezerState(); s != Thawed {
		t.Fatalf("FreezerState = %q", s)
	}
	// Pure v1 without a freezer: a clear error.
	root1 := fakeV1(t, "/z", false, "memory")
	m1, err := New(Config{Root: root1, Path: "/z"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m1.Freeze(); err == nil || !strings.Contains(err.Error(), "freezer") {
		t.Fatalf("Freeze without any freezer: %v", err)
	}
}
