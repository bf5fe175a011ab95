package reliability

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-containers/berth/internal/testutil"
)

// TestOrphanShimNetworkReleased: a container on the bridge network with a
// published port loses its record while berthd is down (as when an rm is
// cut short); after the restart its shim, bundle and network namespace are
// gone, and so are its port mapping and masquerade rules, its veth and its
// IPAM lease.
func TestOrphanShimNetworkReleased(t *testing.T) {
	testutil.LookPath(t, "iptables-save", "iptables")
	d := startDaemon(t)
	d.LoadBusybox()
	bridge := d.Bridge
	port := freePort(t)
	id := strings.TrimSpace(d.Berth("run", "-d", "--name", "orphan", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "busybox",
		"sh", "-c", "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 80 -h /www"))
	waitFor(t, 15*time.Second, "the published port to answer", func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	if len(leasesOf(d, id, bridge)) == 0 {
		t.Fatalf("no IPAM lease of %s ", id)
	}
	if save, _ := exec.Command("iptables-save").Output(); !strings.Contains(string(save), fmt.Sprint(port)) {
		t.Fatalf("no iptables rule for port %d", port)
	}

	d.Kill()
	// The record goes; the shim, the container and its network stay.
	db, err := bolt.Open(filepath.Join(d.Root, "metadata.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		nsb := tx.Bucket([]byte("v1")).Bucket([]byte("default"))
		if nsb == nil {
			return fmt.Errorf("no bucket v1/default")
		}
		if err := nsb.Bucket([]byte("containers")).Delete([]byte(id)); err != nil {
			return err
		}
		if nb := nsb.Bucket([]byte("container-names")); nb != nil {
			return nb.Delete([]byte("orphan"))
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("remove the record of %s: %v", id, err)
	}
	d.Start()

	if out := d.Berth("ps", "-aq"); out != "" {
		t.Fatalf("containers after the restart: %q", out)
	}
	requireNoLeaks(d, t, id)
	if leases := leasesOf(d, id, bridge); len(leases) != 0 {
		t.Fatalf("IPAM leases of %s left: %v", id, leases)
	}
	if links := vethsOn(bridge); len(links) != 0 {
		t.Fatalf("veths left on %s: %v", bridge, links)
	}
	if save, _ := exec.Command("iptables-save").Output(); strings.Contains(string(save), fmt.Sprintf("--dport %d ", port)) {
		t.Fatalf("iptables rules for port %d left:\n%s", port, save)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Fatalf("port %d still answers", port)
	}
}

// leasesOf lists the host-local IPAM lease files that name id: the daemon's
// own networks' and the default network's, kept host-wide per bridge.
func leasesOf(d *daemon, id, bridge string) []string {
	var out []string
	files, _ := filepath.Glob(filepath.Join(d.State, "cni", "networks", "*", "*"))
	shared, _ := filepath.Glob(filepath.Join("/run/berth/ipam", bridge, "*", "*"))
	for _, f := range append(files, shared...) {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), id) {
			out = append(out, f)
		}
	}
	return out
}
