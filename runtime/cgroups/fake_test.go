package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	fakeTrees = true
	// Grandchildren the tests start (sleeps behind a shell) are adopted and
	// reaped here rather than left to a slow PID 1.
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	os.Exit(m.Run())
}

// write records of a manager, relative to the fake root.
type recorder struct {
	root   string
	writes []string // "rel/path=value"
}

func (r *recorder) trace(path, value string) {
	rel, err := filepath.Rel(r.root, path)
	if err != nil {
		rel = path
	}
	r.writes = append(r.writes, rel+"="+value)
}

func touch(t *testing.T, dir string, files ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func writeT(t *testing.T, dir, file, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// v1Files are the control files a fake v1 cgroup directory gets per hierarchy.
var v1Files = map[string][]string{
	"cpu":     {"cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.cfs_burst_us", "cpu.rt_period_us", "cpu.rt_runtime_us", "cpu.idle", "cpu.stat"},
	"cpuacct": {"cpuacct.usage", "cpuacct.usage_percpu", "cpuacct.stat"},
	"cpuset":  {"cpuset.cpus", "cpuset.mems"},
	"memory": {"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.kmem.limit_in_bytes",
		"memory.kmem.tcp.limit_in_bytes", "memory.swappiness", "memory.oom_control", "memory.use_hierarchy", "memory.usage_in_bytes",
		"memory.max_usage_in_bytes", "memory.failcnt", "memory.stat"},
	"pids":    {"pids.max", "pids.current"},
	"devices": {"devices.allow", "devices.deny", "devices.list"},
	"freezer": {"freezer.state"},
	"blkio": {"blkio.weight", "blkio.leaf_weight", "blkio.weight_device", "blkio.leaf_weight_device", "blkio.throttle.read_bps_device",
		"blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device", "blkio.throttle.io_service_bytes_recursive"},
	"hugetlb":          {"hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.rsvd.limit_in_bytes", "hugetlb.2MB.usage_in_bytes", "hugetlb.2MB.max_usage_in_bytes", "hugetlb.2MB.failcnt"},
	"net_cls,net_prio": {"net_cls.classid", "net_prio.ifpriomap"},
	"systemd":          {},
}

// fakeV1 lays out a v1 (or, with unified, hybrid) tree under a temp dir with
// the cgroup directory cg pre-created in every hierarchy (a fake tree cannot
// conjure control files on mkdir). only, if set, limits the hierarchies.
func fakeV1(t *testing.T, cg string, unified bool, only ...string) string {
	t.Helper()
	root := t.TempDir()
	for h, files := range v1Files {
		if len(only) > 0 && !contains(only, h) {
			continue
		}
		touch(t, filepath.Join(root, h), "cgroup.procs", "tasks")
		touch(t, filepath.Join(root, h, cg), append([]string{"cgroup.procs"}, files...)...)
		if h == "net_cls,net_prio" {
			_ = os.Symlink(h, filepath.Join(root, "net_cls"))
			_ = os.Symlink(h, filepath.Join(root, "net_prio"))
		}
	}
	if unified {
		touch(t, filepath.Join(root, "unified"), "cgroup.controllers", "cgroup.subtree_control", "cgroup.procs")
		touch(t, filepath.Join(root, "unified", cg), "cgroup.procs", "cgroup.freeze", "cgroup.events")
	}
	return root
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestModeOnFakeTrees(t *testing.T) {
	v1 := fakeV1(t, "/x", false)
	hy := fakeV1(t, "/x", true)
	v2 := t.TempDir()
	touch(t, v2, "cgroup.controllers")
	for root, want := range map[string]string{v1: ModeV1, hy: ModeHybrid, v2: ModeV2} {
		if got := Mode(root); got != want {
			t.Errorf("Mode(%s) = %q, want %q", root, got, want)
		}
	}
}

func diffWrites(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("writes differ.\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
