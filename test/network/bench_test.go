package network

import (
	"context"
	"testing"
	"time"

	"github.com/berth-containers/berth/network"
	"github.com/berth-containers/berth/network/netns"
)

// TestAttachLatency reports the time of netns.New + Attach and Detach +
// netns.Remove on the default bridge (what `berth run --rm` pays for its
// network), with and without a published port.
func TestAttachLatency(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, withPort := range []bool{false, true} {
		const n = 5
		var mk, up, down time.Duration
		for i := 0; i < n; i++ {
			id := "l" + randHex(8)
			var opts network.AttachOpts
			if withPort {
				opts.PortMappings = []network.PortMapping{{HostIP: "127.0.0.1", HostPort: freePort(t), ContainerPort: 80, Protocol: "tcp"}}
			}
			tn := time.Now()
			ns, err := netns.New(e.state, id)
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			mk += t0.Sub(tn)
			if _, err := e.mgr.Attach(ctx, id, ns, []string{network.DefaultNetworkName}, opts); err != nil {
				netns.Remove(ns)
				t.Fatal(err)
			}
			t1 := time.Now()
			if err := e.mgr.Detach(ctx, id, ns, nil); err != nil {
				t.Fatal(err)
			}
			if err := netns.Remove(ns); err != nil {
				t.Fatal(err)
			}
			up += t1.Sub(t0)
			down += time.Since(t1)
		}
		t.Logf("published port %v: netns.New %v, Attach %v, Detach+netns.Remove %v (mean of %d)", withPort, mk/n, up/n, down/n, n)
	}
}
