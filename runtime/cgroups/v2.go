package cgroups

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/runtime/cgroups/ebpf"
)

// v2Manager drives a cgroup2 (unified) hierarchy.
type v2Manager struct {
	s       Saved
	dir     string
	root    string
	initial *specs.LinuxResources // from New: controllers Apply enables
	trace   func(path, value string)
}

func newV2(s Saved) *v2Manager {
	d := s.Paths[Unified]
	return &v2Manager{s: s, dir: d, root: strings.TrimSuffix(d, s.Path)}
}

func (m *v2Manager) Save() Saved {
	c := m.s
	c.Paths = map[string]string{Unified: m.dir}
	return c
}

func (m *v2Manager) Path(controller string) string {
	return m.dir // every controller lives in the one cgroup2 directory
}

func (m *v2Manager) write(file, value string) error {
	if m.trace != nil {
		m.trace(filepath.Join(m.dir, file), value)
	}
	return writeFile(m.dir, file, value)
}

// Apply creates the cgroup and moves pid in; a pid <= 0 only creates the
// directory. On the way down it enables, in the ancestors'
// cgroup.subtree_control, the controllers the resources given to New need
// and, below the root, whatever each parent already delegates.
func (m *v2Manager) Apply(pid int) error {
	if _, err := os.Stat(m.dir); err != nil {
		if err := enableControllers(m.root, m.dir, neededControllers(m.initial), true, m.trace); err != nil {
			if !(m.s.Rootless && isPerm(err)) {
				return fmt.Errorf("cgroups: %w", err)
			}
		}
		if err := mkdirAll(m.root, m.dir, nil); err != nil {
			if m.s.Rootless && isPerm(err) {
				return nil
			}
			return fmt.Errorf("cgroups: create %s: %w", m.dir, err)
		}
	}
	if pid > 0 {
		if err := m.write("cgroup.procs", strconv.Itoa(pid)); err != nil {
			if m.s.Rootless && isPerm(err) {
				return nil
			}
			return fmt.Errorf("cgroups: move pid %d: %w", pid, err)
		}
	}
	return nil
}

// enableControllers makes the controllers in want available to leaf by
// writing "+ctrl" into cgroup.subtree_control of root and of every ancestor
// of leaf below it, creating missing ancestors. With inherit, every level below
// root also enables whatever its parent already delegated to it (so a host
// whose root delegates everything gives containers everything); the root's own
// delegation is only extended by want. A controller in want that cannot be
// enabled is an error; inherited ones are best effort (a cgroup that holds
// processes cannot delegate).
func enableControllers(root, leaf string, want []string, inherit bool, trace func(string, string)) error {
	rel, err := filepath.Rel(root, leaf)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("cgroup %s is not below %s", leaf, root)
	}
	comps := strings.Split(rel, "/")
	cur := root
	for i := 0; i < len(comps); i++ {
		if i > 0 {
			if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("mkdir %s: %w", cur, err)
			}
		}
		avail, err := readTrim(cur, "cgroup.controllers")
		if err != nil && !(len(want) == 0 && errors.Is(err, os.ErrNotExist)) {
			return err
		}
		enabled, err := readTrim(cur, "cgroup.subtree_control")
		if err != nil && !(len(want) == 0 && errors.Is(err, os.ErrNotExist)) {
			return err
		}
		have, av := fieldSet(enabled), fieldSet(avail)
		var must, may []string
		for _, c := range want {
			if !av[c] {
				return fmt.Errorf("controller %s is not available in %s: %w", c, filepath.Join(cur, "cgroup.controllers"), errdefs.ErrFailedPrecondition)
			}
			if !have[c] {
				must = append(must, c)
				have[c] = true
			}
		}
		if inherit && i > 0 {
			for _, c := range strings.Fields(avail) {
				if !have[c] {
					may = append(may, c)
				}
			}
		}
		if all := append(append([]string{}, must...), may...); len(all) > 0 {
			line := "+" + strings.Join(all, " +")
			if trace != nil {
				trace(filepath.Join(cur, "cgroup.subtree_control"), line)
			}
			if err := writeFile(cur, "cgroup.subtree_control", line); err != nil {
				// One at a time: required ones must succeed, the rest may not.
				for _, c := range must {
					if err := writeFile(cur, "cgroup.subtree_control", "+"+c); err != nil {
						return fmt.Errorf("enable controller %s: %w", c, err)
					}
				}
				for _, c := range may {
					_ = writeFile(cur, "cgroup.subtree_control", "+"+c)
				}
			}
		}
		cur = filepath.Join(cur, comps[i])
	}
	return nil
}

// v2Controllers are the cgroup2 controllers a unified key can belong to.
var v2Controllers = map[string]bool{"cpu": true, "cpuset": true, "memory": true, "io": true, "pids": true, "hugetlb": true, "rdma": true, "misc": true}

// neededControllers lists the v2 controllers r writes to.
func neededControllers(r *specs.LinuxResources) []string {
	if r == nil {
		return nil
	}
	set := map[string]bool{}
	if c := r.CPU; c != nil {
		if c.Shares != nil || c.Quota != nil || c.Period != nil || c.Burst != nil || c.Idle != nil {
			set["cpu"] = true
		}
		if c.Cpus != "" || c.Mems != "" {
			set["cpuset"] = true
		}
	}
	if r.Memory != nil && (r.Memory.Limit != nil || r.Memory.Reservation != nil || r.Memory.Swap != nil) {
		set["memory"] = true
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		set["pids"] = true
	}
	if b := r.BlockIO; b != nil && (b.Weight != nil || len(b.WeightDevice) > 0 || len(b.ThrottleReadBpsDevice) > 0 ||
		len(b.ThrottleWriteBpsDevice) > 0 || len(b.ThrottleReadIOPSDevice) > 0 || len(b.ThrottleWriteIOPSDevice) > 0) {
		set["io"] = true
	}
	if len(r.HugepageLimits) > 0 {
		set["hugetlb"] = true
	}
	if len(r.Rdma) > 0 {
		set["rdma"] = true
	}
	for k := range r.Unified {
		// Only controller files need a controller; core files such as
		// cgroup.max.depth or irq.pressure do not.
		if c, _, ok := strings.Cut(k, "."); ok && v2Controllers[c] {
			set[c] = true
		}
	}
	return sortedKeys(set)
}

func fieldSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Fields(s) {
		m[f] = true
	}
	return m
}

func (m *v2Manager) validate(r *specs.LinuxResources) error {
	if err := validateCommon(r); err != nil {
		return err
	}
	if c := r.CPU; c != nil && (c.RealtimePeriod != nil || c.RealtimeRuntime != nil) {
		return fmt.Errorf("linux.resources.cpu.realtimeRuntime/realtimePeriod: cgroup v2 has no realtime CPU limits: %w", errdefs.ErrInvalidArgument)
	}
	if n := r.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) {
		return fmt.Errorf("linux.resources.network: cgroup v2 has no net_cls/net_prio controllers: %w", errdefs.ErrInvalidArgument)
	}
	if b := r.BlockIO; b != nil && b.LeafWeight != nil {
		slog.Warn("linux.resources.blockIO.leafWeight ignored: cgroup v2 has no leaf weight")
	}
	if mem := r.Memory; mem != nil {
		if _, _, err := swapV2(mem.Limit, mem.Swap); err != nil {
			return err
		}
	}
	return nil
}

// swapV2 converts the spec's memory+swap total into memory.swap.max (swap
// alone): -1 → max; 0 → unset (or max when memory is unlimited); otherwise
// total − memory, which needs a positive memory limit not above the total.
func swapV2(limit, swap *int64) (string, bool, error) {
	var mem int64
	if limit != nil {
		mem = *limit
	}
	if swap == nil {
		if mem == -1 {
			return "max", true, nil
		}
		return "", false, nil
	}
	s := *swap
	switch {
	case s == -1 || (s == 0 && mem == -1):
		return "max", true, nil
	case s == 0:
		return "", false, nil
	case s < -1:
		return "", false, fmt.Errorf("linux.resources.memory.swap: %d is invalid: %w", s, errdefs.ErrInvalidArgument)
	case mem <= 0:
		return "", false, fmt.Errorf("linux.resources.memory.swap: a swap limit needs a positive memory.limit on cgroup v2: %w", errdefs.ErrInvalidArgument)
	case s < mem:
		return "", false, fmt.Errorf("linux.resources.memory.swap: %d is below memory.limit %d (swap is memory+swap): %w", s, mem, errdefs.ErrInvalidArgument)
	}
	return strconv.FormatInt(s-mem, 10), true, nil
}

// SharesToWeight converts cgroup v1 cpu.shares (2..262144) to cgroup v2
// cpu.weight (1..10000) with the linear mapping runc and crun document:
// weight = 1 + ((shares − 2) × 9999) / 262142. 0 means unset.
func SharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	if shares < 2 {
		shares = 2
	}
	if shares > 262144 {
		shares = 262144
	}
	return 1 + ((shares-2)*9999)/262142
}

// BlkioWeightToIOWeight converts a v1 blkio weight (10..1000) to io.weight
// (1..10000): 1 + (weight − 10) × 9999 / 990. 0 means unset.
func BlkioWeightToIOWeight(w uint64) uint64 {
	if w == 0 {
		return 0
	}
	if w < 10 {
		w = 10
	}
	if w > 1000 {
		w = 1000
	}
	return 1 + (w-10)*9999/990
}

func maxOr(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

func (m *v2Manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if err := m.validate(r); err != nil {
		return err
	}
	if err := m.ensureControllers(neededControllers(r)); err != nil {
		return err
	}
	w := func(field, file, value string) error {
		if err := m.write(file, value); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("%s: %w (is its controller enabled in the parent's cgroup.subtree_control?)", field, err)
			}
			return fmt.Errorf("%s: %w", field, err)
		}
		return nil
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 && r.Unified["cpu.weight"] == "" {
			if err := w("linux.resources.cpu.shares", "cpu.weight", strconv.FormatUint(SharesToWeight(*c.Shares), 10)); err != nil {
				return err
			}
		}
		if c.Quota != nil || c.Period != nil {
			quota := "max"
			if c.Quota != nil && *c.Quota > 0 {
				quota = strconv.FormatInt(*c.Quota, 10)
			} else if c.Quota == nil {
				// Keep the current quota when only the period changes.
				if cur, err := readTrim(m.dir, "cpu.max"); err == nil {
					if f := strings.Fields(cur); len(f) == 2 {
						quota = f[0]
					}
				}
			}
			line := quota
			if c.Period != nil && *c.Period != 0 {
				line += " " + strconv.FormatUint(*c.Period, 10)
			}
			if err := w("linux.resources.cpu.quota", "cpu.max", line); err != nil {
				return err
			}
		}
		if c.Burst != nil {
			if err := w("linux.resources.cpu.burst", "cpu.max.burst", strconv.FormatUint(*c.Burst, 10)); err != nil {
				return err
			}
		}
		if c.Idle != nil {
			if err := w("linux.resources.cpu.idle", "cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
				return err
			}
		}
		if c.Cpus != "" {
			if err := w("linux.resources.cpu.cpus", "cpuset.cpus", c.Cpus); err != nil {
				return err
			}
		}
		if c.Mems != "" {
			if err := w("linux.resources.cpu.mems", "cpuset.mems", c.Mems); err != nil {
				return err
			}
		}
	}
	if mem := r.Memory; mem != nil {
		// Swap first: lowering memory.max below usage with swap at 0 would
		// make the kernel reclaim needlessly.
		// No swap accounting (no memory.swap.max) is fine when no swap limit is wanted.
		if v, ok, _ := swapV2(mem.Limit, mem.Swap); ok && !(v == "max" && !fileExists(m.dir, "memory.swap.max")) {
			if err := w("linux.resources.memory.swap", "memory.swap.max", v); err != nil {
				return err
			}
		}
		if mem.Limit != nil && *mem.Limit != 0 {
			if err := w("linux.resources.memory.limit", "memory.max", maxOr(*mem.Limit)); err != nil {
				return err
			}
		}
		if mem.Reservation != nil && *mem.Reservation != 0 {
			if err := w("linux.resources.memory.reservation", "memory.low", maxOr(*mem.Reservation)); err != nil {
				return err
			}
		}
		for name, set := range map[string]bool{
			"kernel": mem.Kernel != nil, "kernelTCP": mem.KernelTCP != nil,
			"swappiness": mem.Swappiness != nil, "disableOOMKiller": mem.DisableOOMKiller != nil && *mem.DisableOOMKiller,
		} {
			if set {
				slog.Warn("linux.resources.memory." + name + " ignored: cgroup v2 has no such setting")
			}
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		if err := w("linux.resources.pids.limit", "pids.max", pidsMax(*r.Pids.Limit)); err != nil {
			return err
		}
	}
	if err := m.setIO(r.BlockIO, w); err != nil {
		return err
	}
	for i, l := range r.HugepageLimits {
		v := strconv.FormatUint(l.Limit, 10)
		if err := w(fmt.Sprintf("linux.resources.hugepageLimits[%d] (pageSize %s)", i, l.Pagesize), "hugetlb."+l.Pagesize+".max", v); err != nil {
			return err
		}
		if fileExists(m.dir, "hugetlb."+l.Pagesize+".rsvd.max") {
			if err := w(fmt.Sprintf("linux.resources.hugepageLimits[%d] (pageSize %s) reservation", i, l.Pagesize), "hugetlb."+l.Pagesize+".rsvd.max", v); err != nil {
				return err
			}
		}
	}
	for _, dev := range sortedKeys(r.Rdma) {
		if v := rdmaLine(dev, r.Rdma[dev]); v != "" {
			if err := w(fmt.Sprintf("linux.resources.rdma[%q]", dev), "rdma.max", v); err != nil {
				return err
			}
		}
	}
	for _, k := range sortedKeys(r.Unified) {
		if err := w(fmt.Sprintf("linux.resources.unified[%q]", k), k, r.Unified[k]); err != nil {
			return err
		}
	}
	if len(r.Devices) > 0 {
		if err := m.setDevices(r.Devices); err != nil {
			return err
		}
	}
	return nil
}

// ensureControllers enables, along the path, any controller in need that the
// cgroup does not have yet (an update may ask for one the create did not).
func (m *v2Manager) ensureControllers(need []string) error {
	if len(need) == 0 {
		return nil
	}
	have, err := readTrim(m.dir, "cgroup.controllers")
	if err != nil {
		return fmt.Errorf("linux.resources: %w", err)
	}
	hs := fieldSet(have)
	var missing []string
	for _, c := range need {
		if !hs[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := enableControllers(m.root, m.dir, missing, false, m.trace); err != nil {
		return fmt.Errorf("linux.resources needs controllers %s: %w", strings.Join(missing, ","), err)
	}
	return nil
}

func (m *v2Manager) setIO(b *specs.LinuxBlockIO, w func(field, file, value string) error) error {
	if b == nil {
		return nil
	}
	bfq := fileExists(m.dir, "io.bfq.weight")
	if b.Weight != nil && *b.Weight != 0 {
		if bfq {
			if err := w("linux.resources.blockIO.weight", "io.bfq.weight", strconv.FormatUint(uint64(*b.Weight), 10)); err != nil {
				return err
			}
		} else if err := w("linux.resources.blockIO.weight", "io.weight", "default "+strconv.FormatUint(BlkioWeightToIOWeight(uint64(*b.Weight)), 10)); err != nil {
			return err
		}
	}
	for i, wd := range b.WeightDevice {
		if wd.Weight == nil {
			continue
		}
		field := fmt.Sprintf("linux.resources.blockIO.weightDevice[%d]", i)
		if bfq {
			if err := w(field, "io.bfq.weight", fmt.Sprintf("%s %d", devNum(wd.LinuxBlockIODevice), *wd.Weight)); err != nil {
				return err
			}
		} else if err := w(field, "io.weight", fmt.Sprintf("%s %d", devNum(wd.LinuxBlockIODevice), BlkioWeightToIOWeight(uint64(*wd.Weight)))); err != nil {
			return err
		}
	}
	for _, t := range []struct {
		list  []specs.LinuxThrottleDevice
		key   string
		field string
	}{
		{b.ThrottleReadBpsDevice, "rbps", "throttleReadBpsDevice"},
		{b.ThrottleWriteBpsDevice, "wbps", "throttleWriteBpsDevice"},
		{b.ThrottleReadIOPSDevice, "riops", "throttleReadIOPSDevice"},
		{b.ThrottleWriteIOPSDevice, "wiops", "throttleWriteIOPSDevice"},
	} {
		for i, td := range t.list {
			v := "max"
			if td.Rate != 0 {
				v = strconv.FormatUint(td.Rate, 10)
			}
			if err := w(fmt.Sprintf("linux.resources.blockIO.%s[%d]", t.field, i), "io.max", fmt.Sprintf("%s %s=%s", devNum(td.LinuxBlockIODevice), t.key, v)); err != nil {
				return err
			}
		}
	}
	return nil
}

// setDevices compiles the rules into a BPF_PROG_TYPE_CGROUP_DEVICE program
// and attaches it to the cgroup, replacing any program Berth attached before.
func (m *v2Manager) setDevices(rules []specs.LinuxDeviceCgroup) error {
	prog, err := ebpf.Compile(rules)
	if err != nil {
		return fmt.Errorf("linux.resources.devices: %w", err)
	}
	if m.trace != nil {
		m.trace(filepath.Join(m.dir, "<bpf-device-program>"), fmt.Sprintf("%d instructions", len(prog)))
		if isFakeDir(m.dir) {
			return nil // a fake tree cannot hold a BPF program
		}
	}
	if err := ebpf.AttachDeviceFilter(m.dir, prog); err != nil {
		return fmt.Errorf("linux.resources.devices: %w", err)
	}
	return nil
}

func (m *v2Manager) Freeze() error {
	if err := m.write("cgroup.freeze", "1"); err != nil {
		return fmt.Errorf("cgroups: freeze: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	delay := 100 * time.Microsecond
	for {
		kv, err := readKV(m.dir, "cgroup.events")
		if err != nil {
			return fmt.Errorf("cgroups: freeze: %w", err)
		}
		if kv["frozen"] == 1 {
			return nil
		}
		if time.Now().After(deadline) {
			_ = m.write("cgroup.freeze", "0")
			return fmt.Errorf("cgroups: freeze %s: not frozen after 10s: %w", m.dir, errdefs.ErrUnavailable)
		}
		time.Sleep(delay)
		if delay < 10*time.Millisecond {
			delay *= 2
		}
	}
}

func (m *v2Manager) Thaw() error {
	if err := m.write("cgroup.freeze", "0"); err != nil {
		return fmt.Errorf("cgroups: thaw: %w", err)
	}
	return nil
}

func (m *v2Manager) FreezerState() (string, error) {
	v, err := readTrim(m.dir, "cgroup.freeze")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Thawed, nil
		}
		return "", fmt.Errorf("cgroups: freezer state: %w", err)
	}
	if v != "1" {
		return Thawed, nil
	}
	kv, err := readKV(m.dir, "cgroup.events")
	if err != nil {
		return "", fmt.Errorf("cgroups: freezer state: %w", err)
	}
	if kv["frozen"] == 1 {
		return Frozen, nil
	}
	return Freezing, nil
}

func (m *v2Manager) Pids() ([]int, error) {
	pids, err := readPids(m.dir, true)
	if err != nil {
		return nil, fmt.Errorf("cgroups: list pids of %s: %w", m.dir, err)
	}
	return pids, nil
}

func (m *v2Manager) OOMKillCount() (uint64, error) {
	kv, err := readKV(m.dir, "memory.events")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, fmt.Errorf("cgroups: %w", err)
	}
	return kv["oom_kill"], nil
}

// Kill kills every process of the cgroup at once through cgroup.kill
// (Linux 5.14 and later).
func (m *v2Manager) Kill() error {
	if err := m.write("cgroup.kill", "1"); err != nil {
		return fmt.Errorf("cgroups: kill: %w", err)
	}
	return nil
}

func (m *v2Manager) Destroy() error { return removeTree(m.dir, time.Now().Add(destroyBudget)) }

func (m *v2Manager) Exists() bool {
	_, err := os.Stat(m.dir)
	return err == nil
}

func (m *v2Manager) Stats() (*Stats, error) {
	st := &Stats{}
	d := m.dir
	if kv, err := readKV(d, "cpu.stat"); err == nil {
		st.CPU.Usage.Total = kv["usage_usec"] * 1000
		st.CPU.Usage.User = kv["user_usec"] * 1000
		st.CPU.Usage.Kernel = kv["system_usec"] * 1000
		st.CPU.Throttling = Throttling{Periods: kv["nr_periods"], ThrottledPeriods: kv["nr_throttled"], ThrottledTime: kv["throttled_usec"] * 1000}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("cgroups: stats: %w", err)
	}
	if v, err := readUint(d, "memory.current"); err == nil {
		ms := &st.Memory
		ms.Usage.Usage = v
		ms.Usage.Limit, _ = readUint(d, "memory.max")
		ms.Usage.Max, _ = readUint(d, "memory.peak")
		if ev, err := readKV(d, "memory.events"); err == nil {
			ms.Usage.Failcnt = ev["max"]
		}
		if raw, err := readKV(d, "memory.stat"); err == nil {
			ms.Raw = raw
			ms.Cache = raw["file"]
			ms.Kernel.Usage = raw["kernel"]
		}
		// Like v1's memsw: swap figures include memory.
		if sw, err := readUint(d, "memory.swap.current"); err == nil {
			ms.Swap.Usage = sw + v
			if sm, err := readUint(d, "memory.swap.max"); err == nil {
				if sm == ^uint64(0) || ms.Usage.Limit == ^uint64(0) {
					ms.Swap.Limit = ^uint64(0)
				} else {
					ms.Swap.Limit = sm + ms.Usage.Limit
				}
			}
		}
	}
	if v, err := readUint(d, "pids.current"); err == nil {
		st.Pids.Current = v
		if l, err := readUint(d, "pids.max"); err == nil && l != ^uint64(0) {
			st.Pids.Limit = l
		}
	}
	if s, err := readFile(d, "io.stat"); err == nil {
		st.Blkio.IoServiceBytesRecursive, st.Blkio.IoServicedRecursive = parseIOStat(s)
	}
	st.Hugetlb = hugetlbStats(d, ".current", "", ".events")
	return st, nil
}

// parseIOStat parses io.stat lines "maj:min rbytes=N wbytes=N rios=N wios=N ...".
func parseIOStat(s string) (bytes, ios []BlkioEntry) {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		var maj, min uint64
		if _, err := fmt.Sscanf(f[0], "%d:%d", &maj, &min); err != nil {
			continue
		}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				continue
			}
			e := BlkioEntry{Major: maj, Minor: min, Value: n}
			switch k {
			case "rbytes":
				e.Op = "Read"
				bytes = append(bytes, e)
			case "wbytes":
				e.Op = "Write"
				bytes = append(bytes, e)
			case "rios":
				e.Op = "Read"
				ios = append(ios, e)
			case "wios":
				e.Op = "Write"
				ios = append(ios, e)
			}
		}
	}
	return bytes, ios
}
