package reliability

import (
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-containers/berth/internal/testutil"
)

// TestRemoveForceInEveryState: rm -f of a container created, running,
// paused, exited, restarting (--restart always, between runs), and running on the bridge network with a published port
// leaves no mount, cgroup, process, network namespace, veth, firewall rule
// or state directory.
func TestRemoveForceInEveryState(t *testing.T) {
	testutil.LookPath(t, "iptables-save", "iptables")
	d := startDaemon(t)
	d.LoadBusybox()
	bridge := d.Bridge
	port := freePort(t)
	for _, tc := range []struct {
		name, state string
		bridged     bool
		make        func(name string) string
	}{
		{"rmf-created", "created", false, func(name string) string {
			return d.Berth("create", "--network", "none", "--name", name, "busybox", "sleep", "1000")
		}},
		{"rmf-running", "running", false, func(name string) string {
			return d.Berth("run", "-d", "--network", "none", "--name", name, "busybox", "sleep", "1000")
		}},
		{"rmf-paused", "paused", false, func(name string) string {
			id := d.Berth("run", "-d", "--network", "none", "--name", name, "busybox", "sleep", "1000")
			d.Berth("pause", name)
			return id
		}},
		{"rmf-exited", "exited", false, func(name string) string {
			id := d.Berth("run", "-d", "--network", "none", "--name", name, "busybox", "sh", "-c", "exit 3")
			if out := d.Berth("wait", name); out != "3\n" {
				t.Fatalf("wait %s: %q", name, out)
			}
			return id
		}},
		{"rmf-restarting", "restarting|running|exited", false, func(name string) string {
			id := d.Berth("run", "-d", "--network", "none", "--restart", "always", "--name", name, "busybox", "sh", "-c", "exit 3")
			waitFor(t, 15*time.Second, name+" to be restarted", func() bool {
				var recs []struct {
					Status struct {
						RestartCount int `json:"restartCount"`
					} `json:"status"`
				}
				return json.Unmarshal([]byte(d.Berth("container", "inspect", name)), &recs) == nil && len(recs) == 1 && recs[0].Status.RestartCount >= 1
			})
			return id
		}},
		{"rmf-bridged", "running", true, func(name string) string {
			return d.Berth("run", "-d", "--name", name, "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "busybox",
				"sh", "-c", "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 80 -h /www")
		}},
	} {
		name, bridged := tc.name, tc.bridged
		id := strings.TrimSpace(tc.make(name))
		if got := d.Berth("ps", "-a", "--filter", "name="+name, "--format", "{{.State}}"); !slices.Contains(strings.Split(tc.state, "|"), strings.TrimSuffix(got, "\n")) {
			t.Fatalf("%s: state %q, want %s", name, got, tc.state)
		}
		if bridged {
			waitFor(t, 15*time.Second, "the published port to answer", func() bool {
				c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
				if err != nil {
					return false
				}
				c.Close()
				return true
			})
			if links := vethsOn(bridge); len(links) == 0 {
				t.Fatalf("%s: no veth on bridge %s", name, bridge)
			}
			if save, _ := exec.Command("iptables-save").Output(); !strings.Contains(string(save), fmt.Sprint(port)) {
				t.Fatalf("%s: no iptables rule for port %d", name, port)
			}
		}
		d.Berth("rm", "-f", name)
		if out := d.Berth("ps", "-aq", "--filter", "name="+name); out != "" {
			t.Fatalf("%s still listed after rm -f: %q", name, out)
		}
		requireNoLeaksOf(d, t, id, true)
		if bridged {
			if links := vethsOn(bridge); len(links) != 0 {
				t.Fatalf("veths left on %s after rm -f: %v", bridge, links)
			}
			if save, _ := exec.Command("iptables-save").Output(); strings.Contains(string(save), fmt.Sprintf("--dport %d ", port)) {
				t.Fatalf("iptables rules for port %d left after rm -f:\n%s", port, save)
			}
			if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
				c.Close()
				t.Fatalf("port %d still answers after rm -f", port)
			}
		}
	}
	if out := d.Berth("ps", "-aq"); out != "" {
		t.Fatalf("containers left: %q", out)
	}
	d.RequireClean(t)
}

// vethsOn lists the interfaces enslaved to bridge.
func vethsOn(bridge string) []string {
	out, _ := exec.Command("ip", "-o", "link", "show", "master", bridge).Output()
	var links []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			links = append(links, strings.TrimSuffix(f[1], ":"))
		}
	}
	return links
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
