package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/runtime/hooks"
	"github.com/berth-containers/berth/runtime/state"
)

func notCreated(id string) error {
	return fmt.Errorf("container %q has no recorded state (its create did not finish; use delete --force): %w", id, errdefs.ErrFailedPrecondition)
}

// Start lets a created container's init exec the user program.
func (r *Runtime) Start(id string) error {
	h, st, err := r.open(id)
	if err != nil {
		return err
	}
	defer h.Unlock()
	if st == nil {
		return notCreated(id)
	}
	switch status := r.status(h.Dir, st); status {
	case StatusCreated:
	case StatusStopped:
		return fmt.Errorf("cannot start a container that has stopped: %w", errdefs.ErrFailedPrecondition)
	case StatusCreating:
		return fmt.Errorf("cannot start container %q: it is still being created: %w", id, errdefs.ErrFailedPrecondition)
	default:
		return fmt.Errorf("cannot start an already running container (status %s): %w", status, errdefs.ErrFailedPrecondition)
	}
	return r.start(h, st)
}

func (r *Runtime) start(h *state.Handle, st *state.State) error {
	fifo := h.Path(state.FifoFile)
	fd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("start container %q: open exec fifo: %w", st.ID, err)
	}
	// Waited on in Go's network poller (no thread blocked in a system call).
	// Until init opens its end the fifo has no writer: that reads as end of
	// file, and the poller reports it only once a writer came and went.
	f := os.NewFile(uintptr(fd), "exec.fifo")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("start container %q: exec fifo: %w", st.ID, err)
	}
	var got []byte
	buf := make([]byte, 4096)
	for {
		var rerr error
		done := false
		_ = f.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		err := rc.Read(func(fd uintptr) bool {
			for {
				k, err := unix.Read(int(fd), buf)
				switch {
				case k > 0:
					got = append(got, buf[:k]...)
					continue
				case err == unix.EINTR:
					continue
				case err == unix.EAGAIN:
					return false
				case err != nil:
					rerr = err
					return true
				case len(got) > 0:
					done = true // init closed its end: execve happened or init failed
					return true
				}
				// End of file before the writer came: wait for it.
				return false
			}
		})
		if rerr != nil {
			return fmt.Errorf("start container %q: read exec fifo: %w", st.ID, rerr)
		}
		if done {
			break
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("start container %q: wait on exec fifo: %w", st.ID, err)
		}
		if !state.Alive(st.Pid, st.StartTime) {
			if len(got) > 0 {
				break
			}
			return fmt.Errorf("start container %q: init process exited before start: %w", st.ID, errdefs.ErrFailedPrecondition)
		}
	}
	if len(got) > 1 {
		_ = os.Remove(fifo)
		return fmt.Errorf("start container %q: %s", st.ID, got[1:])
	}
	if err := os.Remove(fifo); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("start container %q: remove exec fifo: %w", st.ID, err)
	}
	hk, err := st.ConfigHooks()
	if err != nil {
		return err
	}
	if hk != nil && len(hk.Poststart) > 0 {
		os := &specs.State{Version: specs.Version, ID: st.ID, Status: specs.StateRunning, Pid: st.Pid, Bundle: st.Bundle, Annotations: st.Annotations}
		if err := hooks.RunAllContinue(hk, hooks.Poststart, os); err != nil {
			r.log().Warn("poststart hook failed", "id", st.ID, "error", err)
		}
	}
	return nil
}

// Kill sends sig to the container's init, or with all to every process of its
// cgroup.
func (r *Runtime) Kill(id string, sig unix.Signal, all bool) error {
	st, err := state.Read(r.root(), id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return fmt.Errorf("container %q does not exist: %w", id, errdefs.ErrNotFound)
		}
		return err
	}
	if all {
		// Also for a stopped container: without a pid namespace, processes
		// may outlive the init (runc and containerd rely on that).
		return r.signalAll(st, sig)
	}
	status := r.status(filepath.Join(r.root(), id), st)
	if status == StatusStopped {
		return fmt.Errorf("container not running: %w", errdefs.ErrFailedPrecondition)
	}
	if err := signalProcess(st.Pid, st.StartTime, sig); err != nil {
		if errdefs.IsNotFound(err) {
			return fmt.Errorf("container not running: %w", errdefs.ErrFailedPrecondition)
		}
		return fmt.Errorf("kill container %q: %w", id, err)
	}
	return nil
}

func (r *Runtime) signalAll(st *state.State, sig unix.Signal) error {
	m, err := r.cgroup(st)
	if err != nil {
		return err
	}
	pids, err := m.Pids()
	if err != nil {
		return fmt.Errorf("kill --all %q: list processes: %w", st.ID, err)
	}
	for _, p := range pids {
		if err := unix.Kill(p, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("kill --all %q: pid %d: %w", st.ID, p, err)
		}
	}
	if sig == unix.SIGKILL {
		// Frozen processes die only once thawed.
		if fs, err := m.FreezerState(); err == nil && fs != "thawed" {
			_ = m.Thaw()
		}
	}
	return nil
}

// Delete removes a container. A running (or paused) one is refused unless
// force, which kills it first. force also cleans what a crashed create left.
func (r *Runtime) Delete(id string, force bool) error {
	h, st, err := r.open(id)
	if err != nil {
		if errdefs.IsNotFound(err) && force {
			return nil
		}
		return err
	}
	defer h.Unlock()
	if st == nil {
		// A create that crashed before recording anything: only the directory.
		return h.Remove()
	}
	status := r.status(h.Dir, st)
	// The runtime spec: deleting a container that is not stopped (created
	// included) is an error; --force kills it first.
	switch status {
	case StatusStopped:
	default:
		if !force {
			return fmt.Errorf("cannot delete container %s that is not stopped: %s: %w", id, status, errdefs.ErrFailedPrecondition)
		}
	}
	return r.destroy(h, st, status)
}

func (r *Runtime) destroy(h *state.Handle, st *state.State, status string) error {
	cg, cgErr := r.cgroup(st)
	if status != StatusStopped {
		_ = signalProcess(st.Pid, st.StartTime, unix.SIGKILL)
	}
	if cg != nil {
		// Everything else in the cgroup (no pid namespace, or escapees).
		if pids, err := cg.Pids(); err == nil && len(pids) > 0 {
			for _, p := range pids {
				_ = unix.Kill(p, unix.SIGKILL)
			}
			if fs, err := cg.FreezerState(); err == nil && fs != "thawed" {
				_ = cg.Thaw()
			}
		}
	}
	if status != StatusStopped && !waitGone(st.Pid, st.StartTime, 10*time.Second) {
		return fmt.Errorf("delete container %q: init %d did not die: %w", st.ID, st.Pid, errdefs.ErrUnavailable)
	}
	var errs []error
	if cg != nil {
		// Wait briefly for the cgroup to empty before removing it.
		for i := 0; i < 200; i++ {
			pids, err := cg.Pids()
			if err != nil || len(pids) == 0 {
				break
			}
			for _, p := range pids {
				_ = unix.Kill(p, unix.SIGKILL)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := cg.Destroy(); err != nil {
			errs = append(errs, err)
		}
	} else if len(st.Cgroup) > 0 {
		errs = append(errs, cgErr)
	}
	if st.CreateDone {
		hk, err := st.ConfigHooks()
		if err != nil {
			errs = append(errs, err)
		} else if hk != nil && len(hk.Poststop) > 0 {
			os := &specs.State{Version: specs.Version, ID: st.ID, Status: specs.StateStopped, Pid: 0, Bundle: st.Bundle, Annotations: st.Annotations}
			if err := hooks.RunAllContinue(hk, hooks.Poststop, os); err != nil {
				r.log().Warn("poststop hook failed", "id", st.ID, "error", err)
			}
		}
	}
	if err := h.Remove(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Pause freezes every process of a running container.
func (r *Runtime) Pause(id string) error {
	h, st, err := r.open(id)
	if err != nil {
		return err
	}
	defer h.Unlock()
	if st == nil {
		return notCreated(id)
	}
	if s := r.status(h.Dir, st); s != StatusRunning && s != StatusCreated {
		return fmt.Errorf("container not running: %w", errdefs.ErrFailedPrecondition)
	}
	m, err := r.cgroup(st)
	if err != nil {
		return err
	}
	return m.Freeze()
}

// Resume thaws a paused container.
func (r *Runtime) Resume(id string) error {
	h, st, err := r.open(id)
	if err != nil {
		return err
	}
	defer h.Unlock()
	if st == nil {
		return notCreated(id)
	}
	if s := r.status(h.Dir, st); s != StatusPaused {
		return fmt.Errorf("container not paused: %w", errdefs.ErrFailedPrecondition)
	}
	m, err := r.cgroup(st)
	if err != nil {
		return err
	}
	return m.Thaw()
}

// Update changes a container's cgroup limits and records them.
func (r *Runtime) Update(id string, res *specs.LinuxResources) error {
	h, st, err := r.open(id)
	if err != nil {
		return err
	}
	defer h.Unlock()
	if st == nil {
		return notCreated(id)
	}
	if r.status(h.Dir, st) == StatusStopped {
		return fmt.Errorf("container not running: %w", errdefs.ErrFailedPrecondition)
	}
	m, err := r.cgroup(st)
	if err != nil {
		return err
	}
	if err := m.Set(res); err != nil {
		return err
	}
	cfg, err := st.Spec()
	if err != nil {
		return err
	}
	if cfg != nil && cfg.Linux != nil {
		cfg.Linux.Resources = mergeResources(cfg.Linux.Resources, res)
		st.SetSpec(cfg, nil) // changed: encoded afresh
		return h.Save(st)
	}
	return nil
}

func mergeResources(old, upd *specs.LinuxResources) *specs.LinuxResources {
	if old == nil {
		return upd
	}
	out := *old
	if upd.Memory != nil {
		out.Memory = upd.Memory
	}
	if upd.CPU != nil {
		out.CPU = upd.CPU
	}
	if upd.Pids != nil {
		out.Pids = upd.Pids
	}
	if upd.BlockIO != nil {
		out.BlockIO = upd.BlockIO
	}
	if upd.HugepageLimits != nil {
		out.HugepageLimits = upd.HugepageLimits
	}
	if upd.Network != nil {
		out.Network = upd.Network
	}
	if upd.Unified != nil {
		out.Unified = upd.Unified
	}
	if upd.Devices != nil {
		out.Devices = upd.Devices
	}
	return &out
}

// Pids lists the container's processes (from its cgroup).
func (r *Runtime) Pids(id string) ([]int, error) {
	st, err := state.Read(r.root(), id)
	if err != nil {
		return nil, err
	}
	m, err := r.cgroup(st)
	if err != nil {
		return nil, err
	}
	if r.status(filepath.Join(r.root(), id), st) == StatusStopped {
		return nil, fmt.Errorf("container %q is not running: %w", id, errdefs.ErrFailedPrecondition)
	}
	return m.Pids()
}
