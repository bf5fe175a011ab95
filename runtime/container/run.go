package container

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/runtime/console"
	"github.com/berth-containers/berth/runtime/spec"
	"github.com/berth-containers/berth/runtime/state"
)

// RunOpts are run's options beyond create's.
type RunOpts struct {
	Detach bool // return once started (like create + start)
	Keep   bool // do not delete the container once it exits
}

// Run creates and starts a container. In the foreground it forwards signals,
// waits for the container's init and returns its exit code (128+signal when it
// was killed), deleting the container unless Keep.
func (r *Runtime) Run(o CreateOpts, ro RunOpts) (int, error) {
	if !ro.Detach && o.ConsoleSocket == "" {
		o.attach = true
	}
	var sigs chan os.Signal
	if !ro.Detach {
		// Catch signals before the container exists so none is lost.
		sigs = catchSignals()
	}
	t0 := time.Now()
	o.keepLocked = true
	c, err := r.Create(o)
	if err != nil {
		return -1, err
	}
	err = r.start(c.h, c.st)
	c.h.Unlock()
	if err != nil {
		_ = r.Delete(o.ID, true)
		return -1, err
	}
	if ro.Detach {
		if c.Master != nil {
			c.Master.Close()
		}
		return 0, nil
	}
	var copied chan struct{}
	if c.Master != nil {
		stdio := o.Stdio.orDefault()
		restore := console.Attach(c.Master, stdio.Stdin, stdio.Stdout)
		defer restore()
		copied = make(chan struct{})
		go func() {
			_, _ = io.Copy(stdio.Stdout, c.Master)
			close(copied)
		}()
	}
	r.log().Debug("run", "id", o.ID, "phase", "started", "elapsed", time.Since(t0))
	code := waitForward(c.Pid, sigs)
	r.log().Debug("run", "id", o.ID, "phase", "exited", "elapsed", time.Since(t0))
	if copied != nil {
		<-copied
		c.Master.Close()
	}
	if !ro.Keep {
		// The init is reaped: the container is stopped, and what create
		// recorded is all delete needs (no reload of state.json).
		h, err := state.Open(r.root(), o.ID)
		if err == nil {
			err = r.destroy(h, c.st, StatusStopped)
			h.Unlock()
		}
		if err != nil && !errdefs.IsNotFound(err) {
			return code, err
		}
		r.log().Debug("run", "id", o.ID, "phase", "deleted", "elapsed", time.Since(t0))
	}
	return code, nil
}

func exitCode(ws unix.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 255
}

// ExecOpts are exec's options.
type ExecOpts struct {
	ID            string
	Process       *specs.Process
	ConsoleSocket string
	PidFile       string
	Detach        bool
	PreserveFDs   int
	Stdio         Stdio
}

// Exec runs an extra process in a running container. In the foreground it
// returns the process's exit code; detached it returns 0 once the process runs.
func (r *Runtime) Exec(o ExecOpts) (int, error) {
	r.Prewarm()
	if err := spec.ValidateProcess(o.Process, "process"); err != nil {
		return -1, err
	}
	p := o.Process
	if p.Terminal && o.ConsoleSocket == "" && o.Detach {
		return -1, fmt.Errorf("process.terminal is set but no --console-socket was given (it is needed with --detach): %w", errdefs.ErrInvalidArgument)
	}
	h, st, err := r.open(o.ID)
	if err != nil {
		return -1, err
	}
	locked := true
	defer func() {
		if locked {
			h.Unlock()
		}
	}()
	if st == nil {
		return -1, notCreated(o.ID)
	}
	switch s := r.status(h.Dir, st); s {
	case StatusRunning, StatusCreated:
	case StatusPaused:
		return -1, fmt.Errorf("cannot exec in a paused container: %w", errdefs.ErrFailedPrecondition)
	default:
		return -1, fmt.Errorf("cannot exec in a %s container: %w", s, errdefs.ErrFailedPrecondition)
	}
	cfg, err := st.Spec()
	if err != nil {
		return -1, err
	}
	boot, err := joinBootstrap(st, cfg)
	if err != nil {
		return -1, err
	}
	cg, err := r.cgroup(st)
	if err != nil {
		return -1, err
	}
	var sigs chan os.Signal
	if !o.Detach {
		sigs = catchSignals()
	}
	var consoleSock, recvSock *os.File
	if p.Terminal {
		if o.ConsoleSocket != "" {
			if consoleSock, err = console.Connect(o.ConsoleSocket); err != nil {
				return -1, err
			}
		} else if consoleSock, recvSock, err = socketPair(); err != nil {
			return -1, err
		}
		defer consoleSock.Close()
		if recvSock != nil {
			defer recvSock.Close()
		}
	}
	req := &spawnReq{
		boot: boot, preserveFDs: o.PreserveFDs, console: consoleSock, stdio: o.Stdio, cgroup: cg,
		cfg: newExecConfig(st, cfg, p),
	}
	proc, err := spawn(req)
	if err != nil {
		return -1, fmt.Errorf("exec in container %q: %w", o.ID, err)
	}
	consoleSock.Close()
	// EOF on the sync socket means execve succeeded.
	if _, err := readInit(proc.sync); err != io.EOF {
		proc.kill()
		if err == nil {
			err = errors.New("unexpected message from exec init")
		}
		return -1, fmt.Errorf("exec in container %q: %w", o.ID, err)
	}
	proc.sync.Close()
	var master *os.File
	if recvSock != nil {
		if master, err = console.RecvFd(recvSock); err != nil {
			proc.kill()
			return -1, err
		}
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, proc.pid); err != nil {
			proc.kill()
			return -1, err
		}
	}
	h.Unlock()
	locked = false
	if o.Detach {
		return 0, nil
	}
	var copied chan struct{}
	if master != nil {
		stdio := o.Stdio.orDefault()
		restore := console.Attach(master, stdio.Stdin, stdio.Stdout)
		defer restore()
		copied = make(chan struct{})
		go func() {
			_, _ = io.Copy(stdio.Stdout, master)
			close(copied)
		}()
	}
	code := waitForward(proc.pid, sigs)
	if copied != nil {
		<-copied
		master.Close()
	}
	return code, nil
}
