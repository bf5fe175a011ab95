package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type runtimeFlag []string

func (r *runtimeFlag) String() string     { return strings.Join(*r, ",") }
func (r *runtimeFlag) Set(v string) error { *r = append(*r, v); return nil }

// Runtime is one runtime under test.
type Runtime struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	Version string `json:"version"`
	root    string
}

// Result holds every sample of one runtime, in milliseconds and KiB.
type Result struct {
	Runtime    Runtime   `json:"runtime"`
	RunTrue    []float64 `json:"run_true_ms"`
	Lifecycle  []float64 `json:"create_start_wait_delete_ms"`
	Sequential []float64 `json:"sequential_total_ms"`
	Parallel   []float64 `json:"parallel_total_ms"`
	RSSRun     []int64   `json:"rss_run_kib"`
	RSSCreate  []int64   `json:"rss_create_kib"`
	RSSAll     []int64   `json:"rss_all_kib"`
	Error      string    `json:"error,omitempty"`
}

func main() {
	var rts runtimeFlag
	flag.Var(&rts, "runtime", "NAME=PATH of a runtime to measure (repeat)")
	bundle := flag.String("bundle", "", "OCI bundle directory (config.json runs /bin/true)")
	work := flag.String("work", "", "scratch directory for the runtimes' --root")
	n := flag.Int("n", 30, "samples of run-true and of create+start+wait+delete")
	seq := flag.Int("seq", 100, "runs in the sequential batch")
	seqRounds := flag.Int("seq-rounds", 3, "sequential batches per runtime")
	par := flag.Int("par", 10, "runs in the parallel batch")
	parRounds := flag.Int("par-rounds", 5, "parallel batches per runtime")
	out := flag.String("out", "", "write all samples as JSON here")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *bundle == "" || *work == "" || len(rts) == 0 {
		fmt.Fprintln(os.Stderr, "usage: runtimebench -bundle DIR -work DIR -runtime NAME=PATH...")
		os.Exit(2)
	}
	// The containers of `create` are orphaned when the runtime exits; as a subreaper
	// this process inherits and waits for them instead of PID 1.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fatal(log, "prctl(PR_SET_CHILD_SUBREAPER)", err)
	}
	var results []*Result
	for _, r := range rts {
		name, path, ok := strings.Cut(r, "=")
		if !ok {
			fatal(log, "-runtime "+r, errors.New("want NAME=PATH"))
		}
		rt := Runtime{Name: name, Path: path, root: filepath.Join(*work, "state-"+name)}
		if err := os.MkdirAll(rt.root, 0o700); err != nil {
			fatal(log, "state dir", err)
		}
		if b, err := exec.Command(path, "--version").Output(); err == nil {
			rt.Version = strings.SplitN(strings.TrimSpace(string(b)), "\n", 2)[0]
		}
		res := &Result{Runtime: rt}
		// Smoke test: a runtime that cannot run the bundle is reported, not timed.
		if _, _, err := runTrue(rt, *bundle, "smoke"); err != nil {
			res.Error = err.Error()
			log.Error("runtime cannot run the bundle; left out", "runtime", name, "err", err)
		}
		results = append(results, res)
	}
	live := func() []*Result {
		var l []*Result
		for _, r := range results {
			if r.Error == "" {
				l = append(l, r)
			}
		}
		rand.Shuffle(len(l), func(i, j int) { l[i], l[j] = l[j], l[i] })
		return l
	}
	// Warm the page cache and the runtimes' binaries.
	for i := 0; i < 3; i++ {
		for _, r := range live() {
			runTrue(r.Runtime, *bundle, "warm")
		}
	}
	log.Info("run-true and create+start+wait+delete", "samples", *n)
	for i := 0; i < *n; i++ {
		for _, r := range live() {
			ms, rss, err := runTrue(r.Runtime, *bundle, fmt.Sprintf("rt%d", i))
			if err != nil {
				r.Error = "run: " + err.Error()
				continue
			}
			r.RunTrue = append(r.RunTrue, ms)
			r.RSSRun = append(r.RSSRun, rss)
			r.RSSAll = append(r.RSSAll, rss)
			ms, rssC, rssAll, err := lifecycle(r.Runtime, *bundle, fmt.Sprintf("lc%d", i))
			if err != nil {
				r.Error = "lifecycle: " + err.Error()
				continue
			}
			r.Lifecycle = append(r.Lifecycle, ms)
			r.RSSCreate = append(r.RSSCreate, rssC)
			r.RSSAll = append(r.RSSAll, rssAll...)
		}
	}
	log.Info("sequential batches", "runs", *seq, "rounds", *seqRounds)
	for i := 0; i < *seqRounds; i++ {
		for _, r := range live() {
			t0 := time.Now()
			for j := 0; j < *seq; j++ {
				if _, _, err := runTrue(r.Runtime, *bundle, fmt.Sprintf("sq%d-%d", i, j)); err != nil {
					r.Error = "sequential: " + err.Error()
					break
				}
			}
			r.Sequential = append(r.Sequential, ms(time.Since(t0)))
		}
	}
	log.Info("parallel batches", "runs", *par, "rounds", *parRounds)
	for i := 0; i < *parRounds; i++ {
		for _, r := range live() {
			t0 := time.Now()
			var wg sync.WaitGroup
			errs := make(chan error, *par)
			for j := 0; j < *par; j++ {
				wg.Add(1)
				go func(j int) {
					defer wg.Done()
					if _, _, err := runTrue(r.Runtime, *bundle, fmt.Sprintf("pa%d-%d", i, j)); err != nil {
						errs <- err
					}
				}(j)
			}
			wg.Wait()
			close(errs)
			if err := <-errs; err != nil {
				r.Error = "parallel: " + err.Error()
			}
			r.Parallel = append(r.Parallel, ms(time.Since(t0)))
		}
	}
	reapAll()
	for _, r := range results {
		os.RemoveAll(r.Runtime.root)
	}
	if *out != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			fatal(log, "write "+*out, err)
		}
	}
	printTable(results)
}

func fatal(log *slog.Logger, what string, err error) {
	log.Error(what, "err", err)
	os.Exit(1)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// invoke runs the runtime once and returns its wall time and peak RSS (KiB).
func invoke(rt Runtime, args ...string) (time.Duration, int64, error) {
	cmd := exec.Command(rt.Path, append([]string{"--root", rt.root}, args...)...)
	// stderr goes to a file, never a pipe: a created container inherits the runtime's
	// stdio and would hold a pipe open until it exits.
	errFile, ferr := os.CreateTemp(rt.root, "stderr-")
	if ferr != nil {
		return 0, 0, ferr
	}
	defer os.Remove(errFile.Name())
	defer errFile.Close()
	cmd.Stderr = errFile
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	stderr, _ := os.ReadFile(errFile.Name())
	var rss int64
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = ru.Maxrss
		}
	}
	if err != nil {
		return d, rss, fmt.Errorf("%s %s: %v: %s", rt.Name, strings.Join(args, " "), err, strings.TrimSpace(string(stderr)))
	}
	return d, rss, nil
}

func containerID(rt Runtime, suffix string) string {
	return fmt.Sprintf("bench-%s-%d-%s", rt.Name, os.Getpid(), suffix)
}

func runTrue(rt Runtime, bundle, suffix string) (float64, int64, error) {
	id := containerID(rt, suffix)
	d, rss, err := invoke(rt, "run", "--bundle", bundle, id)
	if err != nil {
		invoke(rt, "delete", "--force", id)
	}
	return ms(d), rss, err
}

// lifecycle times create, start, the container's exit and delete; it returns the
// total, the RSS of create, and the RSS of every invocation.
func lifecycle(rt Runtime, bundle, suffix string) (float64, int64, []int64, error) {
	id := containerID(rt, suffix)
	pidFile := filepath.Join(rt.root, id+".pid")
	defer os.Remove(pidFile)
	t0 := time.Now()
	_, rssC, err := invoke(rt, "create", "--bundle", bundle, "--pid-file", pidFile, id)
	if err != nil {
		invoke(rt, "delete", "--force", id)
		return 0, 0, nil, err
	}
	b, err := os.ReadFile(pidFile)
	pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || perr != nil {
		invoke(rt, "delete", "--force", id)
		return 0, 0, nil, fmt.Errorf("%s create: pid file %s: %v %v", rt.Name, pidFile, err, perr)
	}
	_, rssS, err := invoke(rt, "start", id)
	if err != nil {
		invoke(rt, "delete", "--force", id)
		return 0, 0, nil, err
	}
	// The container's init was orphaned by create and is now this process's child.
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil && !errors.Is(err, unix.ECHILD) {
		return 0, 0, nil, fmt.Errorf("wait for container pid %d: %w", pid, err)
	} else if errors.Is(err, unix.ECHILD) {
		// Not our child (the runtime kept a parent of its own): poll until it is gone.
		for unix.Kill(pid, 0) == nil {
			time.Sleep(time.Millisecond)
		}
	}
	_, rssD, err := invoke(rt, "delete", id)
	if err != nil {
		return 0, 0, nil, err
	}
	return ms(time.Since(t0)), rssC, []int64{rssC, rssS, rssD}, nil
}

func reapAll() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianInt(xs []int64) float64 {
	f := make([]float64, len(xs))
	for i, x := range xs {
		f[i] = float64(x)
	}
	return median(f)
}

func maxInt(xs []int64) int64 {
	var m int64
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// printTable prints a markdown table of medians and ratios against runc.
func printTable(results []*Result) {
	var base *Result
	for _, r := range results {
		if r.Runtime.Name == "runc" && r.Error == "" {
			base = r
		}
	}
	ratio := func(v, b float64) string {
		if b == 0 || v == 0 {
			return ""
		}
		return fmt.Sprintf(" (%.2f×)", v/b)
	}
	fmt.Println("| runtime | run /bin/true | create+start+wait+delete | 100 sequential | 10 parallel | peak RSS, run | peak RSS, create | peak RSS, max |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		if len(r.RunTrue) == 0 {
			fmt.Printf("| %s | failed: %s |||||||\n", r.Runtime.Name, strings.ReplaceAll(r.Error, "|", "/"))
			continue
		}
		var b Result
		if base != nil {
			b = *base
		}
		fmt.Printf("| %s | %.1f ms%s | %.1f ms%s | %.0f ms%s | %.0f ms%s | %.1f MiB%s | %.1f MiB%s | %.1f MiB%s |\n",
			r.Runtime.Name,
			median(r.RunTrue), ratio(median(r.RunTrue), median(b.RunTrue)),
			median(r.Lifecycle), ratio(median(r.Lifecycle), median(b.Lifecycle)),
			median(r.Sequential), ratio(median(r.Sequential), median(b.Sequential)),
			median(r.Parallel), ratio(median(r.Parallel), median(b.Parallel)),
			medianInt(r.RSSRun)/1024, ratio(medianInt(r.RSSRun), medianInt(b.RSSRun)),
			medianInt(r.RSSCreate)/1024, ratio(medianInt(r.RSSCreate), medianInt(b.RSSCreate)),
			float64(maxInt(r.RSSAll))/1024, ratio(float64(maxInt(r.RSSAll)), float64(maxInt(b.RSSAll))),
		)
	}
	// The bar for berth-runtime: wall time at most 0.6× runc's, RSS at most runc's.
	for _, r := range results {
		if r.Runtime.Name != "berth-runtime" || base == nil || len(r.RunTrue) == 0 {
			continue
		}
		verdict := func(v, b, bar float64) string {
			if b == 0 {
				return "n/a"
			}
			q := v / b
			if q <= bar {
				return fmt.Sprintf("%.2f× (bar ≤ %.1f×: met)", q, bar)
			}
			return fmt.Sprintf("%.2f× (bar ≤ %.1f×: **not met**)", q, bar)
		}
		fmt.Printf("\nberth-runtime against the bar: run /bin/true %s; create+start+wait+delete %s; "+
			"100 sequential %s; 10 parallel %s; peak RSS (largest) %s.\n",
			verdict(median(r.RunTrue), median(base.RunTrue), 0.6),
			verdict(median(r.Lifecycle), median(base.Lifecycle), 0.6),
			verdict(median(r.Sequential), median(base.Sequential), 0.6),
			verdict(median(r.Parallel), median(base.Parallel), 0.6),
			verdict(float64(maxInt(r.RSSAll)), float64(maxInt(base.RSSAll)), 1.0))
	}
	for _, r := range results {
		if r.Error != "" && len(r.RunTrue) > 0 {
			fmt.Printf("\n%s: error during the run: %s\n", r.Runtime.Name, r.Error)
		}
	}
}
