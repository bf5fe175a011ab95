package reliability

import (
	"testing"

	"github.com/berth-containers/berth/internal/testutil/berthdtest"
)

// daemon is a berthd started by a test on its own directories.
type daemon = berthdtest.Daemon

// startDaemon starts a berthd whose default network uses its own bridge
// and subnet, so tests can run beside other daemons.
func startDaemon(t *testing.T) *daemon {
	t.Helper()
	return startDaemonEnv(t, nil)
}

// startDaemonEnv is startDaemon with env added to berthd's environment.
func startDaemonEnv(t *testing.T, env []string) *daemon {
	t.Helper()
	return berthdtest.Start(t, berthdtest.Options{BridgePrefix: "brt", SubnetBase: 200, SubnetSpan: 50, Env: env})
}

var waitFor = berthdtest.WaitFor
