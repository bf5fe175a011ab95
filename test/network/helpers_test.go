package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/network"
	"github.com/berth-containers/berth/network/netns"
)

var subnetSeq atomic.Uint32

func init() {
	b := make([]byte, 1)
	rand.Read(b)
	subnetSeq.Store(uint32(b[0]))
}

// nextSubnet returns a /24 in 10.232.0.0/16 not used by another test of this
// process.
func nextSubnet() string {
	return fmt.Sprintf("10.232.%d.0/24", subnetSeq.Add(1)%256)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

type env struct {
	t      *testing.T
	mgr    *network.Manager
	state  string
	root   string
	subnet string
	bridge string
	shared bool // another env uses the same bridge
}

// newEnv makes a Manager with its own root, state, default subnet and bridge,
// and removes everything it made when the test ends.
func newEnv(t *testing.T) *env {
	t.Helper()
	testutil.Integration(t)
	testutil.LookPath(t, "iptables-save", "iptables")
	testutil.LookPath(t, "ip", "iproute2")
	dir := t.TempDir()
	e := &env{t: t, root: filepath.Join(dir, "root"), state: filepath.Join(dir, "state"),
		subnet: nextSubnet(), bridge: "bt" + randHex(4)}
	mgr, err := network.New(network.Config{Root: e.root, State: e.state, DefaultSubnet: e.subnet, DefaultBridge: e.bridge})
	if err != nil {
		t.Fatal(err)
	}
	e.mgr = mgr
	t.Cleanup(func() {
		ctx := context.Background()
		ids, _ := mgr.Attachments(ctx)
		for _, id := range ids {
			if err := mgr.Detach(ctx, id, "", nil); err != nil {
				t.Errorf("cleanup detach %s: %v", id, err)
			}
		}
		nets, _ := mgr.List(ctx)
		for _, n := range nets {
			if n.Name != network.DefaultNetworkName {
				if err := mgr.Remove(ctx, n.Name); err != nil {
					t.Errorf("cleanup remove network %s: %v", n.Name, err)
				}
			}
		}
		if err := mgr.DeleteDefaultBridge(ctx); err != nil {
			t.Errorf("cleanup bridge: %v", err)
		}
		if _, err := os.Stat(filepath.Join("/run/berth/ipam", e.bridge)); err == nil && !e.shared {
			t.Errorf("shared lease dir of %s left", e.bridge)
		}
		ents, _ := os.ReadDir(netns.Dir(e.state))
		for _, en := range ents {
			netns.Remove(filepath.Join(netns.Dir(e.state), en.Name()))
		}
		if err := netns.Cleanup(e.state); err != nil {
			t.Errorf("cleanup netns dir: %v", err)
		}
	})
	return e
}

// newNS makes a pinned namespace removed at the end of the test.
func (e *env) newNS(name string) string {
	e.t.Helper()
	p, err := netns.New(e.state, name)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		// Detach before the namespace goes, as berthd does.
		if err := e.mgr.Detach(context.Background(), name, p, nil); err != nil {
			e.t.Errorf("cleanup detach %s: %v", name, err)
		}
		netns.Remove(p)
	})
	return p
}

// serve runs a TCP server inside the namespace at nsPath on addr; each
// connection gets greeting and is closed.
func serve(t *testing.T, nsPath, addr, greeting string) {
	t.Helper()
	var l net.Listener
	err := netns.Do(nsPath, func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen %s in %s: %v", addr, nsPath, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, greeting)
			c.Close()
		}
	}()
}

// fetch connects to addr (from inside nsPath unless it is "") and returns
// what the server sent.
func fetch(nsPath, addr string) (string, error) {
	var c net.Conn
	dial := func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, 3*time.Second)
		return err
	}
	var err error
	if nsPath == "" {
		err = dial()
	} else {
		err = netns.Do(nsPath, dial)
	}
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

func mustFetch(t *testing.T, nsPath, addr, want string) {
	t.Helper()
	got, err := fetch(nsPath, addr)
	if err != nil {
		t.Fatalf("connect to %s (from netns %q): %v", addr, nsPath, err)
	}
	if got != want {
		t.Fatalf("connect to %s: got %q, want %q", addr, got, want)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// nsRun runs a host tool inside the namespace (nsenter --net).
func nsRun(t *testing.T, nsPath string, args ...string) string {
	t.Helper()
	return run(t, "nsenter", append([]string{"--net=" + nsPath}, args...)...)
}

// leaseDir is where host-local keeps network n's leases: the default
// network's are shared per bridge under /run/berth/ipam.
func (e *env) leaseDir(n string) string {
	if n == network.DefaultNetworkName {
		return filepath.Join("/run/berth/ipam", e.bridge, n)
	}
	return filepath.Join(e.state, "cni", "networks", n)
}

// assertNoLeaks checks nothing of the container is left on the host.
func (e *env) assertNoLeaks(containerID, nsPath string, networks ...string) {
	e.assertNoLeaksIPs(containerID, nsPath, nil, networks...)
}

// assertNoLeaksIPs is assertNoLeaks that also looks for rules naming the
// container's former addresses (bare IPs).
func (e *env) assertNoLeaksIPs(containerID, nsPath string, ips []string, networks ...string) {
	t := e.t
	t.Helper()
	for _, table := range []string{"filter", "nat", "mangle"} {
		out := run(t, "iptables-save", "-t", table)
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, containerID) {
				t.Errorf("iptables %s rule left for %s: %s", table, containerID, line)
			}
		}
	}
	for _, ip := range ips {
		out := run(t, "iptables-save")
		if strings.Contains(out, " "+ip+"/32 ") {
			t.Errorf("iptables rule for %s (%s) left:\n%s", ip, containerID, out)
		}
	}
	for _, n := range networks {
		info, err := e.mgr.Inspect(context.Background(), n)
		if err != nil {
			t.Errorf("inspect %s: %v", n, err)
			continue
		}
		for _, c := range info.Containers {
			if c.ContainerID == containerID {
				t.Errorf("network %s still lists container %s", n, containerID)
			}
		}
		leases := e.leaseDir(n)
		ents, _ := os.ReadDir(leases)
		for _, en := range ents {
			if net.ParseIP(en.Name()) == nil {
				continue
			}
			b, _ := os.ReadFile(filepath.Join(leases, en.Name()))
			if strings.HasPrefix(string(b), containerID) {
				t.Errorf("IPAM lease %s left for %s", en.Name(), containerID)
			}
		}
	}
	results, _ := os.ReadDir(filepath.Join(e.state, "cni", "cache", "results"))
	for _, r := range results {
		if strings.Contains(r.Name(), containerID) {
			t.Errorf("CNI cache file left: %s", r.Name())
		}
	}
	if _, err := os.Stat(filepath.Join(e.state, "cni", "attachments", containerID+".json")); err == nil {
		t.Errorf("attachment record left for %s", containerID)
	}
	if nsPath != "" {
		mi, _ := os.ReadFile("/proc/self/mountinfo")
		if strings.Contains(string(mi), " "+nsPath+" ") {
			t.Errorf("netns mount left: %s", nsPath)
		}
		if _, err := os.Stat(nsPath); err == nil {
			t.Errorf("netns file left: %s", nsPath)
		}
	}
}

// vethCount counts host interfaces enslaved to bridge (0 if it is gone).
func vethCount(t *testing.T, bridge string) int {
	t.Helper()
	if _, err := net.InterfaceByName(bridge); err != nil {
		return 0
	}
	return strings.Count(run(t, "ip", "-o", "link", "show", "master", bridge), "\n")
}

func runQuiet(name string, args ...string) error { return exec.Command(name, args...).Run() }
