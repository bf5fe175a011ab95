package run

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/berth-containers/berth/internal/testutil"
)

// TestEventsVolumesNetworks: events stream a container's life; a named
// volume keeps data across containers; a user network gives its subnet and
// is removed; bad names get clear errors.
func TestEventsVolumesNetworks(t *testing.T) {
	d := startDaemon(t)
	d.LoadBusybox()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ev := exec.CommandContext(ctx, testutil.Binary(t, "berth"), "--address", d.Addr, "events", "--format", "json", "--filter", "container=evt")
	out, err := ev.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ev.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = ev.Wait() }()
	time.Sleep(300 * time.Millisecond) // let the subscription reach the daemon
	if code, _, _ := d.ExitCode("run", "--rm", "--name", "evt", "--network", "none", "busybox", "sh", "-c", "exit 2"); code != 2 {
		t.Fatalf("exit code %d", code)
	}
	d.Berth("run", "--rm", "--name", "other", "--network", "none", "busybox", "true")
	sc := bufio.NewScanner(out)
	var actions []string
	for len(actions) < 4 && sc.Scan() {
		var e struct {
			Action     string            `json:"action"`
			Attributes map[string]string `json:"attributes"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("event %q: %v", sc.Text(), err)
		}
		if e.Attributes["name"] != "evt" {
			t.Fatalf("filtered stream has an event of %q", e.Attributes["name"])
		}
		if e.Action == "die" && e.Attributes["exitCode"] != "2" {
			t.Fatalf("die event exit code %q", e.Attributes["exitCode"])
		}
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, " "); got != "create start die destroy" {
		t.Fatalf("events: %q", got)
	}

	ictx, icancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer icancel()
	iev := exec.CommandContext(ictx, testutil.Binary(t, "berth"), "--address", d.Addr, "events", "--format", "json", "--filter", "type=image")
	iout, err := iev.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := iev.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { icancel(); _ = iev.Wait() }()
	time.Sleep(300 * time.Millisecond)
	d.Berth("tag", "busybox", "other:1")
	d.Berth("rmi", "other:1")
	isc := bufio.NewScanner(iout)
	var iactions []string
	for len(iactions) < 2 && isc.Scan() {
		var e struct {
			Type, Action string
		}
		if err := json.Unmarshal(isc.Bytes(), &e); err != nil || e.Type != "image" {
			t.Fatalf("image event %q: %v", isc.Text(), err)
		}
		iactions = append(iactions, e.Action)
	}
	if got := strings.Join(iactions, " "); got != "tag delete" {
		t.Fatalf("image events: %q", got)
	}

	d.Berth("volume", "create", "keep")
	d.Berth("run", "--rm", "--network", "none", "-v", "keep:/data", "busybox", "sh", "-c", "echo kept > /data/f")
	if got := d.Berth("run", "--rm", "--network", "none", "-v", "keep:/data", "busybox", "cat", "/data/f"); got != "kept\n" {
		t.Fatalf("volume content: %q", got)
	}
	if got := d.Berth("volume", "ls", "-q"); got != "keep\n" {
		t.Fatalf("volume ls: %q", got)
	}
	d.Berth("volume", "rm", "keep")
	if code, _, errOut := d.ExitCode("volume", "inspect", "keep"); code == 0 || !strings.Contains(errOut, "keep") {
		t.Fatalf("inspect of a removed volume: code %d, %q", code, errOut)
	}

	d.Berth("network", "create", "--subnet", "10.251.7.0/24", "tnet")
	if got := d.Berth("run", "--rm", "--network", "tnet", "busybox", "sh", "-c", "ip -4 -o addr show eth0"); !strings.Contains(got, "10.251.7.") {
		t.Fatalf("address on tnet: %q", got)
	}
	d.Berth("network", "rm", "tnet")
	if code, _, errOut := d.ExitCode("run", "--rm", "--network", "tnet", "busybox", "true"); code == 0 || !strings.Contains(errOut, "tnet") {
		t.Fatalf("run on a removed network: code %d, %q", code, errOut)
	}

	// update: limits reach the running container's cgroup (v1 hierarchy here).
	id := strings.TrimSpace(d.Berth("run", "-d", "--network", "none", "--memory", "64m", "busybox", "sleep", "100"))
	d.Berth("update", "--memory", "32m", "--pids-limit", "20", id)
	if b, err := os.ReadFile("/sys/fs/cgroup/memory/berth/" + id + "/memory.limit_in_bytes"); err != nil || strings.TrimSpace(string(b)) != "33554432" {
		t.Fatalf("memory limit after update: %q %v", b, err)
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/pids/berth/" + id + "/pids.max"); err != nil || strings.TrimSpace(string(b)) != "20" {
		t.Fatalf("pids limit after update: %q %v", b, err)
	}
	if code, _, errOut := d.ExitCode("update", "--memory=-5", id); code == 0 || !strings.Contains(errOut, "-5") {
		t.Fatalf("update --memory=-5: code %d, %q", code, errOut)
	}
	if c := d.Inspect(t, id); c.Options.Memory != 32<<20 {
		t.Fatalf("recorded memory %d", c.Options.Memory)
	}
	if out := d.Berth("stats", "--no-stream", id); !strings.Contains(out, "MEM USAGE / LIMIT") || !strings.Contains(out, "/ 33.6MB") {
		t.Fatalf("stats: %q", out)
	}
	d.Berth("rm", "-f", id)
	d.RequireClean(t)
}
