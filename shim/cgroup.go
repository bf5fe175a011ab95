package shim

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/runtime/cgroups"
)

// cgroupOf opens the cgroup manager of the container from its init's
// /proc/<pid>/cgroup and the host's cgroup mounts. It creates nothing.
func cgroupOf(pid int) (cgroups.Manager, error) {
	pcs, err := cgroups.ProcessCgroups(pid)
	if err != nil {
		return nil, err
	}
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	root := cgroups.DefaultRoot
	mode := cgroups.Mode(root)
	saved := cgroups.Saved{Mode: mode, Root: root, Paths: map[string]string{}}
	if mode == cgroups.ModeV2 {
		saved.Path = pcs[cgroups.Unified]
	} else {
		saved.Path = pcs["memory"]
		if saved.Path == "" {
			saved.Path = pcs["pids"]
		}
	}
	if saved.Path == "" || saved.Path == "/" {
		return nil, fmt.Errorf("pid %d: no container cgroup found in /proc/%d/cgroup", pid, pid)
	}
	for ctrl, p := range pcs {
		if p != saved.Path {
			continue
		}
		mnt := mounts[ctrl]
		if mnt == "" || !strings.HasPrefix(mnt, root+"/") && mnt != root {
			continue
		}
		saved.Paths[ctrl] = filepath.Join(mnt, p)
	}
	return cgroups.Load(saved)
}

// cgroupMounts maps each v1 controller (and "unified") to its mount point.
func cgroupMounts() (map[string]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || len(fields) < sep+2 {
			continue
		}
		mnt, fstype := fields[4], fields[sep+1]
		switch fstype {
		case "cgroup2":
			out[cgroups.Unified] = mnt
		case "cgroup":
			if len(fields) < sep+4 {
				continue
			}
			for _, o := range strings.Split(fields[sep+3], ",") {
				switch o {
				case "rw", "ro", "nosuid", "nodev", "noexec", "relatime":
					continue
				}
				if _, ok := out[o]; !ok {
					out[o] = mnt
				}
			}
		}
	}
	return out, sc.Err()
}

func (s *Shim) cgroup() (cgroups.Manager, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cg != nil {
		return s.cg, nil
	}
	if s.init == nil || s.deleted {
		return nil, fmt.Errorf("container %s: not created: %w", s.cfg.ID, errdefs.ErrNotFound)
	}
	cg, err := cgroupOf(s.init.pid)
	if err != nil {
		return nil, fmt.Errorf("container %s: cgroup: %w", s.cfg.ID, err)
	}
	s.cg = cg
	return cg, nil
}

func (s *Shim) stats() (*Stats, error) {
	p, err := s.process("")
	if err != nil {
		return nil, err
	}
	if p.state().Status == StatusStopped {
		return nil, fmt.Errorf("stats of container %s: not running: %w", s.cfg.ID, errdefs.ErrFailedPrecondition)
	}
	cg, err := s.cgroup()
	if err != nil {
		return nil, err
	}
	st, err := cg.Stats()
	if err != nil {
		return nil, fmt.Errorf("stats of container %s: %w", s.cfg.ID, err)
	}
	return st, nil
}

// watchOOM publishes the container's OOM events as the kernel raises them
// (cgroups.WatchOOM: an eventfd on cgroup v1, inotify on cgroup v2).
func (s *Shim) watchOOM(pid int) {
	cg, err := s.cgroup()
	if err != nil {
		s.log.Debug("oom watch: no cgroup", "err", err)
		return
	}
	w, err := cgroups.WatchOOM(cg)
	if err != nil {
		s.log.Debug("oom watch", "err", err)
		return
	}
	go func() {
		defer w.Close()
		for range w.C {
			s.mu.Lock()
			s.oomSeen = true
			s.mu.Unlock()
			s.publish(Event{Kind: EventOOM, ID: s.cfg.ID, Pid: pid, Time: time.Now().UTC()})
		}
	}()
}
