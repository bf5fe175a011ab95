package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/container"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/namespaces"
	"github.com/berth-containers/berth/mount"
	"github.com/berth-containers/berth/network"
	"github.com/berth-containers/berth/network/netns"
	"github.com/berth-containers/berth/oci"
	"github.com/berth-containers/berth/shim"
	shimclient "github.com/berth-containers/berth/shim/client"
	"github.com/berth-containers/berth/shim/logs"
)

type shimAPI = *shimclient.Client

// errRestartCancelled: a stop or rm came before a pending restart.
var errRestartCancelled = errors.New("restart cancelled")

// ioStream is the server side of Start, Attach and Exec.
type ioStream = grpc.BidiStreamingServer[berthv1.IORequest, berthv1.IOFrame]

// frameWriter sends what is written to it as frames of one kind.
type frameWriter struct {
	send func(*berthv1.IOFrame) error
	kind berthv1.IOFrame_Kind
}

func (w *frameWriter) Write(p []byte) (int, error) {
	if err := w.send(&berthv1.IOFrame{Kind: w.kind, Data: append([]byte(nil), p...)}); err != nil {
		return 0, err
	}
	return len(p), nil
}

// syncSender serialises Send on one stream.
func syncSender(st ioStream) func(*berthv1.IOFrame) error {
	ch := make(chan struct{}, 1)
	return func(f *berthv1.IOFrame) error {
		ch <- struct{}{}
		defer func() { <-ch }()
		return st.Send(f)
	}
}

// pumpStdin copies the client's stdin messages into w (closing it at
// close_stdin or the end of the stream) and applies resizes.
func pumpStdin(st ioStream, w *io.PipeWriter, resize func(w, h uint16)) {
	for {
		m, err := st.Recv()
		if err != nil {
			// The client went away without closing stdin (detached, or
			// gone): the process's stdin stays open, as with docker.
			return
		}
		if m.Width > 0 && m.Height > 0 && resize != nil {
			resize(uint16(m.Width), uint16(m.Height))
		}
		if w != nil && len(m.Data) > 0 {
			if _, err := w.Write(m.Data); err != nil {
				return
			}
		}
		if w != nil && m.CloseStdin {
			w.Close()
			w = nil
		}
	}
}

// Start starts a container's task; see the proto for the stream.
func (s *ContainersService) Start(st ioStream) error {
	ctx := st.Context()
	first, err := st.Recv()
	if err != nil {
		return err
	}
	send := syncSender(st)
	var att *shimclient.AttachOpts
	var stdinW *io.PipeWriter
	var stdinR *io.PipeReader
	if first.Attach {
		att = &shimclient.AttachOpts{Stdout: &frameWriter{send, berthv1.IOFrame_STDOUT}, Stderr: &frameWriter{send, berthv1.IOFrame_STDERR}}
		if first.Stdin {
			stdinR, stdinW = io.Pipe()
			att.Stdin, att.StdinOnce = stdinR, true
		}
	}
	var size *shim.ConsoleSize
	if first.Width > 0 && first.Height > 0 {
		size = &shim.ConsoleSize{Width: uint16(first.Width), Height: uint16(first.Height)}
	}
	c, t, a, err := s.startTask(ctx, first.Id, att, false, size)
	if err != nil {
		if stdinW != nil {
			stdinW.Close()
		}
		// --rm: a container that cannot start is removed, as docker does.
		if c.ID != "" && c.Options.AutoRemove && s.getTask(c.ID) == nil {
			if rerr := s.remove(context.WithoutCancel(ctx), c.ID, true); rerr != nil {
				s.log.Warn("auto-remove after a failed start", "id", c.ID, "err", rerr)
			}
		}
		return err
	}
	if err := send(&berthv1.IOFrame{Kind: berthv1.IOFrame_STARTED, Id: c.ID}); err != nil {
		return err
	}
	if a == nil {
		return nil
	}
	go pumpStdin(st, stdinW, func(w, h uint16) { _ = t.shim.ResizePty(context.Background(), "", w, h) })
	select {
	case <-a.Done():
	case <-ctx.Done():
		// Detach: drop the attachment first so no end of stdin reaches
		// the process, then free the copier.
		a.Close()
		if stdinR != nil {
			stdinR.Close()
		}
		return ctx.Err()
	}
	return s.sendExit(ctx, send, t)
}

func (s *ContainersService) sendExit(ctx context.Context, send func(*berthv1.IOFrame) error, t *task) error {
	select {
	case <-t.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	f := &berthv1.IOFrame{Kind: berthv1.IOFrame_EXIT, ExitCode: 255}
	if t.exit != nil {
		f.ExitCode = int32(t.exit.Code)
		f.Error = t.exit.Reason
	}
	return send(f)
}

// startTask starts the container's task (a no-op error for a running one)
// and, with att, attaches before the process starts so no output is lost.
func (s *ContainersService) startTask(ctx context.Context, ref string, att *shimclient.AttachOpts, restart bool, size *shim.ConsoleSize) (_ container.Container, _ *task, _ *shimclient.Attachment, retErr error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return container.Container{}, nil, nil, err
	}
	c, err := s.store.Get(ctx, ref)
	if err != nil {
		return c, nil, nil, err
	}
	unlock := s.lock(c.ID)
	defer unlock()
	if c, err = s.store.Get(ctx, c.ID); err != nil {
		return c, nil, nil, err
	}
	if s.getTask(c.ID) != nil {
		return c, nil, nil, fmt.Errorf("container %s is already running: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	if restart && (c.Status.ManuallyStopped || c.Status.State != container.StateRestarting) {
		// stop or rm came first: the restart is off.
		if c.Status.State == container.StateRestarting {
			_, _ = s.store.Update(ctx, c.ID, func(c *container.Container) error { c.Status.State = container.StateExited; return nil })
		}
		return c, nil, nil, errRestartCancelled
	}
	_, rtPath, err := s.runtimeHandler(c.Runtime)
	if err != nil {
		return c, nil, nil, err
	}
	// A failed start leaves the container as it was, with the error.
	defer func() {
		if retErr != nil {
			msg := retErr.Error()
			_, _ = s.store.Update(context.WithoutCancel(ctx), c.ID, func(c *container.Container) error {
				c.Status.Error = msg
				if c.Status.State == container.StateRestarting {
					c.Status.State = container.StateExited
				}
				return nil
			})
		}
	}()
	bundle := s.bundleDir(ns, c.ID)
	rootfs := filepath.Join(bundle, "rootfs")
	if err := s.ensureRootfs(ctx, c, rootfs); err != nil {
		return c, nil, nil, err
	}
	mode, err := network.ParseNetworkMode(c.Options.NetworkMode)
	if err != nil {
		return c, nil, nil, err
	}
	var cleanups []func()
	defer func() {
		if retErr != nil {
			for i := len(cleanups) - 1; i >= 0; i-- {
				cleanups[i]()
			}
		}
	}()
	if mode.Kind == network.ModeContainer {
		other := strings.TrimPrefix(mode.String(), "container:")
		if ot := s.getTask(other); ot == nil {
			return c, nil, nil, fmt.Errorf("cannot join network namespace of a non running container: %s: %w", other, errdefs.ErrFailedPrecondition)
		}
	}
	if mode.NeedsNetNS() {
		if _, err := os.Lstat(s.netnsPath(c.ID)); err == nil {
			s.teardownNetwork(ctx, c) // left by a task that died unseen
		}
		p, err := netns.New(s.cfg.State, c.ID)
		if err != nil {
			return c, nil, nil, fmt.Errorf("network namespace of %s: %w", c.ID, err)
		}
		cleanups = append(cleanups, func() { s.teardownNetwork(ctx, c) })
		if p != s.netnsPath(c.ID) {
			return c, nil, nil, fmt.Errorf("network namespace of %s at %s, want %s", c.ID, p, s.netnsPath(c.ID))
		}
		if nets := mode.Networks(); len(nets) > 0 {
			if s.net == nil {
				return c, nil, nil, fmt.Errorf("--network %s: networking is not available: %w", mode.String(), errdefs.ErrFailedPrecondition)
			}
			ports, err := network.ParsePortSpecs(c.Options.Ports)
			if err != nil {
				return c, nil, nil, err
			}
			hostname := c.Spec.Hostname
			res, err := s.net.Attach(ctx, c.ID, p, nets, network.AttachOpts{PortMappings: ports, Hostname: hostname, Aliases: []string{c.Name}})
			if err != nil {
				return c, nil, nil, err
			}
			var ips []string
			for _, e := range res.Endpoints {
				for _, ip := range e.IPs {
					ips = append(ips, strings.SplitN(ip, "/", 2)[0])
				}
			}
			o := c.Options
			if err := oci.WriteEtcFiles(filepath.Join(bundle, "etc"), oci.EtcOptions{Hostname: hostname, Domainname: o.Domainname, IPs: ips,
				ExtraHosts: o.ExtraHosts, DNS: o.DNS, DNSSearch: o.DNSSearch, DNSOptions: o.DNSOptions}); err != nil {
				return c, nil, nil, err
			}
		}
	}
	t0 := time.Now()
	sdir := s.shimDir(ns, c.ID)
	if _, err := os.Stat(sdir); err == nil {
		s.dropShim(ctx, sdir)
	}
	sc, err := shimclient.Start(ctx, shimclient.StartOpts{ID: c.ID, Namespace: ns, Bundle: bundle, StateDir: sdir,
		Runtime: rtPath, RuntimeRoot: s.runtimeRoot(c.Runtime), ShimBinary: s.shimBin, Log: s.log})
	if err != nil {
		return c, nil, nil, err
	}
	cleanups = append(cleanups, func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		// The container may already run (a failure after Start): the
		// runtime's delete --force kills it; a shim that never created
		// one is shut down.
		if _, err := sc.ForceDelete(dctx); err != nil {
			if serr := sc.Shutdown(dctx); serr != nil {
				s.log.Warn("undo a failed start", "id", c.ID, "delete", err, "shutdown", serr)
			}
		}
	})
	co := shim.CreateOpts{Terminal: c.Options.Tty, Stdin: c.Options.OpenStdin,
		LogPath: s.logPath(ns, c.ID), LogMaxSize: logMaxSize, LogMaxFiles: logMaxFiles}
	if c.Options.Tty {
		co.ConsoleSize = size
	}
	if _, err := sc.Create(ctx, co); err != nil {
		return c, nil, nil, fmt.Errorf("create task of %s: %w", c.ID, err)
	}
	var a *shimclient.Attachment
	if att != nil {
		if a, err = sc.Attach(ctx, "", *att); err != nil {
			return c, nil, nil, fmt.Errorf("attach to %s: %w", c.ID, err)
		}
		cleanups = append(cleanups, func() { a.Close() })
	}
	t1 := time.Now()
	state, err := sc.Start(ctx, "")
	if err != nil {
		return c, nil, nil, fmt.Errorf("start %s: %w", c.ID, err)
	}
	s.log.Debug("task started", "id", c.ID, "shim+create", t1.Sub(t0), "start", time.Since(t1))
	t := &task{ns: ns, id: c.ID, shim: sc, done: make(chan struct{})}
	c, err = s.store.Update(ctx, c.ID, func(c *container.Container) error {
		c.Status.State = container.StateRunning
		c.Status.Pid = state.Pid
		c.Status.StartedAt = time.Now().UTC()
		c.Status.Error = ""
		c.Status.ExitCode = 0
		c.Status.OOMKilled = false
		c.Status.ManuallyStopped = false
		return nil
	})
	if err != nil {
		return c, nil, nil, err
	}
	s.mu.Lock()
	s.tasks[c.ID] = t
	s.mu.Unlock()
	go s.monitor(t)
	s.ev.Publish(ns, "container", "start", c.ID, map[string]string{"name": c.Name, "image": c.Image})
	return c, t, a, nil
}

// ensureRootfs mounts the container's snapshot on rootfs unless it is.
func (s *ContainersService) ensureRootfs(ctx context.Context, c container.Container, rootfs string) error {
	if mounted(rootfs) {
		return nil
	}
	ms, err := s.st.Image.Snapshotter.Mounts(ctx, c.SnapshotKey)
	if err != nil {
		return fmt.Errorf("rootfs of %s: %w", c.ID, err)
	}
	if err := os.MkdirAll(rootfs, 0o711); err != nil {
		return err
	}
	return mount.All(ms, rootfs)
}

// mounted reports whether p is a mount point (its device differs from its
// parent's, or /proc/self/mountinfo lists it).
func mounted(p string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == p {
			return true
		}
	}
	return false
}

// monitor waits for the task's exit and handles it.
func (s *ContainersService) monitor(t *task) {
	ctx := namespaces.WithNamespace(context.Background(), t.ns)
	var st *shim.ExitStatus
	for {
		var err error
		st, err = t.shim.Wait(ctx, "")
		if err == nil {
			break
		}
		if errdefs.IsUnavailable(err) {
			// The shim died: recover what it left.
			rst, rerr := shimclient.Recover(ctx, t.shim.StateDir())
			if rerr != nil {
				s.log.Warn("recover dead shim", "id", t.id, "err", rerr)
				rst = &shim.ExitStatus{Code: 137, Signal: 9, ExitedAt: time.Now().UTC(), Reason: shimclient.ReasonShimDied}
			}
			st = rst
			break
		}
		if errdefs.IsNotFound(err) {
			// The shim has no task (its create never completed, or it
			// was deleted): there is nothing to wait for.
			s.log.Warn("task lost: the shim has no container", "id", t.id, "err", err)
			st = &shim.ExitStatus{Code: 137, Signal: 9, ExitedAt: time.Now().UTC(), Reason: "task lost: the shim has no container"}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.handleExit(ctx, t, st)
}

// handleExit records an exit, tears the task down and applies --rm and the
// restart policy.
func (s *ContainersService) handleExit(ctx context.Context, t *task, st *shim.ExitStatus) {
	t.exit = st
	t0 := time.Now()
	unlock := s.lock(t.id)
	if t.shim != nil {
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		if _, err := t.shim.Delete(dctx, ""); err != nil && !errdefs.IsNotFound(err) {
			if _, rerr := shimclient.Recover(dctx, t.shim.StateDir()); rerr != nil && !errdefs.IsNotFound(rerr) {
				s.log.Warn("delete task", "id", t.id, "err", err, "recover", rerr)
			}
		}
		cancel()
	}
	tDel := time.Now()
	c, err := s.store.Get(ctx, t.id)
	if err == nil {
		s.teardownNetwork(ctx, c)
		c, err = s.store.Update(ctx, t.id, func(c *container.Container) error {
			c.Status.State = container.StateExited
			c.Status.Pid = 0
			c.Status.ExitCode = st.Code
			c.Status.FinishedAt = st.ExitedAt
			c.Status.OOMKilled = st.OOMKilled
			if st.Reason != "" {
				c.Status.Error = st.Reason
			}
			return nil
		})
	}
	s.mu.Lock()
	delete(s.tasks, t.id)
	s.mu.Unlock()
	unlock()
	s.log.Debug("task exit handled", "id", t.id, "took", time.Since(t0), "shim delete", tDel.Sub(t0))
	if err != nil {
		s.log.Warn("record exit", "id", t.id, "err", err)
		close(t.done)
		return
	}
	attrs := map[string]string{"name": c.Name, "image": c.Image, "exitCode": strconv.Itoa(st.Code)}
	if st.OOMKilled {
		s.ev.Publish(t.ns, "container", "oom", c.ID, attrs)
	}
	s.ev.Publish(t.ns, "container", "die", c.ID, attrs)
	if c.Options.AutoRemove {
		if err := s.remove(ctx, c.ID, true); err != nil {
			s.log.Warn("auto-remove", "id", c.ID, "err", err)
		}
		close(t.done)
		return
	}
	close(t.done)
	s.maybeRestart(ctx, c)
}

// killAndWait signals the task and waits for its exit to be handled; after
// grace (0: at once) it sends SIGKILL to every process.
func (s *ContainersService) killAndWait(ctx context.Context, t *task, sig syscall.Signal, grace time.Duration) error {
	if sig != 0 {
		if err := t.shim.Kill(ctx, "", sig, false); err != nil && !errorsIsAny(err, errdefs.ErrNotFound, errdefs.ErrFailedPrecondition) {
			s.log.Debug("stop signal", "id", t.id, "err", err)
		}
		if grace > 0 && waitTimeout(ctx, t.done, grace) {
			return nil
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := t.shim.Kill(ctx, "", syscall.SIGKILL, true); err != nil && !errorsIsAny(err, errdefs.ErrNotFound, errdefs.ErrFailedPrecondition, errdefs.ErrUnavailable) {
		return fmt.Errorf("kill %s: %w", t.id, err)
	}
	if !waitTimeout(ctx, t.done, 30*time.Second) {
		return fmt.Errorf("container %s did not exit within 30s of SIGKILL: %w", t.id, errdefs.ErrUnavailable)
	}
	return nil
}

// Stop stops a running container: its stop signal, then SIGKILL.
func (s *ContainersService) Stop(ctx context.Context, req *berthv1.StopRequest) (*berthv1.ContainerResponse, error) {
	c, err := s.store.Get(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	unlock := s.lock(c.ID)
	c, err = s.store.Update(ctx, c.ID, func(c *container.Container) error { c.Status.ManuallyStopped = true; return nil })
	t := s.getTask(c.ID)
	unlock()
	if err != nil {
		return nil, err
	}
	if t != nil {
		sig := syscall.SIGTERM
		if c.Options.StopSignal != "" {
			if v, err := oci.ParseSignal(c.Options.StopSignal); err == nil {
				sig = v
			}
		}
		grace := 10 * time.Second
		if c.Options.StopTimeout != nil {
			grace = time.Duration(*c.Options.StopTimeout) * time.Second
		}
		if req.Timeout >= 0 {
			grace = time.Duration(req.Timeout) * time.Second
		}
		if c.Status.State == container.StatePaused {
			_ = t.shim.Resume(ctx)
		}
		if err := s.killAndWait(ctx, t, sig, grace); err != nil {
			return nil, err
		}
		s.ev.Publish(nsOf(ctx), "container", "stop", c.ID, map[string]string{"name": c.Name})
	}
	unlock = s.lock(c.ID)
	if s.getTask(c.ID) == nil {
		_, err = s.store.Update(ctx, c.ID, func(c *container.Container) error {
			if c.Status.State == container.StateRestarting {
				c.Status.State = container.StateExited
			}
			return nil
		})
	}
	unlock()
	if err != nil {
		return nil, err
	}
	if req.Restart {
		if _, _, _, err := s.startTask(ctx, c.ID, nil, false, nil); err != nil {
			return nil, err
		}
	}
	if c, err = s.store.Get(ctx, c.ID); err != nil {
		return nil, err
	}
	return marshalContainer(c)
}

// Kill sends a signal to the container's init.
func (s *ContainersService) Kill(ctx context.Context, req *berthv1.KillRequest) (*berthv1.ContainerResponse, error) {
	c, err := s.store.Get(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	sig := syscall.SIGKILL
	if req.Signal != "" {
		v, err := oci.ParseSignal(req.Signal)
		if err != nil {
			return nil, fmt.Errorf("invalid signal: %s: %w", req.Signal, errdefs.ErrInvalidArgument)
		}
		sig = v
	}
	t := s.getTask(c.ID)
	if t == nil {
		return nil, notRunning(c)
	}
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		_, _ = s.store.Update(ctx, c.ID, func(c *container.Container) error { c.Status.ManuallyStopped = true; return nil })
	}
	if err := t.shim.Kill(ctx, "", sig, sig == syscall.SIGKILL); err != nil {
		return nil, err
	}
	s.ev.Publish(nsOf(ctx), "container", "kill", c.ID, map[string]string{"name": c.Name, "signal": strconv.Itoa(int(sig))})
	return marshalContainer(c)
}

// Wait blocks until the container is not running and returns its exit code.
func (s *ContainersService) Wait(ctx context.Context, req *berthv1.ContainerRef) (*berthv1.WaitResponse, error) {
	c, err := s.store.Get(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	for {
		t := s.getTask(c.ID)
		if t == nil {
			break
		}
		select {
		case <-t.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if t.exit != nil && (c.Options.AutoRemove || c.RestartPolicy.Name == "" || c.RestartPolicy.Name == oci.RestartNo) {
			return &berthv1.WaitResponse{ExitCode: int32(t.exit.Code), Error: t.exit.Reason}, nil
		}
		break
	}
	c, err = s.store.Get(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	return &berthv1.WaitResponse{ExitCode: int32(c.Status.ExitCode), Error: c.Status.Error}, nil
}

// Pause freezes a running container.
func (s *ContainersService) Pause(ctx context.Context, req *berthv1.ContainerRef) (*berthv1.ContainerResponse, error) {
	return s.pauseResume(ctx, req.Id, true)
}

// Resume thaws a paused container.
func (s *ContainersService) Resume(ctx context.Context, req *berthv1.ContainerRef) (*berthv1.ContainerResponse, error) {
	return s.pauseResume(ctx, req.Id, false)
}

func (s *ContainersService) pauseResume(ctx context.Context, ref string, pause bool) (*berthv1.ContainerResponse, error) {
	c, err := s.store.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	t := s.getTask(c.ID)
	if t == nil {
		return nil, notRunning(c)
	}
	unlock := s.lock(c.ID)
	defer unlock()
	want, ev := container.StatePaused, "pause"
	if pause {
		if c.Status.State == container.StatePaused {
			return nil, fmt.Errorf("Container %s is already paused: %w", c.ID, errdefs.ErrFailedPrecondition)
		}
		err = t.shim.Pause(ctx)
	} else {
		if c.Status.State != container.StatePaused {
			return nil, fmt.Errorf("Container %s is not paused: %w", c.ID, errdefs.ErrFailedPrecondition)
		}
		want, ev = container.StateRunning, "unpause"
		err = t.shim.Resume(ctx)
	}
	if err != nil {
		return nil, err
	}
	c, err = s.store.Update(ctx, c.ID, func(c *container.Container) error { c.Status.State = want; return nil })
	if err != nil {
		return nil, err
	}
	s.ev.Publish(nsOf(ctx), "container", ev, c.ID, map[string]string{"name": c.Name})
	return marshalContainer(c)
}

// Stats returns the container's cgroup counters.
func (s *ContainersService) Stats(ctx context.Context, req *berthv1.ContainerRef) (*berthv1.StatsResponse, error) {
	c, err := s.store.Get(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	t := s.getTask(c.ID)
	if t == nil {
		return nil, notRunning(c)
	}
	st, err := t.shim.Stats(ctx)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	return &berthv1.StatsResponse{Stats: b}, nil
}

// Top lists the container's processes (the runtime's ps, then /proc).
func (s *ContainersService) Top(ctx context.Context, req *berthv1.ContainerRef) (*berthv1.TopResponse, error) {
	c, err := s.store.Get(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	if s.getTask(c.ID) == nil {
		return nil, notRunning(c)
	}
	_, rt, err := s.runtimeHandler(c.Runtime)
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, rt, "--root", s.runtimeRoot(c.Runtime), "ps", "--format", "json", c.ID).Output()
	if err != nil {
		return nil, fmt.Errorf("top %s: %s ps: %w", c.ID, filepath.Base(rt), err)
	}
	var pids []int
	if err := json.Unmarshal(out, &pids); err != nil {
		return nil, fmt.Errorf("top %s: %s ps output: %w", c.ID, filepath.Base(rt), err)
	}
	resp := &berthv1.TopResponse{Titles: []string{"PID", "PPID", "STAT", "CMD"}}
	for _, pid := range pids {
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		ppid, state := "?", "?"
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 {
			if f := strings.Fields(string(stat)[i+1:]); len(f) > 2 {
				state, ppid = f[0], f[1]
			}
		}
		cmd := strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))
		resp.Rows = append(resp.Rows, &berthv1.TopResponse_Row{Cells: []string{strconv.Itoa(pid), ppid, state, cmd}})
	}
	return resp, nil
}

// Logs streams the container's log.
func (s *ContainersService) Logs(req *berthv1.LogsRequest, st grpc.ServerStreamingServer[berthv1.LogFrame]) error {
	ctx := st.Context()
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	c, err := s.store.Get(ctx, req.Id)
	if err != nil {
		return err
	}
	o := logs.ReadOpts{Tail: int(req.Tail), Follow: req.Follow, MaxFiles: logMaxFiles}
	if req.SinceUnixNano > 0 {
		o.Since = time.Unix(0, req.SinceUnixNano)
	}
	if req.UntilUnixNano > 0 {
		o.Until = time.Unix(0, req.UntilUnixNano)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if req.Follow {
		// Following ends when the container stops.
		go func() {
			for {
				t := s.getTask(c.ID)
				if t == nil {
					time.Sleep(200 * time.Millisecond) // let the last lines be read
					cancel()
					return
				}
				select {
				case <-t.done:
				case <-rctx.Done():
					return
				}
			}
		}()
	}
	for e, err := range logs.Read(rctx, s.logPath(ns, c.ID), o) {
		if err != nil {
			s.log.Debug("log entry", "id", c.ID, "err", err)
			continue
		}
		if err := st.Send(&berthv1.LogFrame{Stream: e.Stream, Data: []byte(e.Log), TimeUnixNano: e.Time.UnixNano()}); err != nil {
			return err
		}
	}
	return nil
}

// ExecProcess is the process of an Exec request (IORequest.exec, JSON).
type ExecProcess struct {
	Args       []string `json:"args"`
	Env        []string `json:"env,omitempty"`
	User       string   `json:"user,omitempty"`
	WorkingDir string   `json:"workingDir,omitempty"`
	Tty        bool     `json:"tty,omitempty"`
	Stdin      bool     `json:"stdin,omitempty"`
	Detach     bool     `json:"detach,omitempty"`
	Privileged bool     `json:"privileged,omitempty"`
}

// Exec runs a process in a running container.
func (s *ContainersService) Exec(st ioStream) error {
	ctx := st.Context()
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	first, err := st.Recv()
	if err != nil {
		return err
	}
	var p ExecProcess
	if err := json.Unmarshal(first.Exec, &p); err != nil {
		return fmt.Errorf("exec process: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if len(p.Args) == 0 {
		return fmt.Errorf("exec: no command given: %w", errdefs.ErrInvalidArgument)
	}
	c, err := s.store.Get(ctx, first.Id)
	if err != nil {
		return err
	}
	t := s.getTask(c.ID)
	if t == nil || c.Status.State != container.StateRunning {
		if t != nil && c.Status.State == container.StatePaused {
			return fmt.Errorf("Container %s is paused, unpause the container before exec: %w", c.ID, errdefs.ErrFailedPrecondition)
		}
		return notRunning(c)
	}
	proc := specs.Process{}
	if c.Spec != nil && c.Spec.Process != nil {
		proc = *c.Spec.Process
	}
	proc.Args = p.Args
	proc.Terminal = p.Tty
	proc.ConsoleSize = nil
	proc.Env = mergeEnv(proc.Env, p.Env)
	if p.WorkingDir != "" {
		if !filepath.IsAbs(p.WorkingDir) {
			return fmt.Errorf("the working directory '%s' is invalid, it needs to be an absolute path: %w", p.WorkingDir, errdefs.ErrInvalidArgument)
		}
		proc.Cwd = p.WorkingDir
	}
	if p.Privileged {
		oci.PrivilegedExec(&proc)
	}
	if p.User != "" {
		u, err := oci.ResolveUser(filepath.Join(s.bundleDir(ns, c.ID), "rootfs"), p.User, nil)
		if err != nil {
			return fmt.Errorf("exec --user %s: %w", p.User, err)
		}
		proc.User = u.User
	}
	var rb [8]byte
	rand.Read(rb[:])
	execID := hex.EncodeToString(rb[:])
	eo := shim.ExecOpts{Terminal: p.Tty, Stdin: p.Stdin}
	if p.Tty && first.Width > 0 && first.Height > 0 {
		eo.ConsoleSize = &shim.ConsoleSize{Width: uint16(first.Width), Height: uint16(first.Height)}
	}
	if err := t.shim.Exec(ctx, execID, &proc, eo); err != nil {
		return fmt.Errorf("exec in %s: %w", c.ID, err)
	}
	dctx := context.WithoutCancel(ctx)
	defer func() { _, _ = t.shim.Delete(dctx, execID) }()
	send := syncSender(st)
	var a *shimclient.Attachment
	var stdinW *io.PipeWriter
	if !p.Detach {
		ao := shimclient.AttachOpts{Stdout: &frameWriter{send, berthv1.IOFrame_STDOUT}, Stderr: &frameWriter{send, berthv1.IOFrame_STDERR}}
		if p.Stdin {
			r, w := io.Pipe()
			ao.Stdin, ao.StdinOnce, stdinW = r, true, w
		}
		if a, err = t.shim.Attach(ctx, execID, ao); err != nil {
			return fmt.Errorf("exec in %s: attach: %w", c.ID, err)
		}
		defer a.Close()
	}
	if _, err := t.shim.Start(ctx, execID); err != nil {
		return fmt.Errorf("exec in %s: %w", c.ID, err)
	}
	if err := send(&berthv1.IOFrame{Kind: berthv1.IOFrame_STARTED, Id: execID}); err != nil {
		return err
	}
	if p.Detach {
		go func() { _, _ = t.shim.Wait(dctx, execID); _, _ = t.shim.Delete(dctx, execID) }()
		return nil
	}
	go pumpStdin(st, stdinW, func(w, h uint16) { _ = t.shim.ResizePty(context.Background(), execID, w, h) })
	select {
	case <-a.Done():
	case <-ctx.Done():
		_ = t.shim.Kill(dctx, execID, syscall.SIGKILL, false)
		return ctx.Err()
	}
	ex, err := t.shim.Wait(ctx, execID)
	if err != nil {
		return err
	}
	return send(&berthv1.IOFrame{Kind: berthv1.IOFrame_EXIT, ExitCode: int32(ex.Code), Error: ex.Reason})
}

// Attach attaches to a running container's init process.
func (s *ContainersService) Attach(st ioStream) error {
	ctx := st.Context()
	first, err := st.Recv()
	if err != nil {
		return err
	}
	c, err := s.store.Get(ctx, first.Id)
	if err != nil {
		return err
	}
	t := s.getTask(c.ID)
	if t == nil {
		return fmt.Errorf("You cannot attach to a stopped container, start it first: %w", errdefs.ErrFailedPrecondition)
	}
	send := syncSender(st)
	ao := shimclient.AttachOpts{Stdout: &frameWriter{send, berthv1.IOFrame_STDOUT}, Stderr: &frameWriter{send, berthv1.IOFrame_STDERR}}
	var stdinW *io.PipeWriter
	if first.Stdin && c.Options.OpenStdin {
		r, w := io.Pipe()
		ao.Stdin, stdinW = r, w
	}
	a, err := t.shim.Attach(ctx, "", ao)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := send(&berthv1.IOFrame{Kind: berthv1.IOFrame_STARTED, Id: c.ID}); err != nil {
		return err
	}
	go pumpStdin(st, stdinW, func(w, h uint16) { _ = t.shim.ResizePty(context.Background(), "", w, h) })
	select {
	case <-a.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.sendExit(ctx, send, t)
}

// mergeEnv overrides base with extra (KEY=VALUE; a bare KEY is dropped).
func mergeEnv(base, extra []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range extra {
		k, _, _ := strings.Cut(kv, "=")
		kept := out[:0]
		for _, e := range out {
			if ek, _, _ := strings.Cut(e, "="); ek != k {
				kept = append(kept, e)
			}
		}
		out = kept
		if strings.Contains(kv, "=") {
			out = append(out, kv)
		}
	}
	return out
}

// dropShim ends whatever shim is left in dir: one that answers is let
// finish a create still in progress (ending it earlier would leave the
// runtime's container behind once the create completes), then
// force-deleted, or shut down if it never created one; a dead one is
// recovered.
func (s *ContainersService) dropShim(ctx context.Context, dir string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 40*time.Second)
	defer cancel()
	if sc, err := shimclient.Connect(dctx, dir); err == nil {
		s.settleCreate(dctx, sc)
		_, derr := sc.ForceDelete(dctx)
		if derr == nil {
			return
		}
		if serr := sc.Shutdown(dctx); serr != nil {
			s.log.Warn("drop shim", "dir", dir, "delete", derr, "shutdown", serr)
		}
		return
	}
	if _, err := shimclient.Recover(dctx, dir); err != nil && !errdefs.IsNotFound(err) {
		s.log.Warn("recover shim", "dir", dir, "err", err)
		os.RemoveAll(dir)
	}
}

// settleCreate waits (bounded by ctx) while the shim's create is still in
// progress: an init is registered but has no pid yet.
func (s *ContainersService) settleCreate(ctx context.Context, sc shimAPI) {
	for {
		st, err := sc.State(ctx, "")
		if err != nil || st.Pid > 0 || st.Status != shim.StatusCreated {
			return
		}
		select {
		case <-ctx.Done():
			s.log.Warn("shim create still in progress", "dir", sc.StateDir())
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Recover runs at startup: it finds every shim again, follows the tasks
// still running, records the exits that happened while berthd was down,
// and removes what a daemon killed in the middle of a create or start left.
func (s *ContainersService) Recover(ctx context.Context) error {
	nss, err := s.st.DB.Namespaces(ctx)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		cs, err := s.store.List(nctx, container.Filter{})
		if err != nil {
			return err
		}
		for _, c := range cs {
			known[ns+"/"+c.ID] = true
			s.recoverOne(nctx, ns, c)
		}
	}
	// Shims and bundles without a record: a create or rm cut short.
	var orphanNetns []string
	dirs, _ := shimclient.List(filepath.Join(s.cfg.State, "shims"))
	for _, d := range dirs {
		ns, id := filepath.Base(filepath.Dir(d)), filepath.Base(d)
		if !known[ns+"/"+id] {
			s.log.Info("removing the shim of a container without a record", "namespace", ns, "id", id)
			s.dropShim(ctx, d)
			orphanNetns = append(orphanNetns, s.netnsPath(id))
		}
	}
	// The network manager detaches what the orphans held (masquerade
	// rules, IPAM leases), then removes their namespaces; without one,
	// only the namespaces are there to remove.
	if r, ok := s.net.(interface {
		Reconcile(ctx context.Context, live func(containerID string) bool) ([]string, error)
	}); ok {
		live := map[string]bool{}
		for k := range known {
			live[filepath.Base(k)] = true
		}
		if gone, err := r.Reconcile(ctx, func(id string) bool { return live[id] }); err != nil {
			s.log.Warn("network reconcile", "err", err)
		} else if len(gone) > 0 {
			s.log.Info("detached containers berthd no longer has", "ids", gone)
		}
	} else {
		for _, p := range orphanNetns {
			if _, err := os.Lstat(p); err == nil {
				if err := netns.Remove(p); err != nil {
					s.log.Warn("remove netns", "path", p, "err", err)
				}
			}
		}
	}
	bundles, _ := filepath.Glob(filepath.Join(s.cfg.State, "containers", "*", "*"))
	for _, b := range bundles {
		ns, id := filepath.Base(filepath.Dir(b)), filepath.Base(b)
		if known[ns+"/"+id] {
			continue
		}
		s.log.Info("removing the bundle of a container without a record", "namespace", ns, "id", id)
		_ = mount.UnmountAll(filepath.Join(b, "rootfs"), 0x2)
		os.RemoveAll(b)
		nctx := namespaces.WithNamespace(ctx, ns)
		_ = s.st.Image.Snapshotter.Remove(nctx, id)
		os.RemoveAll(s.logDir(ns, id))
	}
	return nil
}

func (s *ContainersService) recoverOne(ctx context.Context, ns string, c container.Container) {
	dir := s.shimDir(ns, c.ID)
	if _, err := os.Stat(filepath.Join(dir, shim.ConfigFile)); err != nil {
		switch c.Status.State {
		case container.StateRunning, container.StatePaused:
			// No shim at all (a reboot, or a start cut short).
			s.teardownNetwork(ctx, c)
			_, _ = s.store.Update(ctx, c.ID, func(c *container.Container) error {
				c.Status.State = container.StateExited
				c.Status.ExitCode = 137
				c.Status.Pid = 0
				c.Status.FinishedAt = time.Now().UTC()
				c.Status.Error = "task lost: no shim found after berthd restarted"
				return nil
			})
			s.maybeRestartAfterBoot(ctx, c)
		case container.StateRestarting, container.StateExited, container.StateCreated:
			s.maybeRestartAfterBoot(ctx, c)
		}
		return
	}
	t := &task{ns: ns, id: c.ID, done: make(chan struct{})}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	sc, err := shimclient.Connect(cctx, dir)
	cancel()
	if err != nil {
		st, rerr := shimclient.Recover(ctx, dir)
		if rerr != nil {
			st = &shim.ExitStatus{Code: 137, Signal: 9, ExitedAt: time.Now().UTC(), Reason: shimclient.ReasonShimDied}
		}
		s.log.Info("container's shim died while berthd was down", "id", c.ID, "exit", st.Code)
		s.mu.Lock()
		s.tasks[c.ID] = t
		s.mu.Unlock()
		s.handleExit(ctx, t, st)
		return
	}
	t.shim = sc
	s.mu.Lock()
	s.tasks[c.ID] = t
	s.mu.Unlock()
	st, err := sc.State(ctx, "")
	if (err != nil && !errdefs.IsUnavailable(err)) || (err == nil && st.Status == shim.StatusCreated) {
		// A start cut short: the process never ran. Undo the task; the
		// container stays as it was before the start.
		s.mu.Lock()
		delete(s.tasks, c.ID)
		s.mu.Unlock()
		s.dropShim(ctx, dir)
		s.teardownNetwork(ctx, c)
		if c.Status.State != container.StateCreated {
			_, _ = s.store.Update(ctx, c.ID, func(c *container.Container) error {
				c.Status.State = container.StateExited
				c.Status.Pid = 0
				c.Status.ExitCode = 128
				c.Status.Error = "start interrupted by a berthd restart"
				return nil
			})
		}
		return
	}
	if err == nil && st.Status == shim.StatusPaused && c.Status.State != container.StatePaused {
		_, _ = s.store.Update(ctx, c.ID, func(c *container.Container) error { c.Status.State = container.StatePaused; return nil })
	}
	if err == nil && st.Status == shim.StatusRunning && c.Status.State != container.StateRunning {
		_, _ = s.store.Update(ctx, c.ID, func(c *container.Container) error {
			c.Status.State = container.StateRunning
			c.Status.Pid = st.Pid
			return nil
		})
	}
	go s.monitor(t)
}
