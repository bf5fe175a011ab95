package reliability

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// leaksOf lists what is left on the host of the containers ids: cgroup
// directories in any v1 hierarchy or the unified one, processes in their
// cgroups, processes other than berthd that name the daemon's directory
// (shims), and iptables rules naming an id.
func leaksOf(d *daemon, ids []string) []string {
	var out []string
	for _, id := range ids {
		for _, pat := range []string{"/sys/fs/cgroup/*/berth/" + id, "/sys/fs/cgroup/*/*/berth/" + id, "/sys/fs/cgroup/berth/" + id} {
			m, _ := filepath.Glob(pat)
			for _, p := range m {
				out = append(out, "cgroup "+p)
			}
		}
	}
	berthd := d.Pid()
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		pid, _ := strconv.Atoi(filepath.Base(p))
		if pid == berthd || pid == os.Getpid() {
			continue
		}
		cmdline, _ := os.ReadFile(p + "/cmdline")
		args := strings.ReplaceAll(string(cmdline), "\x00", " ")
		if strings.Contains(args, d.Dir+"/") && filepath.Base(strings.Fields(args + " x")[0]) != "berth" {
			out = append(out, "process "+strconv.Itoa(pid)+": "+args)
			continue
		}
		cg, _ := os.ReadFile(p + "/cgroup")
		for _, id := range ids {
			if strings.Contains(string(cg), "/berth/"+id) {
				out = append(out, "process "+strconv.Itoa(pid)+" in cgroup of "+id+": "+args)
			}
		}
	}
	if save, err := exec.Command("iptables-save").Output(); err == nil {
		for _, line := range strings.Split(string(save), "\n") {
			for _, id := range ids {
				if strings.Contains(line, id) || strings.Contains(line, id[:12]) {
					out = append(out, "iptables "+line)
				}
			}
		}
	}
	return out
}

// requireNoLeaks waits up to 15s for the daemon's state and the host to hold
// nothing of ids.
func requireNoLeaks(d *daemon, t *testing.T, ids ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		left := append(d.Leftovers(), leaksOf(d, ids)...)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind:\n%s", strings.Join(left, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// snapshots lists the snapshot directories under the daemon's root.
func snapshots(d *daemon) []string {
	m, _ := filepath.Glob(filepath.Join(d.Root, "snapshots", "*", "snapshots", "*"))
	return m
}

// shimPid returns the pid of the berth-shim of container id, or 0.
func shimPid(d *daemon, id string) int {
	want := filepath.Join(d.State, "shims") + "/"
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cmdline, _ := os.ReadFile(p + "/cmdline")
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 2 && filepath.Base(args[0]) == "berth-shim" && args[1] == "-state-dir" && strings.HasPrefix(args[2], want) && filepath.Base(args[2]) == id {
			pid, _ := strconv.Atoi(filepath.Base(p))
			return pid
		}
	}
	return 0
}

// parallel runs f(i) for i in [0,n) with at most width at once.
func parallel(n, width int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, width)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i)
		}()
	}
	wg.Wait()
}

// vmRSS returns a process's resident set in kB (0 if gone).
func vmRSS(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) > 1 {
				n, _ := strconv.Atoi(f[1])
				return n
			}
		}
	}
	return 0
}

// shimPids lists the pids of every berth-shim of this daemon.
func shimPids(d *daemon) []int {
	want := filepath.Join(d.State, "shims") + "/"
	var out []int
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cmdline, _ := os.ReadFile(p + "/cmdline")
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 2 && filepath.Base(args[0]) == "berth-shim" && strings.HasPrefix(args[2], want) {
			pid, _ := strconv.Atoi(filepath.Base(p))
			out = append(out, pid)
		}
	}
	return out
}
