package network

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/network"
)

// TestRealContainerPublishedPort: a real container (Debian's runc, a busybox
// bundle) joins a namespace attached to the default bridge with
// "-p 127.0.0.1:H:80" and serves HTTP with busybox httpd; the host fetches it
// through the published port, as `make demo` does.
func TestRealContainerPublishedPort(t *testing.T) {
	e := newEnv(t)
	runc := testutil.LookPath(t, "runc", "runc")
	ctx := context.Background()
	id := "h" + randHex(8)
	ns := e.newNS(id)
	hp := freePort(t)
	ports, err := network.ParsePortSpec(fmt.Sprintf("127.0.0.1:%d:80", hp))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.mgr.Attach(ctx, id, ns, []string{network.DefaultNetworkName}, network.AttachOpts{PortMappings: ports}); err != nil {
		t.Fatal(err)
	}
	bundle := testutil.Bundle(t, func(s *specs.Spec) {
		for i, n := range s.Linux.Namespaces {
			if n.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = ns
			}
		}
		s.Linux.CgroupsPath = ""
	}, "httpd", "-f", "-p", "80", "-h", "/www")
	www := filepath.Join(bundle, "rootfs", "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("hello from berth\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	cmd := exec.Command(runc, "--root", root, "run", "--bundle", bundle, id)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		exec.Command(runc, "--root", root, "kill", id, "KILL").Run()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		exec.Command(runc, "--root", root, "delete", "-f", id).Run()
	})

	url := fmt.Sprintf("http://127.0.0.1:%d/index.html", hp)
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "hello from berth\n" {
				t.Fatalf("GET %s: %d %q", url, resp.StatusCode, b)
			}
			break
		}
		select {
		case werr := <-done:
			t.Fatalf("container exited before serving: %v\n%s", werr, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v\nrunc: %s", url, err, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
