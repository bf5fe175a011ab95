package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
)

// OOMWatch reports a container's out-of-memory events as the kernel raises
// them, without polling: on cgroup v1 through an eventfd registered for
// memory.oom_control (cgroup.event_control), on cgroup v2 through inotify on
// memory.events, which the kernel marks modified when a counter changes (the
// watch then compares its "oom" count). C receives a value per event (events
// close together may arrive as one) and is closed once the cgroup is gone or
// Close is called.
type OOMWatch struct {
	C <-chan struct{}

	f         *os.File
	closeOnce sync.Once
	done      chan struct{}
}

// WatchOOM starts watching m's memory cgroup. It fails with an error wrapping
// errdefs.ErrNotImplemented where the container has no memory cgroup.
func WatchOOM(m Manager) (*OOMWatch, error) {
	dir := m.Path("memory")
	if dir == "" {
		return nil, fmt.Errorf("cgroups: no memory cgroup to watch for OOM events: %w", errdefs.ErrNotImplemented)
	}
	if _, err := os.Stat(filepath.Join(dir, "memory.oom_control")); err == nil {
		return watchOOMv1(dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "memory.events")); err == nil {
		return watchOOMv2(dir)
	}
	return nil, fmt.Errorf("cgroups: %s has neither memory.oom_control nor memory.events: %w", dir, errdefs.ErrNotImplemented)
}

// Close stops the watch; C is closed.
func (w *OOMWatch) Close() {
	w.closeOnce.Do(func() {
		close(w.done)
		// Unblocks the reader, which closes C.
		_ = w.f.SetReadDeadline(time.Unix(1, 0))
	})
}

func newOOMWatch(f *os.File) (*OOMWatch, chan struct{}) {
	c := make(chan struct{}, 1)
	return &OOMWatch{C: c, f: f, done: make(chan struct{})}, c
}

// notify passes one event on without blocking (a pending one covers it).
func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func watchOOMv1(dir string) (*OOMWatch, error) {
	ctl, err := unix.Open(filepath.Join(dir, "memory.oom_control"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("cgroups: oom watch: %w", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(ctl)
		return nil, fmt.Errorf("cgroups: oom watch: eventfd: %w", err)
	}
	if err := writeFile(dir, "cgroup.event_control", fmt.Sprintf("%d %d", efd, ctl)); err != nil {
		unix.Close(efd)
		unix.Close(ctl)
		return nil, fmt.Errorf("cgroups: oom watch: %w", err)
	}
	f := os.NewFile(uintptr(efd), "oom-eventfd")
	w, c := newOOMWatch(f)
	go func() {
		defer close(c)
		defer f.Close()
		defer unix.Close(ctl)
		var b [8]byte
		for {
			if _, err := f.Read(b[:]); err != nil {
				return
			}
			// The eventfd also fires when the cgroup is removed.
			if _, err := os.Stat(filepath.Join(dir, "memory.oom_control")); err != nil {
				return
			}
			select {
			case <-w.done:
				return
			default:
			}
			notify(c)
		}
	}()
	return w, nil
}

func watchOOMv2(dir string) (*OOMWatch, error) {
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("cgroups: oom watch: inotify: %w", err)
	}
	events := filepath.Join(dir, "memory.events")
	if _, err := unix.InotifyAddWatch(ifd, events, unix.IN_MODIFY); err != nil {
		unix.Close(ifd)
		return nil, fmt.Errorf("cgroups: oom watch: %s: %w", events, err)
	}
	last, err := oomCount(dir)
	if err != nil {
		unix.Close(ifd)
		return nil, fmt.Errorf("cgroups: oom watch: %w", err)
	}
	f := os.NewFile(uintptr(ifd), "oom-inotify")
	w, c := newOOMWatch(f)
	go func() {
		defer close(c)
		defer f.Close()
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			gone := false
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				if ev.Mask&(unix.IN_IGNORED|unix.IN_DELETE_SELF) != 0 {
					gone = true
				}
				off += unix.SizeofInotifyEvent + int(ev.Len)
			}
			select {
			case <-w.done:
				return
			default:
			}
			if cur, err := oomCount(dir); err == nil && cur > last {
				last = cur
				notify(c)
			} else if err != nil && errors.Is(err, os.ErrNotExist) {
				gone = true
			}
			if gone {
				return
			}
		}
	}()
	return w, nil
}

// oomCount is memory.events' "oom": how often the cgroup hit its limit and
// the OOM killer was invoked (cgroup v2).
func oomCount(dir string) (uint64, error) {
	kv, err := readKV(dir, "memory.events")
	if err != nil {
		return 0, err
	}
	return kv["oom"], nil
}
