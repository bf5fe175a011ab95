package shime2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/shim"
	"github.com/berth-containers/berth/shim/client"
)

// procKiB reads a "Key:  N kB" line of a /proc file, in KiB.
func procKiB(path, key string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, key)
}

// vmRSS is a process's resident memory in KiB.
func vmRSS(pid int) (int, error) { return procKiB(fmt.Sprintf("/proc/%d/status", pid), "VmRSS") }

// maxShimRSSKiB is the bar: half of containerd-shim-runc-v2's 13.4 MB.
const maxShimRSSKiB = 6700

// Fifty shims at once (BERTH_SHIM_SCALE=N for more), each with a running
// container; reports the average resident memory of one shim.
func TestManyShims(t *testing.T) {
	n := 50
	if v, err := strconv.Atoi(os.Getenv("BERTH_SHIM_SCALE")); err == nil && v > 0 {
		n = v
	}
	cts := make([]*container, n)
	for i := range cts {
		cts[i] = startShim(t, cOpts{args: []string{"sleep", "1000"}})
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, ct := range cts {
		wg.Add(1)
		go func(ct *container) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if _, err := ct.c.Create(ctx, shim.CreateOpts{LogPath: ct.stateDir + ".log"}); err != nil {
				errs <- fmt.Errorf("%s: create: %w", ct.id, err)
				return
			}
			if _, err := ct.c.Start(ctx, ""); err != nil {
				errs <- fmt.Errorf("%s: start: %w", ct.id, err)
			}
		}(ct)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	total, max, pss, anon := 0, 0, 0, 0
	for _, ct := range cts {
		st := mustState(t, ct, "", shim.StatusRunning)
		rss, err := vmRSS(st.ShimPid)
		if err != nil {
			t.Fatal(err)
		}
		p, err := procKiB(fmt.Sprintf("/proc/%d/smaps_rollup", st.ShimPid), "Pss")
		if err != nil {
			t.Fatal(err)
		}
		a, err := procKiB(fmt.Sprintf("/proc/%d/status", st.ShimPid), "RssAnon")
		if err != nil {
			t.Fatal(err)
		}
		pss += p
		anon += a
		total += rss
		if rss > max {
			max = rss
		}
	}
	avg := total / n
	t.Logf("berth-shim with a running container, over %d shims: VmRSS average %d KiB (max %d), of which anonymous %d KiB; PSS (binary pages shared) average %d KiB", n, avg, max, anon/n, pss/n)
	if avg > maxShimRSSKiB {
		t.Errorf("average shim RSS %d KiB over the %d KiB bar", avg, maxShimRSSKiB)
	}
	for _, ct := range cts {
		wg.Add(1)
		go func(ct *container) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := ct.c.Kill(ctx, "", syscall.SIGKILL, false); err != nil {
				t.Errorf("%s: kill: %v", ct.id, err)
				return
			}
			if _, err := ct.c.Wait(ctx, ""); err != nil {
				t.Errorf("%s: wait: %v", ct.id, err)
				return
			}
			if _, err := ct.c.Delete(ctx, ""); err != nil {
				t.Errorf("%s: delete: %v", ct.id, err)
			}
		}(ct)
	}
	wg.Wait()
}

// The path `run --rm true` takes through the shim: start, create, start,
// wait, delete (the bundle is made beforehand). Reports its median time.
func TestRunPathLatency(t *testing.T) {
	testutil.Integration(t)
	bundle := testutil.Bundle(t, nil, "true")
	root := t.TempDir()
	var times []time.Duration
	for i := 0; i < 7; i++ {
		id := newID(t)
		ct := &container{t: t, id: id, bundle: bundle, stateDir: filepath.Join(root, id),
			runtime: testutil.Binary(t, "berth-runtime"), runtimeRoot: filepath.Join(root, "rt"), cgroupPath: "/berth/" + id}
		ctx := ct.ctx()
		t0 := time.Now()
		c, err := client.Start(ctx, client.StartOpts{ID: id, Bundle: bundle, StateDir: ct.stateDir,
			Runtime: ct.runtime, RuntimeRoot: ct.runtimeRoot, ShimBinary: testutil.Binary(t, "berth-shim")})
		if err != nil {
			t.Fatal(err)
		}
		ct.c = c
		t.Cleanup(ct.cleanup)
		if _, err := c.Create(ctx, shim.CreateOpts{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Start(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if e, err := c.Wait(ctx, ""); err != nil || e.Code != 0 {
			t.Fatalf("wait: %+v %v", e, err)
		}
		if _, err := c.Delete(ctx, ""); err != nil {
			t.Fatal(err)
		}
		times = append(times, time.Since(t0))
	}
	sortDurations(times)
	t.Logf("shim start+create+start+wait+delete of `true` (berth-runtime): median %v, min %v", times[len(times)/2], times[0])
}

func sortDurations(d []time.Duration) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j] < d[j-1]; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}
