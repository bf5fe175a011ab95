package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-containers/berth/internal/testimage"
	"github.com/berth-containers/berth/registry"
)

type sample struct {
	Tool    string        `json:"tool"`
	Image   string        `json:"image"`
	Wall    time.Duration `json:"wall_ns"`
	PeakRSS int64         `json:"peak_rss_kb"`
}

func main() {
	work := flag.String("work", "", "work directory (roots, registry storage)")
	n := flag.Int("n", 5, "samples per tool and image")
	berthBin := flag.String("bin", "", "directory with berth and berthd")
	out := flag.String("out", "", "results JSON")
	bigLayers := flag.Int("layers", 20, "layers of the big image")
	bigBytes := flag.Int64("bytes", 500<<20, "bytes of files in the big image")
	flag.Parse()
	if *work == "" || *berthBin == "" {
		fmt.Fprintln(os.Stderr, "usage: pullbench -work DIR -bin DIR [-n N] [-out FILE]")
		os.Exit(2)
	}
	if err := run(*work, *berthBin, *n, *out, *bigLayers, *bigBytes); err != nil {
		fmt.Fprintln(os.Stderr, "pullbench:", err)
		os.Exit(1)
	}
}

func run(work, bin string, n int, out string, bigLayers int, bigBytes int64) error {
	ctx := context.Background()
	host, stopReg, err := startRegistry(work)
	if err != nil {
		return err
	}
	defer stopReg()
	fmt.Printf("registry at %s; generating images (deterministic)\n", host)
	big, err := testimage.Generated(20241, bigLayers, bigBytes, testimage.Options{Compression: testimage.Gzip})
	if err != nil {
		return err
	}
	bigSize := big.Size()
	busy, err := testimage.Busybox(testimage.Options{})
	if err != nil {
		return err
	}
	res := registry.NewResolver(registry.Options{})
	refs := map[string]string{"busybox": host + "/bench/busybox:latest", "big": host + "/bench/big:latest"}
	if err := busy.PushTo(ctx, res, refs["busybox"]); err != nil {
		return err
	}
	if err := big.PushTo(ctx, res, refs["big"]); err != nil {
		return err
	}
	big = nil // let the generator's memory go
	fmt.Printf("pushed busybox and a %d-layer image of %.0f MB (compressed blobs)\n", bigLayers, float64(bigSize)/1e6)

	var samples []sample
	for i := 0; i < n; i++ {
		for _, img := range []string{"busybox", "big"} {
			tools := []string{"berthd", "containerd"}
			if i%2 == 1 {
				tools[0], tools[1] = tools[1], tools[0]
			}
			for _, tool := range tools {
				s, err := measure(work, bin, tool, refs[img])
				if err != nil {
					return fmt.Errorf("%s pull %s: %w", tool, img, err)
				}
				s.Image = img
				fmt.Printf("  %-10s %-8s %8.3fs  peak RSS %6.1f MB\n", tool, img, s.Wall.Seconds(), float64(s.PeakRSS)/1024)
				samples = append(samples, s)
			}
		}
	}
	if out != "" {
		b, _ := json.MarshalIndent(map[string]any{"samples": samples, "big_layers": bigLayers, "big_blob_bytes": bigSize, "n": n}, "", "  ")
		if err := os.WriteFile(out, b, 0o644); err != nil {
			return err
		}
	}
	printTable(samples, bigLayers, bigSize, n, bigBytes)
	return nil
}

func printTable(samples []sample, layers int, size int64, n int, files int64) {
	med := func(tool, img string, f func(sample) float64) float64 {
		var v []float64
		for _, s := range samples {
			if s.Tool == tool && s.Image == img {
				v = append(v, f(s))
			}
		}
		sort.Float64s(v)
		if len(v) == 0 {
			return 0
		}
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	span := func(tool, img string) string {
		lo, hi := 0.0, 0.0
		for _, s := range samples {
			if s.Tool == tool && s.Image == img {
				w := s.Wall.Seconds()
				if lo == 0 || w < lo {
					lo = w
				}
				hi = max(hi, w)
			}
		}
		return fmt.Sprintf("%.3g–%.3g s", lo, hi)
	}
	wall := func(s sample) float64 { return s.Wall.Seconds() }
	rss := func(s sample) float64 { return float64(s.PeakRSS) / 1024 }
	fmt.Println()
	fmt.Println("| image | berthd pull+unpack | containerd (`ctr images pull`) | ratio | berthd range | containerd range | berthd peak RSS | containerd peak RSS | RSS ratio |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for _, img := range []string{"busybox", "big"} {
		name := "busybox (1 layer)"
		if img == "big" {
			name = fmt.Sprintf("generated, %d layers, %.0f MB of files, %.0f MB gzip", layers, float64(files)/1e6, float64(size)/1e6)
		}
		bw, cw := med("berthd", img, wall), med("containerd", img, wall)
		br, cr := med("berthd", img, rss), med("containerd", img, rss)
		fmt.Printf("| %s | %.3f s | %.3f s | %.2f× | %s | %s | %.1f MB | %.1f MB | %.2f× |\n", name, bw, cw, bw/cw, span("berthd", img), span("containerd", img), br, cr, br/cr)
	}
}

// measure starts tool's daemon on a fresh root, times one pull of ref and
// reads the daemon's VmHWM before stopping it.
func measure(work, bin, tool, ref string) (sample, error) {
	dir, err := os.MkdirTemp(work, tool+"-")
	if err != nil {
		return sample{}, err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "sock")
	var d *exec.Cmd
	var pull []string
	switch tool {
	case "berthd":
		os.WriteFile(filepath.Join(dir, "config.toml"), nil, 0o644)
		d = exec.Command(filepath.Join(bin, "berthd"), "--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "state"),
			"--address", sock, "--config", filepath.Join(dir, "config.toml"), "--log-level", "warn")
		pull = []string{filepath.Join(bin, "berth"), "--address", sock, "pull", "-q", ref}
	case "containerd":
		cfg := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = %q\n[debug]\n  level = \"warn\"\n",
			filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock)
		os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644)
		d = exec.Command("containerd", "--config", filepath.Join(dir, "config.toml"))
		pull = []string{"ctr", "-a", sock, "-n", "bench", "images", "pull", "--plain-http", ref}
	}
	logf, _ := os.Create(filepath.Join(work, tool+".log"))
	defer logf.Close()
	d.Stdout, d.Stderr = logf, logf
	d.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.Start(); err != nil {
		return sample{}, err
	}
	defer func() {
		d.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { d.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			d.Process.Kill()
			<-done
		}
		// Unmount what a daemon may have left mounted under its root.
		exec.Command("sh", "-c", "grep -o ' "+dir+"[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l").Run()
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return sample{}, fmt.Errorf("%s did not listen on %s", tool, sock)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Start from a clean page cache: dirty data a previous sample left
	// (the other daemon's unpacked files) would otherwise be written back
	// during this one and charged to it.
	syscall.Sync()
	start := time.Now()
	cmd := exec.Command(pull[0], pull[1:]...)
	o, err := cmd.CombinedOutput()
	wall := time.Since(start)
	if err != nil {
		return sample{}, fmt.Errorf("%v: %v\n%s", pull, err, o)
	}
	return sample{Tool: tool, Wall: wall, PeakRSS: vmHWM(d.Process.Pid)}, nil
}

func vmHWM(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			k, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return k
		}
	}
	return 0
}

// startRegistry runs Debian's docker-registry on a free loopback port.
func startRegistry(work string) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	host := l.Addr().String()
	l.Close()
	dir := filepath.Join(work, "registry")
	os.MkdirAll(filepath.Join(dir, "storage"), 0o755)
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "storage"), host)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644); err != nil {
		return "", nil, err
	}
	logf, _ := os.Create(filepath.Join(dir, "registry.log"))
	cmd := exec.Command("docker-registry", "serve", filepath.Join(dir, "config.yml"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		logf.Close()
	}
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", host); err == nil {
			c.Close()
			return host, stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("docker-registry did not start on %s", host)
}
