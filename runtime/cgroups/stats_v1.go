package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of cpuacct.stat (100 on every Linux ABI Berth runs on).
const clockTicks = 100

func (m *v1Manager) Stats() (*Stats, error) {
	st := &Stats{}
	var errs []error
	keep := func(err error) {
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if d := m.s.Paths["cpuacct"]; d != "" {
		keep(cpuacctStats(d, &st.CPU))
	}
	if d := m.s.Paths["cpu"]; d != "" {
		if kv, err := readKV(d, "cpu.stat"); err == nil {
			st.CPU.Throttling = Throttling{Periods: kv["nr_periods"], ThrottledPeriods: kv["nr_throttled"], ThrottledTime: kv["throttled_time"]}
		} else {
			keep(err)
		}
	}
	if d := m.s.Paths["memory"]; d != "" {
		keep(memoryStatsV1(d, &st.Memory))
	}
	if d := m.s.Paths["pids"]; d != "" {
		if v, err := readUint(d, "pids.current"); err == nil {
			st.Pids.Current = v
		} else {
			keep(err)
		}
		if v, err := readUint(d, "pids.max"); err == nil && v != ^uint64(0) {
			st.Pids.Limit = v
		}
	}
	if d := m.s.Paths["blkio"]; d != "" {
		keep(blkioStatsV1(d, &st.Blkio))
	}
	if d := m.s.Paths["hugetlb"]; d != "" {
		st.Hugetlb = hugetlbStats(d, ".usage_in_bytes", ".max_usage_in_bytes", ".failcnt")
	}
	if len(errs) > 0 {
		return st, fmt.Errorf("cgroups: stats: %w", errors.Join(errs...))
	}
	return st, nil
}

func cpuacctStats(d string, c *CPUStats) error {
	v, err := readUint(d, "cpuacct.usage")
	if err != nil {
		return err
	}
	c.Usage.Total = v
	if s, err := readTrim(d, "cpuacct.usage_percpu"); err == nil {
		for _, f := range strings.Fields(s) {
			n, _ := strconv.ParseUint(f, 10, 64)
			c.Usage.Percpu = append(c.Usage.Percpu, n)
		}
	}
	if kv, err := readKV(d, "cpuacct.stat"); err == nil {
		c.Usage.User = kv["user"] * (1e9 / clockTicks)
		c.Usage.Kernel = kv["system"] * (1e9 / clockTicks)
	}
	return nil
}

func memEntry(d, prefix string) (MemoryEntry, error) {
	var e MemoryEntry
	var err error
	if e.Usage, err = readUint(d, prefix+".usage_in_bytes"); err != nil {
		return e, err
	}
	e.Max, _ = readUint(d, prefix+".max_usage_in_bytes")
	e.Limit, _ = readUint(d, prefix+".limit_in_bytes")
	e.Failcnt, _ = readUint(d, prefix+".failcnt")
	return e, nil
}

func memoryStatsV1(d string, ms *MemoryStats) error {
	var err error
	if ms.Usage, err = memEntry(d, "memory"); err != nil {
		return err
	}
	ms.Swap, _ = memEntry(d, "memory.memsw")
	ms.Kernel, _ = memEntry(d, "memory.kmem")
	ms.KernelTCP, _ = memEntry(d, "memory.kmem.tcp")
	if kv, err := readKV(d, "memory.stat"); err == nil {
		ms.Raw = kv
		ms.Cache = kv["cache"]
	}
	return nil
}

// parseBlkio parses v1 blkio stat files: "maj:min Op value" lines (and a
// "Total n" line, skipped), or "maj:min value" for sectors/time files.
func parseBlkio(s string) []BlkioEntry {
	var out []BlkioEntry
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		var maj, min uint64
		if _, err := fmt.Sscanf(f[0], "%d:%d", &maj, &min); err != nil {
			continue
		}
		e := BlkioEntry{Major: maj, Minor: min}
		vs := f[1]
		if len(f) >= 3 {
			e.Op, vs = f[1], f[2]
		}
		v, err := strconv.ParseUint(vs, 10, 64)
		if err != nil {
			continue
		}
		e.Value = v
		out = append(out, e)
	}
	return out
}

func blkioStatsV1(d string, b *BlkioStats) error {
	read := func(names ...string) []BlkioEntry {
		for _, n := range names {
			if s, err := readFile(d, n); err == nil {
				if e := parseBlkio(s); len(e) > 0 {
					return e
				}
			}
		}
		return nil
	}
	b.IoServiceBytesRecursive = read("blkio.io_service_bytes_recursive", "blkio.bfq.io_service_bytes_recursive", "blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_service_bytes")
	b.IoServicedRecursive = read("blkio.io_serviced_recursive", "blkio.bfq.io_serviced_recursive", "blkio.throttle.io_serviced_recursive", "blkio.throttle.io_serviced")
	b.IoQueuedRecursive = read("blkio.io_queued_recursive", "blkio.bfq.io_queued_recursive")
	b.IoServiceTimeRecursive = read("blkio.io_service_time_recursive", "blkio.bfq.io_service_time_recursive")
	b.IoWaitTimeRecursive = read("blkio.io_wait_time_recursive", "blkio.bfq.io_wait_time_recursive")
	b.IoMergedRecursive = read("blkio.io_merged_recursive", "blkio.bfq.io_merged_recursive")
	b.IoTimeRecursive = read("blkio.time_recursive", "blkio.bfq.time_recursive")
	b.SectorsRecursive = read("blkio.sectors_recursive", "blkio.bfq.sectors_recursive")
	return nil
}

// hugetlbStats reads hugetlb.<size><usage> for every page size whose files
// exist in d. In v2 the failure count is the "max" line of hugetlb.<size>.events.
func hugetlbStats(d, usage, max, fail string) map[string]Hugetlb {
	matches, _ := filepath.Glob(filepath.Join(d, "hugetlb.*"+usage))
	if len(matches) == 0 {
		return nil
	}
	out := map[string]Hugetlb{}
	for _, p := range matches {
		size := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "hugetlb."), usage)
		if strings.Contains(size, ".") { // rsvd files
			continue
		}
		var h Hugetlb
		h.Usage, _ = readUint(d, "hugetlb."+size+usage)
		if max != "" {
			h.Max, _ = readUint(d, "hugetlb."+size+max)
		}
		if fail == ".events" {
			if kv, err := readKV(d, "hugetlb."+size+".events"); err == nil {
				h.Failcnt = kv["max"]
			}
		} else {
			h.Failcnt, _ = readUint(d, "hugetlb."+size+fail)
		}
		out[size] = h
	}
	return out
}
