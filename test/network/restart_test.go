package network

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-containers/berth/network"
	"github.com/berth-containers/berth/network/netns"
)

// TestRestartedManagerDetaches: berthd restarts (a new Manager over the same
// root and state) and still sees and detaches its containers, also one whose
// libcni result cache was lost (a crash between the plugins and the cache
// write).
func TestRestartedManagerDetaches(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, b := "r"+randHex(8), "s"+randHex(8)
	nsA, nsB := e.newNS(a), e.newNS(b)
	for _, c := range []struct{ id, ns string }{{a, nsA}, {b, nsB}} {
		if _, err := e.mgr.Attach(ctx, c.id, c.ns, []string{network.DefaultNetworkName}, network.AttachOpts{
			PortMappings: []network.PortMapping{{HostIP: "127.0.0.1", HostPort: freePort(t), ContainerPort: 80, Protocol: "tcp"}}}); err != nil {
			t.Fatal(err)
		}
	}
	m2, err := network.New(network.Config{Root: e.root, State: e.state, DefaultSubnet: e.subnet, DefaultBridge: e.bridge})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := m2.Attachments(ctx)
	if err != nil || len(ids) != 2 {
		t.Fatalf("attachments after restart: %v %v", ids, err)
	}
	info, err := m2.Inspect(ctx, network.DefaultNetworkName)
	if err != nil || len(info.Containers) != 2 || len(info.Containers[0].IPs) != 1 {
		t.Fatalf("inspect after restart: %+v %v", info, err)
	}
	ips := map[string][]string{}
	for _, c := range info.Containers {
		ips[c.ContainerID] = []string{addr(c)}
	}
	results := filepath.Join(e.state, "cni", "cache", "results")
	ents, _ := os.ReadDir(results)
	lost := 0
	for _, en := range ents {
		if strings.Contains(en.Name(), b) {
			os.Remove(filepath.Join(results, en.Name()))
			lost++
		}
	}
	if lost != 1 {
		t.Fatalf("expected one cache file for %s, found %d", b, lost)
	}
	for _, c := range []struct{ id, ns string }{{a, nsA}, {b, nsB}} {
		if err := m2.Detach(ctx, c.id, c.ns, nil); err != nil {
			t.Fatalf("detach %s: %v", c.id, err)
		}
		if err := netns.Remove(c.ns); err != nil {
			t.Fatal(err)
		}
		e.assertNoLeaksIPs(c.id, c.ns, ips[c.id], network.DefaultNetworkName)
	}
	if n := vethCount(t, e.bridge); n != 0 {
		t.Fatalf("%d veths left", n)
	}
}
