package network

import (
	"context"
	"encoding/json"
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
// write), and one whose record lacks the result too (a crash before
// berthd recorded it).
func TestRestartedManagerDetaches(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, b, c := "r"+randHex(8), "s"+randHex(8), "u"+randHex(8)
	nsA, nsB, nsC := e.newNS(a), e.newNS(b), e.newNS(c)
	for _, c := range []struct{ id, ns string }{{a, nsA}, {b, nsB}, {c, nsC}} {
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
	if err != nil || len(ids) != 3 {
		t.Fatalf("attachments after restart: %v %v", ids, err)
	}
	info, err := m2.Inspect(ctx, network.DefaultNetworkName)
	if err != nil || len(info.Containers) != 3 || len(info.Containers[0].IPs) != 1 {
		t.Fatalf("inspect after restart: %+v %v", info, err)
	}
	ips := map[string][]string{}
	for _, c := range info.Containers {
		ips[c.ContainerID] = []string{addr(c)}
	}
	results := filepath.Join(e.state, "cni", "cache", "results")
	ents, _ := os.ReadDir(results)
	lost := 0
	// c: as if berthd died after the plugins ran but before it recorded
	// the result (record says not done, no endpoint, no libcni cache).
	recPath := filepath.Join(e.state, "cni", "attachments", c+".json")
	var rec map[string]any
	raw, err := os.ReadFile(recPath)
	if err != nil || json.Unmarshal(raw, &rec) != nil {
		t.Fatalf("record of %s: %v", c, err)
	}
	for _, n := range rec["networks"].([]any) {
		n := n.(map[string]any)
		n["done"] = false
		delete(n, "endpoint")
	}
	raw, _ = json.Marshal(rec)
	if err := os.WriteFile(recPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, en := range ents {
		if strings.Contains(en.Name(), c) {
			os.Remove(filepath.Join(results, en.Name()))
		}
	}
	for _, en := range ents {
		if strings.Contains(en.Name(), b) {
			os.Remove(filepath.Join(results, en.Name()))
			lost++
		}
	}
	if lost != 1 {
		t.Fatalf("expected one cache file for %s, found %d", b, lost)
	}
	for _, c := range []struct{ id, ns string }{{a, nsA}, {b, nsB}, {c, nsC}} {
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
