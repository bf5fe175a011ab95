package cgroups

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
)

// v1Manager drives cgroup v1 hierarchies (and, in hybrid mode, membership of
// the cgroup2 hierarchy mounted at <root>/unified).
type v1Manager struct {
	s     Saved
	trace func(path, value string) // tests: observe every write
}

func newV1(s Saved) *v1Manager { return &v1Manager{s: s} }

func (m *v1Manager) Save() Saved {
	c := m.s
	c.Paths = make(map[string]string, len(m.s.Paths))
	for k, v := range m.s.Paths {
		c.Paths[k] = v
	}
	return c
}

func (m *v1Manager) Path(controller string) string {
	if controller == "" {
		controller = Unified
	}
	return m.s.Paths[controller]
}

// hierarchyRoot is the mount directory of the hierarchy holding dir.
func (m *v1Manager) hierarchyRoot(dir string) string {
	return strings.TrimSuffix(dir, m.s.Path)
}

// dirs lists each distinct cgroup directory once (co-mounted controllers
// share one), in a stable order.
func (m *v1Manager) dirs() []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range m.s.Paths {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

func (m *v1Manager) write(dir, file, value string) error {
	if m.trace != nil {
		m.trace(filepath.Join(dir, file), value)
	}
	return writeFile(dir, file, value)
}

// TaskFiles implements SelfJoiner.
func (m *v1Manager) TaskFiles() []string {
	var out []string
	for _, d := range m.dirs() {
		if d != m.s.Paths[Unified] {
			out = append(out, filepath.Join(d, "tasks"))
		}
	}
	return out
}

// UnifiedDir implements SelfJoiner.
func (m *v1Manager) UnifiedDir() string { return m.s.Paths[Unified] }

// Apply creates the cgroup in every hierarchy and moves pid in. A pid <= 0
// only creates the directories.
func (m *v1Manager) Apply(pid int) error {
	for _, d := range m.dirs() {
		var init func(parent, d string) error
		if d == m.s.Paths["cpuset"] {
			init = m.initCpuset
		}
		if err := mkdirAll(m.hierarchyRoot(d), d, init); err != nil {
			if m.s.Rootless && isPerm(err) {
				continue
			}
			return fmt.Errorf("cgroups: create %s: %w", d, err)
		}
		if pid > 0 {
			if err := m.write(d, "cgroup.procs", strconv.Itoa(pid)); err != nil {
				if m.s.Rootless && isPerm(err) {
					continue
				}
				return fmt.Errorf("cgroups: move pid %d: %w", pid, err)
			}
		}
	}
	return nil
}

// initCpuset copies cpuset.cpus and cpuset.mems from the parent into a new
// cpuset cgroup, which starts empty and would refuse tasks.
func (m *v1Manager) initCpuset(parent, d string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := readTrim(d, f)
		if err != nil {
			return fmt.Errorf("cgroups: init cpuset: %w", err)
		}
		if cur != "" {
			continue
		}
		pv, err := readTrim(parent, f)
		if err != nil {
			return fmt.Errorf("cgroups: init cpuset: %w", err)
		}
		if pv == "" && parent != m.hierarchyRoot(m.s.Paths["cpuset"]) {
			// A parent someone else made and left empty: fill it first.
			if err := m.initCpuset(filepath.Dir(parent), parent); err != nil {
				return err
			}
			if pv, err = readTrim(parent, f); err != nil {
				return fmt.Errorf("cgroups: init cpuset: %w", err)
			}
		}
		if err := m.write(d, f, pv); err != nil {
			return fmt.Errorf("cgroups: init cpuset: %w", err)
		}
	}
	return nil
}

// need returns the directory of controller ctrl or an error naming field.
func (m *v1Manager) need(ctrl, field string) (string, error) {
	if d := m.s.Paths[ctrl]; d != "" {
		return d, nil
	}
	return "", fmt.Errorf("%s: the %s cgroup controller is not mounted under %s: %w", field, ctrl, m.s.Root, errdefs.ErrFailedPrecondition)
}

func (m *v1Manager) validate(r *specs.LinuxResources) error {
	if err := validateCommon(r); err != nil {
		return err
	}
	check := func(cond bool, ctrl, field string) error {
		if !cond {
			return nil
		}
		_, err := m.need(ctrl, field)
		return err
	}
	if c := r.CPU; c != nil {
		if err := check(c.Shares != nil || c.Quota != nil || c.Period != nil || c.Burst != nil ||
			c.RealtimePeriod != nil || c.RealtimeRuntime != nil || c.Idle != nil, "cpu", "linux.resources.cpu"); err != nil {
			return err
		}
		if err := check(c.Cpus != "" || c.Mems != "", "cpuset", "linux.resources.cpu.cpus"); err != nil {
			return err
		}
	}
	if err := check(r.Memory != nil && !memoryEmpty(r.Memory), "memory", "linux.resources.memory"); err != nil {
		return err
	}
	if err := check(r.Pids != nil && r.Pids.Limit != nil, "pids", "linux.resources.pids"); err != nil {
		return err
	}
	if err := check(r.BlockIO != nil, "blkio", "linux.resources.blockIO"); err != nil {
		return err
	}
	if len(r.HugepageLimits) > 0 && m.s.Paths["hugetlb"] == "" {
		if m.unifiedHas("hugetlb") {
			// Enabling it on the hybrid host's cgroup2 would bind it there and
			// make a later v1 hugetlb mount fail, so Berth does not.
			return fmt.Errorf("linux.resources.hugepageLimits: the hugetlb controller is not mounted as cgroup v1 under %s (on this hybrid host it sits unused on cgroup2; mount it with `mkdir -p %s/hugetlb && mount -t cgroup -o hugetlb cgroup %s/hugetlb`): %w",
				m.s.Root, m.s.Root, m.s.Root, errdefs.ErrFailedPrecondition)
		}
		return check(true, "hugetlb", "linux.resources.hugepageLimits")
	}
	if d := m.s.Paths["hugetlb"]; d != "" && len(r.HugepageLimits) > 0 {
		if err := checkPageSizes(m.hierarchyRoot(d), r.HugepageLimits); err != nil {
			return err
		}
	}
	if err := check(len(r.Devices) > 0, "devices", "linux.resources.devices"); err != nil {
		return err
	}
	if n := r.Network; n != nil {
		if err := check(n.ClassID != nil, "net_cls", "linux.resources.network.classID"); err != nil {
			return err
		}
		if err := check(len(n.Priorities) > 0, "net_prio", "linux.resources.network.priorities"); err != nil {
			return err
		}
	}
	if len(r.Rdma) > 0 {
		if err := check(true, "rdma", "linux.resources.rdma"); err != nil {
			return err
		}
	}
	if len(r.Unified) > 0 && m.s.Mode != ModeHybrid {
		return fmt.Errorf("linux.resources.unified: needs cgroup v2, this host has only cgroup v1 under %s: %w", m.s.Root, errdefs.ErrInvalidArgument)
	}
	return nil
}

// unifiedHas reports whether, in hybrid mode, the cgroup2 hierarchy offers ctrl
// (e.g. hugetlb when it is not mounted as v1).
func (m *v1Manager) unifiedHas(ctrl string) bool {
	if m.s.Mode != ModeHybrid {
		return false
	}
	s, err := readFile(filepath.Join(m.s.Root, "unified"), "cgroup.controllers")
	if err != nil {
		return false
	}
	for _, f := range strings.Fields(s) {
		if f == ctrl {
			return true
		}
	}
	return false
}

func memoryEmpty(mem *specs.LinuxMemory) bool {
	return mem.Limit == nil && mem.Reservation == nil && mem.Swap == nil && mem.Kernel == nil &&
		mem.KernelTCP == nil && mem.Swappiness == nil && mem.DisableOOMKiller == nil && mem.UseHierarchy == nil
}

// Set writes the resources in r; only files for fields that are set are written.
func (m *v1Manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if err := m.validate(r); err != nil {
		return err
	}
	if err := m.setCPU(r.CPU); err != nil {
		return err
	}
	if err := m.setMemory(r.Memory); err != nil {
		return err
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		if err := m.write(m.s.Paths["pids"], "pids.max", pidsMax(*r.Pids.Limit)); err != nil {
			return fmt.Errorf("linux.resources.pids.limit: %w", err)
		}
	}
	if err := m.setBlkio(r.BlockIO); err != nil {
		return err
	}
	if err := m.setHugetlb(r.HugepageLimits); err != nil {
		return err
	}
	if len(r.Devices) > 0 {
		if err := m.setDevices(r.Devices); err != nil {
			return err
		}
	}
	if err := m.setNetwork(r.Network); err != nil {
		return err
	}
	if err := m.setRdma(r.Rdma); err != nil {
		return err
	}
	for _, k := range sortedKeys(r.Unified) {
		if err := m.write(m.s.Paths[Unified], k, r.Unified[k]); err != nil {
			return fmt.Errorf("linux.resources.unified[%q]: %w", k, err)
		}
	}
	return nil
}

func pidsMax(limit int64) string {
	if limit <= 0 {
		return "max"
	}
	return strconv.FormatInt(limit, 10)
}

func (m *v1Manager) setCPU(c *specs.LinuxCPU) error {
	if c == nil {
		return nil
	}
	if c.Cpus != "" || c.Mems != "" {
		d := m.s.Paths["cpuset"]
		if c.Cpus != "" {
			if err := m.write(d, "cpuset.cpus", c.Cpus); err != nil {
				return fmt.Errorf("linux.resources.cpu.cpus: %w", err)
			}
		}
		if c.Mems != "" {
			if err := m.write(d, "cpuset.mems", c.Mems); err != nil {
				return fmt.Errorf("linux.resources.cpu.mems: %w", err)
			}
		}
	}
	d := m.s.Paths["cpu"]
	if c.Shares != nil {
		if err := m.write(d, "cpu.shares", strconv.FormatUint(*c.Shares, 10)); err != nil {
			return fmt.Errorf("linux.resources.cpu.shares: %w", err)
		}
	}
	// Period first, then quota; a new period smaller than quota/old period
	// combos may be refused in one order and not the other: retry reversed.
	if c.Period != nil || c.Quota != nil {
		var ops [][3]string
		if c.Period != nil {
			ops = append(ops, [3]string{"cpu.cfs_period_us", strconv.FormatUint(*c.Period, 10), "linux.resources.cpu.period"})
		}
		if c.Quota != nil {
			q := *c.Quota
			if q <= 0 {
				q = -1
			}
			ops = append(ops, [3]string{"cpu.cfs_quota_us", strconv.FormatInt(q, 10), "linux.resources.cpu.quota"})
		}
		if err := m.writeOrdered(d, ops); err != nil {
			return err
		}
	}
	if c.Burst != nil && !(*c.Burst == 0 && !fileExists(d, "cpu.cfs_burst_us")) {
		if err := m.write(d, "cpu.cfs_burst_us", strconv.FormatUint(*c.Burst, 10)); err != nil {
			return fmt.Errorf("linux.resources.cpu.burst: %w", err)
		}
	}
	if c.RealtimePeriod != nil || c.RealtimeRuntime != nil {
		var ops [][3]string
		if c.RealtimePeriod != nil {
			ops = append(ops, [3]string{"cpu.rt_period_us", strconv.FormatUint(*c.RealtimePeriod, 10), "linux.resources.cpu.realtimePeriod"})
		}
		if c.RealtimeRuntime != nil {
			ops = append(ops, [3]string{"cpu.rt_runtime_us", strconv.FormatInt(*c.RealtimeRuntime, 10), "linux.resources.cpu.realtimeRuntime"})
		}
		if err := m.writeOrdered(d, ops); err != nil {
			return err
		}
	}
	if c.Idle != nil && !(*c.Idle == 0 && !fileExists(d, "cpu.idle")) {
		if err := m.write(d, "cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
			return fmt.Errorf("linux.resources.cpu.idle: %w", err)
		}
	}
	return nil
}

// writeOrdered writes ops in order; if one fails with EINVAL it tries the
// reverse order once (limit pairs that constrain each other).
func (m *v1Manager) writeOrdered(d string, ops [][3]string) error {
	var first error
	for _, op := range ops {
		if err := m.write(d, op[0], op[1]); err != nil {
			first = fmt.Errorf("%s: %w", op[2], err)
			break
		}
	}
	if first == nil {
		return nil
	}
	if len(ops) < 2 || !errors.Is(first, unix.EINVAL) {
		return first
	}
	for i := len(ops) - 1; i >= 0; i-- {
		if err := m.write(d, ops[i][0], ops[i][1]); err != nil {
			return fmt.Errorf("%s: %w", ops[i][2], err)
		}
	}
	return nil
}

func (m *v1Manager) setMemory(mem *specs.LinuxMemory) error {
	if mem == nil || memoryEmpty(mem) {
		return nil
	}
	d := m.s.Paths["memory"]
	var ops [][3]string
	if mem.Limit != nil {
		ops = append(ops, [3]string{"memory.limit_in_bytes", strconv.FormatInt(limitV1(*mem.Limit), 10), "linux.resources.memory.limit"})
	}
	swap := mem.Swap
	if swap == nil && mem.Limit != nil && *mem.Limit == -1 && fileExists(d, "memory.memsw.limit_in_bytes") {
		// Unlimited memory must not stay capped by an old memory+swap limit.
		v := int64(-1)
		swap = &v
	}
	if swap != nil {
		if !fileExists(d, "memory.memsw.limit_in_bytes") {
			if *swap != -1 && *swap != 0 {
				return fmt.Errorf("linux.resources.memory.swap: the kernel has no swap accounting (%s missing): %w",
					filepath.Join(d, "memory.memsw.limit_in_bytes"), errdefs.ErrFailedPrecondition)
			}
		} else if *swap != 0 {
			if mem.Limit != nil && *mem.Limit > 0 && *swap > 0 && *swap < *mem.Limit {
				return fmt.Errorf("linux.resources.memory.swap: %d is below memory.limit %d (swap is memory+swap): %w", *swap, *mem.Limit, errdefs.ErrInvalidArgument)
			}
			sw := [3]string{"memory.memsw.limit_in_bytes", strconv.FormatInt(limitV1(*swap), 10), "linux.resources.memory.swap"}
			// Raising: memsw must grow before memory; lowering: memory first.
			cur, _ := readUint(d, "memory.memsw.limit_in_bytes")
			if *swap == -1 || uint64(*swap) > cur {
				ops = append([][3]string{sw}, ops...)
			} else {
				ops = append(ops, sw)
			}
		}
	}
	if len(ops) > 0 {
		if err := m.writeOrdered(d, ops); err != nil {
			return err
		}
	}
	if mem.Reservation != nil {
		if err := m.write(d, "memory.soft_limit_in_bytes", strconv.FormatInt(limitV1(*mem.Reservation), 10)); err != nil {
			return fmt.Errorf("linux.resources.memory.reservation: %w", err)
		}
	}
	if mem.Kernel != nil {
		if err := m.write(d, "memory.kmem.limit_in_bytes", strconv.FormatInt(limitV1(*mem.Kernel), 10)); err != nil {
			if !(errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.EINVAL)) {
				return fmt.Errorf("linux.resources.memory.kernel: %w", err)
			}
			// Kernels from 5.16 on no longer limit kernel memory separately.
			slog.Warn("linux.resources.memory.kernel ignored: this kernel has no separate kernel-memory limit", "error", err)
		} else if got, err := readUint(d, "memory.kmem.limit_in_bytes"); err == nil && *mem.Kernel > 0 && got != uint64(*mem.Kernel) {
			// Newer kernels accept the write and keep no limit.
			slog.Warn("linux.resources.memory.kernel ignored by the kernel: it keeps no separate kernel-memory limit", "asked", *mem.Kernel, "memory.kmem.limit_in_bytes", got)
		}
	}
	if mem.KernelTCP != nil {
		if err := m.write(d, "memory.kmem.tcp.limit_in_bytes", strconv.FormatInt(limitV1(*mem.KernelTCP), 10)); err != nil {
			return fmt.Errorf("linux.resources.memory.kernelTCP: %w", err)
		}
	}
	if mem.Swappiness != nil {
		if *mem.Swappiness > 100 {
			return fmt.Errorf("linux.resources.memory.swappiness: %d is above 100: %w", *mem.Swappiness, errdefs.ErrInvalidArgument)
		}
		if err := m.write(d, "memory.swappiness", strconv.FormatUint(*mem.Swappiness, 10)); err != nil {
			return fmt.Errorf("linux.resources.memory.swappiness: %w", err)
		}
	}
	if mem.DisableOOMKiller != nil && *mem.DisableOOMKiller {
		if err := m.write(d, "memory.oom_control", "1"); err != nil {
			return fmt.Errorf("linux.resources.memory.disableOOMKiller: %w", err)
		}
	}
	if mem.UseHierarchy != nil {
		v := "0"
		if *mem.UseHierarchy {
			v = "1"
		}
		if err := m.write(d, "memory.use_hierarchy", v); err != nil {
			return fmt.Errorf("linux.resources.memory.useHierarchy: %w", err)
		}
	}
	return nil
}

// limitV1 maps the spec's "no limit" spellings to -1.
func limitV1(v int64) int64 {
	if v < 0 {
		return -1
	}
	return v
}

func fileExists(dir, file string) bool {
	_, err := os.Stat(filepath.Join(dir, file))
	return err == nil
}

func devNum(d specs.LinuxBlockIODevice) string {
	return fmt.Sprintf("%d:%d", d.Major, d.Minor)
}

func (m *v1Manager) setBlkio(b *specs.LinuxBlockIO) error {
	if b == nil {
		return nil
	}
	d := m.s.Paths["blkio"]
	// Kernels without CFQ name the proportional weights blkio.bfq.*.
	weightFile, leafFile, devFile := "blkio.weight", "blkio.leaf_weight", "blkio.weight_device"
	if !fileExists(d, weightFile) && fileExists(d, "blkio.bfq.weight") {
		weightFile, devFile = "blkio.bfq.weight", "blkio.bfq.weight_device"
	}
	if b.Weight != nil && *b.Weight != 0 { // 0 means "unset" (Docker sends it), as on v2
		if err := m.write(d, weightFile, strconv.FormatUint(uint64(*b.Weight), 10)); err != nil {
			return fmt.Errorf("linux.resources.blockIO.weight: %w", err)
		}
	}
	// Leaf weights belonged to the CFQ scheduler, gone since Linux 5.0: where
	// the kernel has no leaf-weight files they are skipped with a warning.
	leafOK := fileExists(d, leafFile)
	if b.LeafWeight != nil {
		if !leafOK {
			slog.Warn("linux.resources.blockIO.leafWeight ignored: the kernel has no " + leafFile + " (CFQ only)")
		} else if err := m.write(d, leafFile, strconv.FormatUint(uint64(*b.LeafWeight), 10)); err != nil {
			return fmt.Errorf("linux.resources.blockIO.leafWeight: %w", err)
		}
	}
	for i, wd := range b.WeightDevice {
		if wd.Weight != nil {
			if err := m.write(d, devFile, fmt.Sprintf("%s %d", devNum(wd.LinuxBlockIODevice), *wd.Weight)); err != nil {
				return fmt.Errorf("linux.resources.blockIO.weightDevice[%d].weight: %w", i, err)
			}
		}
		if wd.LeafWeight != nil && !leafOK {
			slog.Warn(fmt.Sprintf("linux.resources.blockIO.weightDevice[%d].leafWeight ignored: the kernel has no blkio.leaf_weight_device (CFQ only)", i))
		} else if wd.LeafWeight != nil {
			if err := m.write(d, "blkio.leaf_weight_device", fmt.Sprintf("%s %d", devNum(wd.LinuxBlockIODevice), *wd.LeafWeight)); err != nil {
				return fmt.Errorf("linux.resources.blockIO.weightDevice[%d].leafWeight: %w", i, err)
			}
		}
	}
	for _, t := range []struct {
		list  []specs.LinuxThrottleDevice
		file  string
		field string
	}{
		{b.ThrottleReadBpsDevice, "blkio.throttle.read_bps_device", "throttleReadBpsDevice"},
		{b.ThrottleWriteBpsDevice, "blkio.throttle.write_bps_device", "throttleWriteBpsDevice"},
		{b.ThrottleReadIOPSDevice, "blkio.throttle.read_iops_device", "throttleReadIOPSDevice"},
		{b.ThrottleWriteIOPSDevice, "blkio.throttle.write_iops_device", "throttleWriteIOPSDevice"},
	} {
		for i, td := range t.list {
			if err := m.write(d, t.file, fmt.Sprintf("%s %d", devNum(td.LinuxBlockIODevice), td.Rate)); err != nil {
				return fmt.Errorf("linux.resources.blockIO.%s[%d]: %w", t.field, i, err)
			}
		}
	}
	return nil
}

func (m *v1Manager) setHugetlb(limits []specs.LinuxHugepageLimit) error {
	if len(limits) == 0 {
		return nil
	}
	d, suffix, rsvd := m.s.Paths["hugetlb"], ".limit_in_bytes", ".rsvd.limit_in_bytes"
	for i, l := range limits {
		v := strconv.FormatUint(l.Limit, 10)
		if err := m.write(d, "hugetlb."+l.Pagesize+suffix, v); err != nil {
			return fmt.Errorf("linux.resources.hugepageLimits[%d] (pageSize %s): %w", i, l.Pagesize, err)
		}
		// Reservation limits too, where the kernel has them.
		if fileExists(d, "hugetlb."+l.Pagesize+rsvd) {
			if err := m.write(d, "hugetlb."+l.Pagesize+rsvd, v); err != nil {
				return fmt.Errorf("linux.resources.hugepageLimits[%d] (pageSize %s) reservation: %w", i, l.Pagesize, err)
			}
		}
	}
	return nil
}

// checkPageSizes refuses page sizes the kernel does not offer, judged from
// the hugetlb.<size>.limit_in_bytes files of the hierarchy root (when it has
// any: a fake tree may not).
func checkPageSizes(root string, limits []specs.LinuxHugepageLimit) error {
	matches, _ := filepath.Glob(filepath.Join(root, "hugetlb.*.limit_in_bytes"))
	have := map[string]bool{}
	var sizes []string
	for _, p := range matches {
		size := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "hugetlb."), ".limit_in_bytes")
		if !strings.Contains(size, ".") {
			have[size] = true
			sizes = append(sizes, size)
		}
	}
	if len(have) == 0 {
		return nil
	}
	for i, l := range limits {
		if !have[l.Pagesize] {
			return fmt.Errorf("linux.resources.hugepageLimits[%d].pageSize %q: not a huge page size of this kernel (it has %s): %w",
				i, l.Pagesize, strings.Join(sizes, ", "), errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

func (m *v1Manager) setNetwork(n *specs.LinuxNetwork) error {
	if n == nil {
		return nil
	}
	if n.ClassID != nil {
		if err := m.write(m.s.Paths["net_cls"], "net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10)); err != nil {
			return fmt.Errorf("linux.resources.network.classID: %w", err)
		}
	}
	for i, p := range n.Priorities {
		if err := m.write(m.s.Paths["net_prio"], "net_prio.ifpriomap", fmt.Sprintf("%s %d", p.Name, p.Priority)); err != nil {
			return fmt.Errorf("linux.resources.network.priorities[%d] (%s): %w", i, p.Name, err)
		}
	}
	return nil
}

func (m *v1Manager) setRdma(r map[string]specs.LinuxRdma) error {
	dir := m.s.Paths["rdma"]
	for _, dev := range sortedKeys(r) {
		if v := rdmaLine(dev, r[dev]); v != "" {
			if err := m.write(dir, "rdma.max", v); err != nil {
				return fmt.Errorf("linux.resources.rdma[%q]: %w", dev, err)
			}
		}
	}
	return nil
}

func rdmaLine(dev string, l specs.LinuxRdma) string {
	var f []string
	if l.HcaHandles != nil {
		f = append(f, fmt.Sprintf("hca_handle=%d", *l.HcaHandles))
	}
	if l.HcaObjects != nil {
		f = append(f, fmt.Sprintf("hca_object=%d", *l.HcaObjects))
	}
	if len(f) == 0 {
		return ""
	}
	return dev + " " + strings.Join(f, " ")
}

// setDevices writes the v1 device rules: deny everything first, then every
// rule in order. An "allow all" rule ("a *:* rwm") switches the cgroup to
// default-allow, after which deny rules add exceptions, as the kernel's v1
// device controller defines.
func (m *v1Manager) setDevices(rules []specs.LinuxDeviceCgroup) error {
	d := m.s.Paths["devices"]
	if err := m.write(d, "devices.deny", "a"); err != nil {
		return fmt.Errorf("linux.resources.devices: reset to deny-all: %w", err)
	}
	for i, r := range rules {
		line, err := DeviceRuleV1(r)
		if err != nil {
			return fmt.Errorf("linux.resources.devices[%d]: %w", i, err)
		}
		file := "devices.deny"
		if r.Allow {
			file = "devices.allow"
		}
		if err := m.write(d, file, line); err != nil {
			return fmt.Errorf("linux.resources.devices[%d]: %w", i, err)
		}
	}
	return nil
}

func (m *v1Manager) freezerDir() (string, error) {
	return m.need("freezer", "freezer")
}

// unifiedFreezer is, on a hybrid host without a v1 freezer, the cgroup2
// side of the container, whose cgroup.freeze does the same job.
func (m *v1Manager) unifiedFreezer() *v2Manager {
	if m.s.Paths["freezer"] != "" || m.s.Paths[Unified] == "" {
		return nil
	}
	return &v2Manager{s: m.s, dir: m.s.Paths[Unified], root: m.hierarchyRoot(m.s.Paths[Unified]), trace: m.trace}
}

// Freeze writes FROZEN and waits until the kernel reports FROZEN, writing it
// again now and then (a freeze can stall on tasks in uninterruptible sleep).
func (m *v1Manager) Freeze() error {
	if u := m.unifiedFreezer(); u != nil {
		return u.Freeze()
	}
	d, err := m.freezerDir()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	delay := 100 * time.Microsecond
	for i := 0; ; i++ {
		if i%8 == 0 {
			if err := m.write(d, "freezer.state", "FROZEN"); err != nil {
				return fmt.Errorf("cgroups: freeze: %w", err)
			}
		}
		st, err := readTrim(d, "freezer.state")
		if err != nil {
			return fmt.Errorf("cgroups: freeze: %w", err)
		}
		if st == "FROZEN" {
			return nil
		}
		if time.Now().After(deadline) {
			_ = m.write(d, "freezer.state", "THAWED")
			return fmt.Errorf("cgroups: freeze %s: still %s after 10s: %w", d, st, errdefs.ErrUnavailable)
		}
		time.Sleep(delay)
		if delay < 10*time.Millisecond {
			delay *= 2
		}
	}
}

func (m *v1Manager) Thaw() error {
	if u := m.unifiedFreezer(); u != nil {
		return u.Thaw()
	}
	d, err := m.freezerDir()
	if err != nil {
		return err
	}
	if err := m.write(d, "freezer.state", "THAWED"); err != nil {
		return fmt.Errorf("cgroups: thaw: %w", err)
	}
	return nil
}

func (m *v1Manager) FreezerState() (string, error) {
	if u := m.unifiedFreezer(); u != nil {
		return u.FreezerState()
	}
	d, err := m.freezerDir()
	if err != nil {
		return "", err
	}
	st, err := readTrim(d, "freezer.state")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Thawed, nil
		}
		return "", fmt.Errorf("cgroups: freezer state: %w", err)
	}
	switch st {
	case "FROZEN":
		return Frozen, nil
	case "FREEZING":
		return Freezing, nil
	}
	return Thawed, nil
}

// pidDir picks the hierarchy whose subtree lists the container's processes.
func (m *v1Manager) pidDir() string {
	for _, c := range []string{"pids", "freezer", "memory", "cpu", "devices", "name=systemd"} {
		if d := m.s.Paths[c]; d != "" {
			return d
		}
	}
	if d := m.dirs(); len(d) > 0 {
		return d[0]
	}
	return ""
}

func (m *v1Manager) Pids() ([]int, error) {
	d := m.pidDir()
	pids, err := readPids(d, true)
	if err != nil {
		return nil, fmt.Errorf("cgroups: list pids of %s: %w", d, err)
	}
	return pids, nil
}

func (m *v1Manager) OOMKillCount() (uint64, error) {
	d, err := m.need("memory", "oom_kill count")
	if err != nil {
		return 0, err
	}
	kv, err := readKV(d, "memory.oom_control")
	if err != nil {
		return 0, fmt.Errorf("cgroups: %w", err)
	}
	return kv["oom_kill"], nil
}

// Kill SIGKILLs every process of the container at once through the cgroup2
// hierarchy of a hybrid host (cgroup.kill); pure v1 cannot.
func (m *v1Manager) Kill() error {
	d := m.s.Paths[Unified]
	if d == "" || !fileExists(d, "cgroup.kill") {
		return fmt.Errorf("cgroups: kill: no cgroup.kill on this host: %w", errdefs.ErrNotImplemented)
	}
	if err := m.write(d, "cgroup.kill", "1"); err != nil {
		return fmt.Errorf("cgroups: kill: %w", err)
	}
	return nil
}

func (m *v1Manager) Destroy() error {
	var errs []error
	deadline := time.Now().Add(destroyBudget)
	for _, d := range m.dirs() {
		if err := removeTree(d, deadline); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m *v1Manager) Exists() bool {
	d := m.pidDir()
	if d == "" {
		return false
	}
	_, err := os.Stat(d)
	return err == nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
