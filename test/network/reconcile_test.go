package network

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/berth-containers/berth/network"
	"github.com/berth-containers/berth/network/netns"
)

// TestReconcileAndInternal: after a restart, Reconcile detaches and unpins
// containers berthd no longer has and keeps the live one. An internal
// network gives no default route, no masquerade, and refuses publishing.
func TestReconcileAndInternal(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	name := "int-" + randHex(4)
	if _, err := e.mgr.Create(ctx, network.NetworkSpec{Name: name, Subnet: nextSubnet(), Internal: true}); err != nil {
		t.Fatal(err)
	}
	liveID, gone1, gone2 := "v"+randHex(8), "w"+randHex(8), "x"+randHex(8)
	nsLive, ns1 := e.newNS(liveID), e.newNS(gone1)
	ns2, err := netns.New(e.state, gone2) // a stray namespace with no attachment
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Remove(ns2) })

	if _, err := e.mgr.Attach(ctx, liveID, nsLive, []string{name}, network.AttachOpts{
		PortMappings: []network.PortMapping{{HostPort: freePort(t), ContainerPort: 80, Protocol: "tcp"}}}); err == nil || !strings.Contains(err.Error(), "internal") {
		t.Fatalf("publish on internal network: %v", err)
	}
	if _, err := e.mgr.Attach(ctx, liveID, nsLive, []string{name}, network.AttachOpts{}); err != nil {
		t.Fatal(err)
	}
	if routes := nsRun(t, nsLive, "ip", "-4", "route", "show", "default"); strings.TrimSpace(routes) != "" {
		t.Fatalf("internal network gave a default route: %s", routes)
	}
	if nat := run(t, "iptables-save", "-t", "nat"); strings.Contains(nat, liveID) {
		t.Fatalf("internal network has nat rules for %s", liveID)
	}
	r1, err := e.mgr.Attach(ctx, gone1, ns1, []string{network.DefaultNetworkName}, network.AttachOpts{})
	if err != nil {
		t.Fatal(err)
	}

	m2, err := network.New(network.Config{Root: e.root, State: e.state, DefaultSubnet: e.subnet, DefaultBridge: e.bridge})
	if err != nil {
		t.Fatal(err)
	}
	cleaned, err := m2.Reconcile(ctx, func(id string) bool { return id == liveID })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{gone1, gone2}
	sort.Strings(want)
	if !reflect.DeepEqual(cleaned, want) {
		t.Fatalf("reconciled %v, want %v", cleaned, want)
	}
	e.assertNoLeaksIPs(gone1, ns1, []string{addr(r1.Endpoints[0])}, network.DefaultNetworkName)
	e.assertNoLeaks(gone2, ns2)
	if !netns.IsPinned(nsLive) {
		t.Fatal("live container's netns removed")
	}
	if eps, _, err := m2.Endpoints(ctx, liveID); err != nil || len(eps) != 1 {
		t.Fatalf("live container's endpoints: %v %v", eps, err)
	}
}
