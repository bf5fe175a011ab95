package run

import (
	"fmt"
	"io"
	"math/bits"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRunLifecycle: run --rm with output and exit codes, then a detached
// container through create/start/ps/logs/exec/pause/stop/start/rm, and
// nothing left afterwards.
func TestRunLifecycle(t *testing.T) {
	d := startDaemon(t)
	d.LoadBusybox()

	if out := d.Berth("run", "--rm", "--network", "none", "busybox", "echo", "hi"); out != "hi\n" {
		t.Fatalf("run --rm echo hi: got %q", out)
	}
	if code, _, errOut := d.ExitCode("run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo oops >&2; exit 3"); code != 3 || errOut != "oops\n" {
		t.Fatalf("run exit 3: code %d, stderr %q", code, errOut)
	}
	// Under --init the shell is not PID 1, so SIGTERM kills it (143).
	if code, out, _ := d.ExitCode("run", "--rm", "--init", "--network", "none", "busybox", "sh", "-c", "cat /proc/1/comm; kill -TERM $$; sleep 5"); out != "berth-init\n" || code != 143 {
		t.Fatalf("--init: PID 1 is %q and exit code %d, want berth-init and 143", out, code)
	}
	if code, _, _ := d.ExitCode("run", "--rm", "--init", "--network", "none", "busybox", "sh", "-c", "exit 9"); code != 9 {
		t.Fatalf("--init: exit code %d, want 9", code)
	}
	if out := d.Berth("ps", "-aq"); out != "" {
		t.Fatalf("--rm containers still listed: %q", out)
	}
	d.RequireClean(t)

	id := strings.TrimSpace(d.Berth("create", "--name", "worker", "--network", "none", "-e", "GREETING=ahoy", "busybox",
		"sh", "-c", `i=0; while true; do echo "$GREETING $i"; i=$((i+1)); sleep 0.1; done`))
	if len(id) != 64 {
		t.Fatalf("create printed %q, want a 64-hex id", id)
	}
	if out := d.Berth("ps", "-a", "--format", "{{.Names}} {{.State}}"); out != "worker created\n" {
		t.Fatalf("ps after create: %q", out)
	}
	d.Berth("start", "worker")
	if out := d.Berth("ps", "--format", "{{.ID}} {{.State}}"); out != id[:12]+" running\n" {
		t.Fatalf("ps after start: %q", out)
	}
	waitFor(t, 10*time.Second, "log lines", func() bool { return strings.Contains(d.Berth("logs", "worker"), "ahoy 3\n") })
	if out := d.Berth("logs", "--tail", "1", "worker"); !strings.HasPrefix(out, "ahoy ") || strings.Count(out, "\n") != 1 {
		t.Fatalf("logs --tail 1: %q", out)
	}
	if code, out, _ := d.ExitCode("exec", "-e", "X=1", "worker", "sh", "-c", "echo exec $X $GREETING; exit 7"); code != 7 || out != "exec 1 ahoy\n" {
		t.Fatalf("exec: code %d, out %q", code, out)
	}
	// exec --privileged: every capability, where a plain exec has the
	// container's (docker's default set).
	capEff := func(args ...string) uint64 {
		t.Helper()
		out := d.Berth(append(append([]string{"exec"}, args...), "worker", "sh", "-c", "grep CapEff /proc/self/status")...)
		f := strings.Fields(out)
		if len(f) != 2 {
			t.Fatalf("exec %v: %q", args, out)
		}
		v, err := strconv.ParseUint(f[1], 16, 64)
		if err != nil {
			t.Fatalf("exec %v: %q", args, out)
		}
		return v
	}
	plain, priv := capEff(), capEff("--privileged")
	const sysAdmin = 1 << 21
	if plain&sysAdmin != 0 || priv&sysAdmin == 0 || priv&plain != plain || bits.OnesCount64(priv) < 38 {
		t.Fatalf("CapEff: exec %#x, exec --privileged %#x", plain, priv)
	}
	d.Berth("pause", "worker")
	if out := d.Berth("ps", "--format", "{{.State}}"); out != "paused\n" {
		t.Fatalf("ps after pause: %q", out)
	}
	d.Berth("unpause", "worker")
	start := time.Now()
	d.Berth("stop", "-t", "1", "worker")
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("stop -t 1 took %s", el)
	}
	if out := d.Berth("ps", "-a", "--format", "{{.State}}"); out != "exited\n" {
		t.Fatalf("ps after stop: %q", out)
	}
	if code, _, errOut := d.ExitCode("exec", "worker", "true"); code == 0 || !strings.Contains(errOut, "is not running") {
		t.Fatalf("exec into a stopped container: code %d, stderr %q", code, errOut)
	}
	d.Berth("start", "worker")
	if out := d.Berth("ps", "--format", "{{.State}}"); out != "running\n" {
		t.Fatalf("ps after second start: %q", out)
	}
	if code, _, errOut := d.ExitCode("rm", "worker"); code == 0 || !strings.Contains(errOut, "cannot remove a running container") {
		t.Fatalf("rm of a running container: code %d, stderr %q", code, errOut)
	}
	d.Berth("rm", "-f", "worker")
	if out := d.Berth("ps", "-aq"); out != "" {
		t.Fatalf("ps after rm -f: %q", out)
	}
	d.RequireClean(t)
}

// TestRunPublishedPort: a detached httpd published on loopback answers,
// and rm -f takes its namespace, veth and firewall rules away.
func TestRunPublishedPort(t *testing.T) {
	testutilLookPath(t, "iptables-save")
	d := startDaemon(t)
	d.LoadBusybox()
	port := freePort(t)
	id := strings.TrimSpace(d.Berth("run", "-d", "--name", "web", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "busybox",
		"sh", "-c", "mkdir -p /www && echo hello from berth > /www/index.html && exec httpd -f -p 80 -h /www"))
	var body string
	waitFor(t, 15*time.Second, "the published port to answer", func() bool {
		c := http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	})
	if body != "hello from berth\n" {
		t.Fatalf("body %q", body)
	}
	if out, _ := exec.Command("iptables-save").Output(); !strings.Contains(string(out), id) {
		t.Logf("note: no iptables rule names the container id")
	}
	d.Berth("rm", "-f", "web")
	d.RequireClean(t)
	if out, _ := exec.Command("iptables-save").Output(); strings.Contains(string(out), id) {
		t.Fatalf("iptables rules of %s left:\n%s", id, out)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Fatalf("port %d still answers after rm -f", port)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func testutilLookPath(t *testing.T, tool string) {
	if _, err := exec.LookPath(tool); err != nil {
		t.Fatalf("%s not found: install Debian's iptables", tool)
	}
}
