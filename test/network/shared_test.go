package network

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/berth-containers/berth/network"
	"github.com/berth-containers/berth/network/netns"
)

// TestTwoDaemonsShareDefaultBridge: two managers with their own roots and
// states but the same default bridge and subnet (two berthd with default
// settings) never give out the same address, and both detach cleanly.
func TestTwoDaemonsShareDefaultBridge(t *testing.T) {
	e := newEnv(t)
	e.shared = true
	ctx := context.Background()
	dir := t.TempDir()
	state2 := filepath.Join(dir, "state")
	t.Cleanup(func() { // after the containers' cleanups below
		if err := netns.Cleanup(state2); err != nil {
			t.Error(err)
		}
	})
	m2, err := network.New(network.Config{Root: filepath.Join(dir, "root"), State: state2, DefaultSubnet: e.subnet, DefaultBridge: e.bridge})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3
	seen := map[string]string{}
	for i := 0; i < n; i++ {
		for j, m := range []*network.Manager{e.mgr, m2} {
			state := e.state
			if j == 1 {
				state = state2
			}
			id := "s" + randHex(8)
			ns, err := netns.New(state, id)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := m.Detach(ctx, id, ns, nil); err != nil {
					t.Error(err)
				}
				netns.Remove(ns)
				e.assertNoLeaks(id, ns, network.DefaultNetworkName)
			})
			res, err := m.Attach(ctx, id, ns, []string{network.DefaultNetworkName}, network.AttachOpts{})
			if err != nil {
				t.Fatal(err)
			}
			ip := addr(res.Endpoints[0])
			if other, dup := seen[ip]; dup {
				t.Fatalf("address %s given to %s and %s", ip, other, id)
			}
			seen[ip] = id
		}
	}
}
