package shime2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	rspecs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/shim"
	"github.com/berth-containers/berth/shim/client"
	"github.com/berth-containers/berth/shim/logs"
)

// TestHelperDaemon is not a test: it is the "daemon" TestDaemonKilled
// starts in a subprocess. It starts one shim per bundle named in
// BERTH_SHIM_HELPER_BUNDLES, creates and starts the containers, prints
// "ready", then waits to be killed.
func TestHelperDaemon(t *testing.T) {
	bundles := os.Getenv("BERTH_SHIM_HELPER_BUNDLES")
	if bundles == "" {
		return
	}
	root := os.Getenv("BERTH_SHIM_HELPER_STATE")
	rt := os.Getenv("BERTH_SHIM_HELPER_RUNTIME")
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	for _, line := range strings.Split(bundles, ",") {
		id, bundle, _ := strings.Cut(line, "=")
		wg.Add(1)
		go func() {
			defer wg.Done()
			fail := func(err error) {
				mu.Lock()
				failed = append(failed, id+": "+err.Error())
				mu.Unlock()
			}
			c, err := client.Start(ctx, client.StartOpts{ID: id, Bundle: bundle, StateDir: filepath.Join(root, id),
				Runtime: rt, RuntimeRoot: filepath.Join(root, "rt"), ShimBinary: os.Getenv("BERTH_SHIM_HELPER_SHIM")})
			if err != nil {
				fail(err)
				return
			}
			if _, err := c.Create(ctx, shim.CreateOpts{LogPath: filepath.Join(root, id+".log")}); err != nil {
				fail(err)
				return
			}
			if _, err := c.Start(ctx, ""); err != nil {
				fail(err)
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		fmt.Println("failed:", strings.Join(failed, "; "))
	} else {
		fmt.Println("ready")
	}
	time.Sleep(time.Hour)
}

// The daemon is SIGKILLed while 20 containers run: their shims live on,
// are found again with List and Connect, the containers still run and log,
// and stop and delete work.
func TestDaemonKilled(t *testing.T) {
	testutil.Integration(t)
	const n = 20
	root := t.TempDir()
	stateRoot := filepath.Join(root, "state")
	rt := testutil.Binary(t, "berth-runtime")
	var specs []string
	cts := map[string]*container{}
	for i := 0; i < n; i++ {
		id := newID(t)
		bundle := testutil.Bundle(t, func(s *rspecs.Spec) { s.Linux.CgroupsPath = cgroupParent + "/" + id }, "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done")
		specs = append(specs, id+"="+bundle)
		ct := &container{t: t, id: id, bundle: bundle, stateDir: filepath.Join(stateRoot, id), runtime: rt,
			runtimeRoot: filepath.Join(stateRoot, "rt"), cgroupPath: cgroupParent + "/" + id}
		cts[id] = ct
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperDaemon$", "-test.v")
	cmd.Env = append(os.Environ(), "BERTH_SHIM_HELPER_BUNDLES="+strings.Join(specs, ","), "BERTH_SHIM_HELPER_STATE="+stateRoot,
		"BERTH_SHIM_HELPER_RUNTIME="+rt, "BERTH_SHIM_HELPER_SHIM="+testutil.Binary(t, "berth-shim"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	helperDone := make(chan struct{})
	go func() { cmd.Wait(); close(helperDone) }()
	// Whatever happens, every container is cleaned up (Recover if needed).
	for _, ct := range cts {
		ct := ct
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if c, err := client.Connect(ctx, ct.stateDir); err == nil {
				ct.c = c
			} else {
				ct.c = &client.Client{}
			}
			ct.cleanup()
		})
	}
	t.Cleanup(func() { cmd.Process.Kill(); <-helperDone })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l := sc.Text(); l == "ready" || strings.HasPrefix(l, "failed:") {
				ready <- l
				return
			}
		}
		ready <- "helper exited"
	}()
	select {
	case l := <-ready:
		if l != "ready" {
			t.Fatalf("helper daemon: %s", l)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("helper daemon not ready in 90s")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-helperDone
	killedAt := time.Now()
	time.Sleep(200 * time.Millisecond)

	dirs, err := client.List(stateRoot)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != n {
		t.Fatalf("List found %d shims, want %d", len(dirs), n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, d := range dirs {
		ct := cts[filepath.Base(d)]
		if ct == nil {
			t.Fatalf("List returned unknown %s", d)
		}
		c, err := client.Connect(ctx, d)
		if err != nil {
			t.Fatalf("reconnect %s: %v", d, err)
		}
		ct.c = c
		st, err := c.State(ctx, "")
		if err != nil || st.Status != shim.StatusRunning {
			t.Fatalf("%s after daemon kill: %+v %v", ct.id, st, err)
		}
		// Its log goes on after the daemon died.
		logPath := filepath.Join(stateRoot, ct.id+".log")
		if !waitFor(10*time.Second, func() bool {
			var last time.Time
			for e, err := range logs.Read(ctx, logPath, logs.ReadOpts{Tail: 1}) {
				if err == nil {
					last = e.Time
				}
			}
			return last.After(killedAt)
		}) {
			t.Fatalf("%s: no log entry after the daemon was killed", ct.id)
		}
	}
	for _, ct := range cts {
		if err := ct.c.Kill(ctx, "", syscall.SIGKILL, false); err != nil {
			t.Fatalf("%s: kill: %v", ct.id, err)
		}
		if e, err := ct.c.Wait(ctx, ""); err != nil || e.Signal != int(syscall.SIGKILL) {
			t.Fatalf("%s: wait: %+v %v", ct.id, e, err)
		}
		if _, err := ct.c.Delete(ctx, ""); err != nil {
			t.Fatalf("%s: delete: %v", ct.id, err)
		}
		ct.checkGone()
	}
}
