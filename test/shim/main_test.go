package shime2e

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain removes the parent cgroup the tests' containers live under
// (the runtimes remove each container's own cgroup, not its parents).
func TestMain(m *testing.M) {
	code := m.Run()
	if os.Getenv("BERTH_SHIM_HELPER_BUNDLES") == "" {
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", cgroupParent))
		for _, d := range dirs {
			_ = os.Remove(d) // only when empty: another run may still use it
		}
	}
	os.Exit(code)
}
