package network

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/berth-containers/berth/network"
	"github.com/berth-containers/berth/network/netns"
)

// TestDefaultBridgePublish: a container on the default bridge gets eth0 with
// an address in the subnet and a default route; the host reaches a server in
// it directly and through a port published on 127.0.0.1 and on 0.0.0.0; the
// container reaches the host; detach and netns removal leave nothing.
func TestDefaultBridgePublish(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := "c" + randHex(8)
	ns := e.newNS(id)

	ports, err := network.ParsePortSpecs([]string{"127.0.0.1::80", "81"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.mgr.Attach(ctx, id, ns, []string{network.DefaultNetworkName}, network.AttachOpts{PortMappings: ports})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Endpoints) != 1 || res.Endpoints[0].IfName != "eth0" {
		t.Fatalf("endpoints: %+v", res.Endpoints)
	}
	ep := res.Endpoints[0]
	pfx := netip.MustParsePrefix(ep.IPs[0])
	if !netip.MustParsePrefix(e.subnet).Contains(pfx.Addr()) {
		t.Fatalf("eth0 address %s not in %s", pfx, e.subnet)
	}
	if ep.MAC == "" || ep.Gateway != netip.MustParsePrefix(e.subnet).Addr().Next().String() {
		t.Fatalf("endpoint: %+v", ep)
	}
	if len(res.PortMappings) != 2 || res.PortMappings[0].HostPort == 0 || res.PortMappings[1].HostPort == 0 {
		t.Fatalf("port mappings: %+v", res.PortMappings)
	}
	addrs := nsRun(t, ns, "ip", "-o", "-4", "addr", "show")
	if !strings.Contains(addrs, "eth0") || !strings.Contains(addrs, pfx.String()) || !strings.Contains(addrs, "127.0.0.1") {
		t.Fatalf("netns addresses:\n%s", addrs)
	}
	if routes := nsRun(t, ns, "ip", "-4", "route", "show", "default"); !strings.Contains(routes, "via "+ep.Gateway+" dev eth0") {
		t.Fatalf("no default route via %s:\n%s", ep.Gateway, routes)
	}

	serve(t, ns, ":80", "hello-80")
	serve(t, ns, ":81", "hello-81")
	serve(t, ns, "127.0.0.1:82", "lo-82")
	mustFetch(t, ns, "127.0.0.1:82", "lo-82") // loopback is up in the netns
	mustFetch(t, "", net.JoinHostPort(pfx.Addr().String(), "80"), "hello-80")
	// portmap turns on route_localnet on the bridge for a 127.0.0.1 mapping
	// (DNAT of loopback traffic to a bridge address needs it).
	if b, err := os.ReadFile("/proc/sys/net/ipv4/conf/" + e.bridge + "/route_localnet"); err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Fatalf("route_localnet on %s: %q %v", e.bridge, b, err)
	}
	mustFetch(t, "", fmt.Sprintf("127.0.0.1:%d", res.PortMappings[0].HostPort), "hello-80")
	mustFetch(t, "", fmt.Sprintf("127.0.0.1:%d", res.PortMappings[1].HostPort), "hello-81")
	if hostIP := hostAddr(t); hostIP != "" {
		mustFetch(t, "", fmt.Sprintf("%s:%d", hostIP, res.PortMappings[1].HostPort), "hello-81")
		// container -> host address on another interface
		l, err := net.Listen("tcp", hostIP+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			c, err := l.Accept()
			if err == nil {
				fmt.Fprint(c, "from-host")
				c.Close()
			}
		}()
		mustFetch(t, ns, l.Addr().String(), "from-host")
		// hairpin: the container reaches itself through its published port
		mustFetch(t, ns, fmt.Sprintf("%s:%d", hostIP, res.PortMappings[1].HostPort), "hello-81")
	}
	nat := run(t, "iptables-save", "-t", "nat")
	if !strings.Contains(nat, id) || !strings.Contains(nat, "MASQUERADE") {
		t.Fatalf("no masquerade rule for %s:\n%s", id, nat)
	}
	if err := e.mgr.Check(ctx, id); err != nil {
		t.Fatalf("check: %v", err)
	}
	if n := vethCount(t, e.bridge); n != 1 {
		t.Fatalf("%d veths on %s, want 1", n, e.bridge)
	}

	if err := e.mgr.Detach(ctx, id, ns, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.Detach(ctx, id, ns, nil); err != nil {
		t.Fatalf("second detach: %v", err)
	}
	if err := netns.Remove(ns); err != nil {
		t.Fatal(err)
	}
	if err := netns.Remove(ns); err != nil {
		t.Fatalf("second netns remove: %v", err)
	}
	if n := vethCount(t, e.bridge); n != 0 {
		t.Fatalf("%d veths left on %s", n, e.bridge)
	}
	e.assertNoLeaksIPs(id, ns, []string{pfx.Addr().String()}, network.DefaultNetworkName)
	if _, err := fetch("", fmt.Sprintf("127.0.0.1:%d", res.PortMappings[0].HostPort)); err == nil {
		t.Fatalf("published port still answers after detach")
	}
}

// hostAddr returns a global IPv4 address of the host on a non-loopback,
// non-bridge interface ("" if none).
func hostAddr(t *testing.T) string {
	ifs, _ := net.Interfaces()
	for _, in := range ifs {
		if in.Flags&net.FlagLoopback != 0 || in.Flags&net.FlagUp == 0 || strings.HasPrefix(in.Name, "veth") || strings.HasPrefix(in.Name, "br") {
			continue
		}
		addrs, _ := in.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
				return ipn.IP.String()
			}
		}
	}
	return ""
}
