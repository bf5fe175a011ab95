package cgroups

import (
	"os"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// BenchmarkRealCreateApplySetDestroy measures the cgroup part of a container
// start on this host: New, Apply (this process's own pid would move it, so a
// create-only Apply), Set of memory/pids/default devices, Destroy.
func BenchmarkRealCreateApplySetDestroy(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Fatal("needs root")
	}
	r := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p64(64 << 20)}, Pids: &specs.LinuxPids{Limit: p64(100)}, Devices: DefaultDeviceRules()}
	for i := 0; i < b.N; i++ {
		name := uniqueName(b)
		m, err := New(Config{Path: "/" + name, ID: name, Resources: r})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Apply(-1); err != nil {
			b.Fatal(err)
		}
		if err := m.Set(r); err != nil {
			m.Destroy()
			b.Fatal(err)
		}
		if err := m.Destroy(); err != nil {
			b.Fatal(err)
		}
	}
}
