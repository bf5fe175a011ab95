package shime2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-containers/berth/shim"
)

// vmRSS is a process's resident memory in KiB.
func vmRSS(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("pid %d: no VmRSS", pid)
}

// maxShimRSSKiB is the bar: half of containerd-shim-runc-v2's 13.4 MB.
const maxShimRSSKiB = 6700

// Fifty shims at once, each with a running container; reports the average
// resident memory of one shim.
func TestManyShims(t *testing.T) {
	const n = 50
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
	total, max := 0, 0
	for _, ct := range cts {
		st := mustState(t, ct, "", shim.StatusRunning)
		rss, err := vmRSS(st.ShimPid)
		if err != nil {
			t.Fatal(err)
		}
		total += rss
		if rss > max {
			max = rss
		}
	}
	avg := total / n
	t.Logf("berth-shim VmRSS with a running container: average %d KiB, max %d KiB over %d shims", avg, max, n)
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
// wait, delete. Reports its median time.
func TestRunPathLatency(t *testing.T) {
	var times []time.Duration
	for i := 0; i < 7; i++ {
		t0 := time.Now()
		ct := startShim(t, cOpts{args: []string{"true"}})
		ctx := ct.ctx()
		if _, err := ct.c.Create(ctx, shim.CreateOpts{}); err != nil {
			t.Fatal(err)
		}
		if _, err := ct.c.Start(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if e, err := ct.c.Wait(ctx, ""); err != nil || e.Code != 0 {
			t.Fatalf("wait: %+v %v", e, err)
		}
		if _, err := ct.c.Delete(ctx, ""); err != nil {
			t.Fatal(err)
		}
		times = append(times, time.Since(t0))
	}
	sortDurations(times)
	t.Logf("shim start+create+start+wait+delete of `true` (berth-runtime, bundle made beforehand): median %v, min %v", times[len(times)/2], times[0])
}

func sortDurations(d []time.Duration) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j] < d[j-1]; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}
