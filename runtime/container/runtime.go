package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/runtime/cgroups"
	"github.com/berth-containers/berth/runtime/state"
)

// Runtime is a state root and the options that apply to every command.
type Runtime struct {
	Root     string // state root (--root)
	Log      *slog.Logger
	Rootless bool
	// CgroupRoot overrides where cgroup filesystems are mounted (tests).
	CgroupRoot string
}

func (r *Runtime) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

func (r *Runtime) root() string {
	if r.Root == "" {
		return state.DefaultRoot
	}
	return r.Root
}

// Status values; runc also reports "paused".
const (
	StatusCreating = string(specs.StateCreating)
	StatusCreated  = string(specs.StateCreated)
	StatusRunning  = string(specs.StateRunning)
	StatusStopped  = string(specs.StateStopped)
	StatusPaused   = "paused"
)

// Info is a container's state as `state` and `list` print it.
type Info struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// OCIState returns the runtime-spec state document.
func (i *Info) OCIState() *specs.State {
	return &specs.State{Version: specs.Version, ID: i.ID, Status: specs.ContainerState(i.Status), Pid: i.Pid, Bundle: i.Bundle, Annotations: i.Annotations}
}

// status derives the current status from recorded state and the kernel.
func (r *Runtime) status(h string, st *state.State) string {
	alive := state.Alive(st.Pid, st.StartTime)
	if !st.CreateDone {
		if alive {
			return StatusCreating
		}
		return StatusStopped
	}
	if !alive {
		return StatusStopped
	}
	if _, err := os.Lstat(h + "/" + state.FifoFile); err == nil {
		return StatusCreated
	}
	if m, err := r.cgroup(st); err == nil {
		if fs, err := m.FreezerState(); err == nil && fs != cgroups.Thawed {
			return StatusPaused
		}
	}
	return StatusRunning
}

func (r *Runtime) cgroup(st *state.State) (cgroups.Manager, error) {
	if len(st.Cgroup) == 0 {
		return nil, fmt.Errorf("container %q: no cgroup recorded: %w", st.ID, errdefs.ErrNotFound)
	}
	var saved cgroups.Saved
	if err := json.Unmarshal(st.Cgroup, &saved); err != nil {
		return nil, fmt.Errorf("container %q: cgroup state: %w", st.ID, err)
	}
	return cgroups.Load(saved)
}

func (r *Runtime) info(st *state.State) *Info {
	pid := st.Pid
	status := r.status(r.root()+"/"+st.ID, st)
	if status == StatusStopped {
		pid = 0
	}
	return &Info{OCIVersion: specs.Version, ID: st.ID, Pid: pid, Status: status, Bundle: st.Bundle, Rootfs: st.Rootfs,
		Created: st.Created, Owner: st.Owner, Annotations: st.Annotations}
}

// State returns id's current state.
func (r *Runtime) State(id string) (*Info, error) {
	st, err := state.Read(r.root(), id)
	if err != nil {
		return nil, err
	}
	return r.info(st), nil
}

// List returns every container under the root.
func (r *Runtime) List() ([]*Info, error) {
	ids, err := state.List(r.root())
	if err != nil {
		return nil, err
	}
	out := []*Info{}
	for _, id := range ids {
		st, err := state.Read(r.root(), id)
		if err != nil {
			continue
		}
		out = append(out, r.info(st))
	}
	return out, nil
}

// open locks id and loads its state; a directory without state.json (a create
// that crashed before recording anything) yields st == nil.
func (r *Runtime) open(id string) (*state.Handle, *state.State, error) {
	h, err := state.Open(r.root(), id)
	if err != nil {
		return nil, nil, err
	}
	st, err := h.Load()
	if err != nil {
		if errdefs.IsNotFound(err) {
			return h, nil, nil
		}
		h.Unlock()
		return nil, nil, err
	}
	return h, st, nil
}

// signalProcess sends sig to pid if it is still the process that started at
// startTime (pidfd: no race with pid reuse once opened).
func signalProcess(pid int, startTime uint64, sig unix.Signal) error {
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("process %d: %w", pid, errdefs.ErrNotFound)
		}
		if !errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("pidfd_open %d: %w", pid, err)
		}
		if !state.Alive(pid, startTime) {
			return fmt.Errorf("process %d: %w", pid, errdefs.ErrNotFound)
		}
		return unix.Kill(pid, sig)
	}
	defer unix.Close(pfd)
	if ps, err := state.Stat(pid); err != nil || (startTime != 0 && ps.StartTime != startTime) {
		return fmt.Errorf("process %d: %w", pid, errdefs.ErrNotFound)
	}
	if err := unix.PidfdSendSignal(pfd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("process %d: %w", pid, errdefs.ErrNotFound)
		}
		return err
	}
	return nil
}

// waitGone waits until pid (started at startTime) has exited, reaping it when
// it is our child. It gives up after timeout.
func waitGone(pid int, startTime uint64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for d := 100 * time.Microsecond; ; d = min(d*2, 20*time.Millisecond) {
		var ws unix.WaitStatus
		if p, _ := unix.Wait4(pid, &ws, unix.WNOHANG, nil); p == pid {
			return true
		}
		if !state.Alive(pid, startTime) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(d)
	}
}
