package container

import (
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/runtime/cgroups"
	"github.com/berth-containers/berth/runtime/state"
)

// Event is one line of `events` output, shaped like runc's.
type Event struct {
	Type string         `json:"type"`
	ID   string         `json:"id"`
	Data *cgroups.Stats `json:"data,omitempty"`
}

// Stats returns one stats event for id.
func (r *Runtime) Stats(id string) (*Event, error) {
	st, err := state.Read(r.root(), id)
	if err != nil {
		return nil, err
	}
	m, err := r.cgroup(st)
	if err != nil {
		return nil, err
	}
	s, err := m.Stats()
	if err != nil {
		return nil, err
	}
	return &Event{Type: "stats", ID: id, Data: s}, nil
}

// Events calls emit with a stats event every interval and an "oom" event
// whenever the kernel reports an out-of-memory event in the container's
// cgroup, until the container's init exits or emit fails. Both are waited
// for, not polled, where the host allows (an OOM watch on the memory cgroup,
// a pidfd for the init); elsewhere they are checked every 200 ms.
func (r *Runtime) Events(id string, interval time.Duration, emit func(*Event) error) error {
	st, err := state.Read(r.root(), id)
	if err != nil {
		return err
	}
	m, err := r.cgroup(st)
	if err != nil {
		return err
	}
	if interval <= 0 {
		interval = 5 * time.Second
	}
	if !state.Alive(st.Pid, st.StartTime) {
		return nil
	}
	var oomC <-chan struct{}
	if w, err := cgroups.WatchOOM(m); err == nil {
		defer w.Close()
		oomC = w.C
	}
	exited, stopExit := exitOf(st.Pid)
	defer stopExit()
	var poll <-chan time.Time
	lastOOM, _ := m.OOMKillCount()
	if oomC == nil || exited == nil {
		t := time.NewTicker(min(interval, 200*time.Millisecond))
		defer t.Stop()
		poll = t.C
	}
	stats := time.NewTicker(interval)
	defer stats.Stop()
	oom := func() error { return emit(&Event{Type: "oom", ID: id}) }
	for {
		select {
		case <-exited:
			return nil
		case _, ok := <-oomC:
			if !ok {
				oomC = nil // the cgroup is gone: the container has stopped
				continue
			}
			if err := oom(); err != nil {
				return err
			}
		case <-stats.C:
			if s, err := m.Stats(); err == nil {
				if err := emit(&Event{Type: "stats", ID: id, Data: s}); err != nil {
					return err
				}
			}
		case <-poll:
			if exited == nil && !state.Alive(st.Pid, st.StartTime) {
				return nil
			}
			if oomC == nil {
				if n, err := m.OOMKillCount(); err == nil && n > lastOOM {
					lastOOM = n
					if err := oom(); err != nil {
						return err
					}
				}
			}
		}
	}
}

// exitOf returns a channel closed when pid exits (or stop is called), waited
// for on a pidfd in Go's poller; nil where the kernel has no pidfds.
func exitOf(pid int) (<-chan struct{}, func()) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil, func() {}
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer f.Close()
		// A pidfd turns readable when its process exits.
		_ = rc.Read(func(fd uintptr) bool {
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, _ := unix.Poll(pfd, 0)
			return n > 0
		})
	}()
	return done, func() { _ = f.SetReadDeadline(time.Unix(1, 0)) }
}
