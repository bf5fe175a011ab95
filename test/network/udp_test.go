package network

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/berth-containers/berth/network"
	"github.com/berth-containers/berth/network/netns"
)

// TestPublishUDP: "-p 127.0.0.1:H:53/udp" and "-p 0.0.0.0:H2:53/udp" reach
// a UDP echo server inside the container.
func TestPublishUDP(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := "d" + randHex(8)
	ns := e.newNS(id)
	h1, h2 := freeUDPPort(t), freeUDPPort(t)
	ports, err := network.ParsePortSpecs([]string{fmt.Sprintf("127.0.0.1:%d:53/udp", h1), fmt.Sprintf("0.0.0.0:%d:53/udp", h2)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.mgr.Attach(ctx, id, ns, []string{network.DefaultNetworkName}, network.AttachOpts{PortMappings: ports}); err != nil {
		t.Fatal(err)
	}
	var pc net.PacketConn
	if err := netns.Do(ns, func() error {
		var err error
		pc, err = net.ListenPacket("udp", ":53")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("echo:"), buf[:n]...), from)
		}
	}()
	for _, hp := range []int{h1, h2} {
		c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", hp))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		c.Close()
		if err != nil || string(buf[:n]) != "echo:ping" {
			t.Fatalf("udp via host port %d: %q %v", hp, buf[:n], err)
		}
	}
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
