package container

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/berth-containers/berth/runtime/cgroups"
)

// Prewarm starts, once per process and in the background, what makes the
// coming cgroup join cheap (see warmCgroupAttach). Commands that will create
// or join a container call it as early as they can.
func (r *Runtime) Prewarm() {
	if r.Rootless {
		return
	}
	prewarmOnce.Do(func() { go warmCgroupAttach(r.CgroupRoot) })
}

// PrewarmCreate is Prewarm for create and run, which call it before their
// configuration is read: only on a cgroup2-only host. Elsewhere a new init
// joins its cgroups itself without the lock (see cgroups.SelfJoiner), and a
// prewarm still waiting for its grace period would only hold the cgroup
// mutex that join needs; Create prewarms itself when it cannot self-join.
func (r *Runtime) PrewarmCreate() {
	if r.Rootless || cgroups.Mode(r.CgroupRoot) != cgroups.ModeV2 {
		return
	}
	r.Prewarm()
}

var prewarmOnce sync.Once

// warmCgroupAttach rewrites the calling process's pid into the cgroup it is
// already in. That moves nothing, but it takes the kernel's cgroup
// threadgroup lock for writing, which waits for an RCU grace period when no
// migration happened recently. Done in the background while create does other
// work, it makes the real migration of the container's init (moments later)
// skip that wait, which is most of a cgroup join's cost on a busy host.
func warmCgroupAttach(root string) {
	if root == "" {
		root = "/sys/fs/cgroup"
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "ID:controllers:path"; prefer a v1 pids or memory hierarchy, else v2.
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var dir string
		switch {
		case parts[1] == "pids" || parts[1] == "memory":
			dir = root + "/" + parts[1] + parts[2]
		case parts[0] == "0" && parts[1] == "":
			if _, err := os.Stat(root + "/cgroup.controllers"); err == nil {
				dir = root + parts[2]
			}
		}
		if dir == "" || strings.Contains(dir, "..") {
			continue
		}
		w, err := os.OpenFile(dir+"/cgroup.procs", os.O_WRONLY, 0)
		if err != nil {
			continue
		}
		_, _ = w.WriteString(strconv.Itoa(os.Getpid()))
		w.Close()
		return
	}
}
