package cgroups

import (
	"encoding/json"
	"testing"
)

// The JSON matches the "data" object of runc's `events --stats`.
func TestStatsJSONShape(t *testing.T) {
	st := Stats{
		CPU:     CPUStats{Usage: CPUUsage{Total: 1, Percpu: []uint64{1}, Kernel: 2, User: 3}, Throttling: Throttling{1, 2, 3}},
		Memory:  MemoryStats{Cache: 1, Usage: MemoryEntry{Limit: 1, Usage: 2, Max: 3, Failcnt: 4}, Swap: MemoryEntry{Usage: 1}, Raw: map[string]uint64{"rss": 1}},
		Pids:    PidsStats{Current: 1, Limit: 2},
		Blkio:   BlkioStats{IoServiceBytesRecursive: []BlkioEntry{{8, 0, "Read", 1}}},
		Hugetlb: map[string]Hugetlb{"2MB": {Usage: 1, Max: 2, Failcnt: 3}},
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	get := func(path ...string) any {
		var cur any = m
		for _, p := range path {
			obj, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("%v: not an object at %q in %s", path, p, b)
			}
			cur, ok = obj[p]
			if !ok {
				t.Fatalf("%v: no %q in %s", path, p, b)
			}
		}
		return cur
	}
	for _, p := range [][]string{
		{"cpu", "usage", "total"}, {"cpu", "usage", "percpu"}, {"cpu", "usage", "kernel"}, {"cpu", "usage", "user"},
		{"cpu", "throttling", "periods"}, {"cpu", "throttling", "throttledPeriods"}, {"cpu", "throttling", "throttledTime"},
		{"memory", "cache"}, {"memory", "usage", "limit"}, {"memory", "usage", "usage"}, {"memory", "usage", "max"}, {"memory", "usage", "failcnt"},
		{"memory", "swap", "usage"}, {"memory", "kernel"}, {"memory", "raw", "rss"},
		{"pids", "current"}, {"pids", "limit"},
		{"hugetlb", "2MB", "usage"}, {"hugetlb", "2MB", "max"}, {"hugetlb", "2MB", "failcnt"},
	} {
		get(p...)
	}
	e := get("blkio", "ioServiceBytesRecursive").([]any)[0].(map[string]any)
	if e["major"] != 8.0 || e["op"] != "Read" || e["value"] != 1.0 {
		t.Errorf("blkio entry %v", e)
	}
}
