package shim

import (
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// reaper collects every child of the shim with wait4(-1) on SIGCHLD: the
// runtime commands it starts, and the container processes re-parented to it
// as a subreaper. A pid is claimed either before it can be reaped (start
// holds the lock across fork) or after (claim finds a recorded status).
type reaper struct {
	mu        sync.Mutex
	waiters   map[int]chan unix.WaitStatus
	unclaimed map[int]unix.WaitStatus
	order     []int
}

// maxUnclaimed bounds the statuses kept for pids nobody claimed yet
// (orphans that are not ours, or an exec process whose pid file is read
// after it exited).
const maxUnclaimed = 128

func newReaper() *reaper {
	r := &reaper{waiters: map[int]chan unix.WaitStatus{}, unclaimed: map[int]unix.WaitStatus{}}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGCHLD)
	go func() {
		for range ch {
			r.reap()
		}
	}()
	return r
}

func (r *reaper) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		r.mu.Lock()
		if ch, ok := r.waiters[pid]; ok {
			delete(r.waiters, pid)
			ch <- ws
		} else {
			if len(r.order) >= maxUnclaimed {
				delete(r.unclaimed, r.order[0])
				r.order = r.order[1:]
			}
			r.unclaimed[pid] = ws
			r.order = append(r.order, pid)
		}
		r.mu.Unlock()
	}
}

// start starts a child and returns its pid and a channel receiving its
// wait status.
func (r *reaper) start(argv0 string, argv []string, files []*os.File, dir string) (int, <-chan unix.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := os.StartProcess(argv0, argv, &os.ProcAttr{Dir: dir, Files: files, Env: os.Environ()})
	if err != nil {
		return 0, nil, err
	}
	pid := p.Pid
	_ = p.Release()
	ch := make(chan unix.WaitStatus, 1)
	r.waiters[pid] = ch
	return pid, ch, nil
}

// claim returns a channel receiving pid's wait status, which may already
// have been collected.
func (r *reaper) claim(pid int) <-chan unix.WaitStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan unix.WaitStatus, 1)
	if ws, ok := r.unclaimed[pid]; ok {
		delete(r.unclaimed, pid)
		for i, p := range r.order {
			if p == pid {
				r.order = append(r.order[:i], r.order[i+1:]...)
				break
			}
		}
		ch <- ws
		return ch
	}
	r.waiters[pid] = ch
	return ch
}

// exitStatus converts a wait status.
func exitCode(ws unix.WaitStatus) (code, sig int) {
	if ws.Signaled() {
		return 128 + int(ws.Signal()), int(ws.Signal())
	}
	return ws.ExitStatus(), 0
}
