package run

import (
	"testing"

	"github.com/berth-containers/berth/internal/testutil/berthdtest"
)

// daemon is a berthd started by a test on its own directories.
type daemon = berthdtest.Daemon

// startDaemon starts a berthd whose default network uses its own bridge and
// subnet (10.180.0.0-10.194.255.0, a band no other test package uses), so
// tests can run beside other daemons.
func startDaemon(t *testing.T) *daemon { t.Helper(); return startDaemonWith(t, "") }

// startDaemonWith starts a berthd with extra TOML appended to its config.
func startDaemonWith(t *testing.T, extra string) *daemon {
	t.Helper()
	return berthdtest.Start(t, berthdtest.Options{BridgePrefix: "brr", SubnetBase: 180, SubnetSpan: 15, ExtraConfig: extra})
}

var waitFor = berthdtest.WaitFor
