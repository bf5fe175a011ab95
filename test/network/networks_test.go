package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/network"
	"github.com/berth-containers/berth/network/netns"
)

func addr(ep network.Endpoint) string { return netip.MustParsePrefix(ep.IPs[0]).Addr().String() }

// TestCustomNetworkTwoContainers: create/inspect a network, two containers
// on it reach each other, removal is refused while attached (naming them),
// then detach + remove leaves no bridge, veth, rule, lease or record.
func TestCustomNetworkTwoContainers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	name := "net-" + randHex(4)
	sub := nextSubnet()
	n, err := e.mgr.Create(ctx, network.NetworkSpec{Name: name, Subnet: sub, Labels: map[string]string{"team": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if n.Subnet != sub || n.Gateway != netip.MustParsePrefix(sub).Addr().Next().String() || !strings.HasPrefix(n.Bridge, "br-") || n.Labels["team"] != "a" {
		t.Fatalf("created: %+v", n)
	}
	if _, err := e.mgr.Create(ctx, network.NetworkSpec{Name: name, Subnet: nextSubnet()}); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := e.mgr.Create(ctx, network.NetworkSpec{Name: name + "x", Subnet: sub}); err == nil ||
		!strings.Contains(err.Error(), "overlaps subnet "+sub+" of network \""+name+"\"") {
		t.Fatalf("overlapping subnet: %v", err)
	}
	list, err := e.mgr.List(ctx)
	if err != nil || len(list) != 2 || list[0].Name != network.DefaultNetworkName || list[1].Name != name {
		t.Fatalf("list: %+v %v", list, err)
	}

	c1, c2 := "a"+randHex(8), "b"+randHex(8)
	ns1, ns2 := e.newNS(c1), e.newNS(c2)
	r1, err := e.mgr.Attach(ctx, c1, ns1, []string{name}, network.AttachOpts{})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := e.mgr.Attach(ctx, c2, ns2, []string{name, network.DefaultNetworkName}, network.AttachOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r2.Endpoints) != 2 || r2.Endpoints[0].IfName != "eth0" || r2.Endpoints[1].IfName != "eth1" {
		t.Fatalf("c2 endpoints: %+v", r2.Endpoints)
	}
	if _, err := e.mgr.Attach(ctx, c1, ns1, []string{name}, network.AttachOpts{}); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("attach twice: %v", err)
	}
	serve(t, ns1, ":80", "c1")
	serve(t, ns2, ":80", "c2")
	mustFetch(t, ns2, addr(r1.Endpoints[0])+":80", "c1")
	mustFetch(t, ns1, addr(r2.Endpoints[0])+":80", "c2")

	info, err := e.mgr.Inspect(ctx, name)
	if err != nil || len(info.Containers) != 2 {
		t.Fatalf("inspect: %+v %v", info, err)
	}
	err = e.mgr.Remove(ctx, name)
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), c1) || !strings.Contains(err.Error(), c2) {
		t.Fatalf("remove while attached: %v", err)
	}
	if err := e.mgr.Remove(ctx, network.DefaultNetworkName); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("remove default: %v", err)
	}
	// Detach c2 from the custom network only: it keeps eth1 on the default one.
	if err := e.mgr.Detach(ctx, c2, ns2, []string{name}); err != nil {
		t.Fatal(err)
	}
	eps, _, err := e.mgr.Endpoints(ctx, c2)
	if err != nil || len(eps) != 1 || eps[0].Network != network.DefaultNetworkName {
		t.Fatalf("c2 after partial detach: %+v %v", eps, err)
	}
	if out := nsRun(t, ns2, "ip", "-o", "link"); strings.Contains(out, "eth0") || !strings.Contains(out, "eth1") {
		t.Fatalf("c2 links after partial detach:\n%s", out)
	}
	for _, c := range []struct{ id, ns string }{{c1, ns1}, {c2, ns2}} {
		if err := e.mgr.Detach(ctx, c.id, c.ns, nil); err != nil {
			t.Fatal(err)
		}
		if err := netns.Remove(c.ns); err != nil {
			t.Fatal(err)
		}
		e.assertNoLeaks(c.id, c.ns, name, network.DefaultNetworkName)
	}
	if err := e.mgr.Remove(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := net.InterfaceByName(n.Bridge); err == nil {
		t.Fatalf("bridge %s left after remove", n.Bridge)
	}
	if _, err := e.mgr.Inspect(ctx, name); !errdefs.IsNotFound(err) {
		t.Fatalf("inspect removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.root, "networks", name+".conflist")); !os.IsNotExist(err) {
		t.Fatalf("conflist left: %v", err)
	}
}

// TestAttachFailureRollsBack: the second network's plugin fails (its bridge
// name is taken by a non-bridge link), so the first network's ADD is undone.
func TestAttachFailureRollsBack(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	name := "bad-" + randHex(4)
	n, err := e.mgr.Create(ctx, network.NetworkSpec{Name: name, Subnet: nextSubnet()})
	if err != nil {
		t.Fatal(err)
	}
	// A veth (not a bridge) squatting on the bridge's name.
	run(t, "ip", "link", "add", n.Bridge, "type", "veth", "peer", "name", "vp"+randHex(4))
	t.Cleanup(func() { deleteLinkIfAny(n.Bridge) })

	id := "f" + randHex(8)
	ns := e.newNS(id)
	_, err = e.mgr.Attach(ctx, id, ns, []string{network.DefaultNetworkName, name}, network.AttachOpts{
		PortMappings: []network.PortMapping{{HostIP: "127.0.0.1", HostPort: freePort(t), ContainerPort: 80, Protocol: "tcp"}}})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("attach to network %q", name)) {
		t.Fatalf("attach with failing second network: %v", err)
	}
	if out := nsRun(t, ns, "ip", "-o", "link"); strings.Contains(out, "eth") {
		t.Fatalf("interfaces left in netns after rollback:\n%s", out)
	}
	if n := vethCount(t, e.bridge); n != 0 {
		t.Fatalf("%d veths left on %s after rollback", n, e.bridge)
	}
	e.assertNoLeaks(id, "", network.DefaultNetworkName, name)

	// Bad input changes nothing either.
	if _, err := e.mgr.Attach(ctx, id, ns, []string{network.DefaultNetworkName, "nope-" + randHex(3)}, network.AttachOpts{}); !errdefs.IsNotFound(err) {
		t.Fatalf("unknown network: %v", err)
	}
	if _, err := e.mgr.Attach(ctx, id, ns, []string{network.DefaultNetworkName}, network.AttachOpts{
		PortMappings: []network.PortMapping{{HostPort: 70000, ContainerPort: 80, Protocol: "tcp"}}}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad port: %v", err)
	}
	if _, err := e.mgr.Attach(ctx, "../x", ns, []string{network.DefaultNetworkName}, network.AttachOpts{}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad id: %v", err)
	}
	if _, err := e.mgr.Attach(ctx, id, ns+"-missing", []string{network.DefaultNetworkName}, network.AttachOpts{}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("missing netns: %v", err)
	}
	plain := filepath.Join(t.TempDir(), "not-a-netns")
	os.WriteFile(plain, nil, 0o644)
	if _, err := e.mgr.Attach(ctx, id, plain, []string{network.DefaultNetworkName}, network.AttachOpts{}); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "not a network namespace") {
		t.Fatalf("plain file as netns: %v", err)
	}
	e.assertNoLeaks(id, "", network.DefaultNetworkName, name)
	deleteLinkIfAny(n.Bridge)
}

// TestDetachAfterNetnsGone: the namespace vanished before Detach (crash
// path); Detach still removes the masquerade and port rules and the lease.
func TestDetachAfterNetnsGone(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := "g" + randHex(8)
	p, err := netns.New(e.state, id)
	if err != nil {
		t.Fatal(err)
	}
	hp := freePort(t)
	res, err := e.mgr.Attach(ctx, id, p, []string{network.DefaultNetworkName}, network.AttachOpts{
		PortMappings: []network.PortMapping{{HostPort: hp, ContainerPort: 80, Protocol: "tcp"}}})
	if err != nil {
		netns.Remove(p)
		t.Fatal(err)
	}
	if err := netns.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.Detach(ctx, id, "", nil); err != nil {
		t.Fatal(err)
	}
	e.assertNoLeaksIPs(id, p, []string{addr(res.Endpoints[0])}, network.DefaultNetworkName)
}

// TestPortConflict: a host port published by one container is refused to
// another, naming the holder, and the refused attach leaves nothing.
func TestPortConflict(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, b := "p"+randHex(8), "q"+randHex(8)
	nsA, nsB := e.newNS(a), e.newNS(b)
	hp := freePort(t)
	pm := []network.PortMapping{{HostIP: "127.0.0.1", HostPort: hp, ContainerPort: 80, Protocol: "tcp"}}
	if _, err := e.mgr.Attach(ctx, a, nsA, []string{network.DefaultNetworkName}, network.AttachOpts{PortMappings: pm}); err != nil {
		t.Fatal(err)
	}
	_, err := e.mgr.Attach(ctx, b, nsB, []string{network.DefaultNetworkName}, network.AttachOpts{
		PortMappings: []network.PortMapping{{HostPort: hp, ContainerPort: 81, Protocol: "tcp"}}})
	if !errdefs.IsAlreadyExists(err) || !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), fmt.Sprint(hp)) {
		t.Fatalf("conflicting port: %v", err)
	}
	e.assertNoLeaks(b, "", network.DefaultNetworkName)

	// A host process already listening on the port: refused, like docker's
	// "port is already allocated".
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	_, err = e.mgr.Attach(ctx, b, nsB, []string{network.DefaultNetworkName}, network.AttachOpts{
		PortMappings: []network.PortMapping{{HostPort: busy, ContainerPort: 81, Protocol: "tcp"}}})
	if !errdefs.IsAlreadyExists(err) || !strings.Contains(err.Error(), fmt.Sprintf("host port 0.0.0.0:%d/tcp is already in use on the host", busy)) {
		t.Fatalf("port held by a host process: %v", err)
	}
	_, err = e.mgr.Attach(ctx, b, nsB, []string{network.DefaultNetworkName}, network.AttachOpts{
		PortMappings: []network.PortMapping{{HostIP: "192.0.2.254", HostPort: freePort(t), ContainerPort: 81, Protocol: "tcp"}}})
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "not an address of this host") {
		t.Fatalf("foreign host address: %v", err)
	}
	e.assertNoLeaks(b, "", network.DefaultNetworkName)
	if n := vethCount(t, e.bridge); n != 1 {
		t.Fatalf("%d veths, want 1", n)
	}
}

// TestNoneModeLoopbackOnly: a "none" container's namespace has lo up and
// nothing else.
func TestNoneModeLoopbackOnly(t *testing.T) {
	e := newEnv(t)
	mode, err := network.ParseNetworkMode("none")
	if err != nil || !mode.NeedsNetNS() || len(mode.Networks()) != 0 {
		t.Fatalf("none mode: %+v %v", mode, err)
	}
	ns := e.newNS("n" + randHex(8))
	out := nsRun(t, ns, "ip", "-o", "link")
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "lo:") || !strings.Contains(out, "UP") {
		t.Fatalf("none netns links:\n%s", out)
	}
	if _, err := netns.New(e.state, filepath.Base(ns)); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("netns twice: %v", err)
	}
}

// TestConcurrentAttach: many containers attach and publish at once, each is
// reachable through its port, and all detach without leaks.
func TestConcurrentAttach(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	ids := make([]string, n)
	nss := make([]string, n)
	ports := make([]int, n)
	for i := range n {
		ids[i] = fmt.Sprintf("k%02d%s", i, randHex(6))
		nss[i] = e.newNS(ids[i])
		ports[i] = freePort(t)
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.mgr.Attach(ctx, ids[i], nss[i], []string{network.DefaultNetworkName}, network.AttachOpts{
				PortMappings: []network.PortMapping{{HostIP: "127.0.0.1", HostPort: ports[i], ContainerPort: 80, Protocol: "tcp"}}})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		serve(t, nss[i], ":80", ids[i])
	}
	for i := range n {
		mustFetch(t, "", fmt.Sprintf("127.0.0.1:%d", ports[i]), ids[i])
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = e.mgr.Detach(ctx, ids[i], nss[i], nil); errs[i] == nil {
				errs[i] = netns.Remove(nss[i])
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		e.assertNoLeaks(ids[i], nss[i], network.DefaultNetworkName)
	}
	if c := vethCount(t, e.bridge); c != 0 {
		t.Fatalf("%d veths left", c)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func deleteLinkIfAny(name string) {
	if _, err := net.InterfaceByName(name); err == nil {
		_ = runQuiet("ip", "link", "delete", name)
	}
}
