package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/atomicfile"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/runtime/cgroups"
	"github.com/berth-containers/berth/shim/logs"
)

// Shim serves one container.
type Shim struct {
	cfg    Config
	log    *slog.Logger
	reaper *reaper
	ln     *listener

	mu      sync.Mutex
	init    *process
	execs   map[string]*process
	deleted bool
	subs    map[chan Event]struct{}
	cg      cgroups.Manager
	oomSeen bool
	done    chan struct{}
	closing sync.Once
}

// Run serves cfg's container until it is deleted (or Shutdown). ready is
// written "ok" (or an error message) and closed once the socket answers.
// Run makes the whole process a child subreaper and reaps every child it
// has: call it only from berth-shim's main, never inside another program.
func Run(ctx context.Context, cfg Config, log *slog.Logger, ready io.WriteCloser) error {
	fail := func(err error) error {
		if ready != nil {
			io.WriteString(ready, err.Error())
			ready.Close()
		}
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fail(err)
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fail(fmt.Errorf("set child subreaper: %w", err))
	}
	if strings.HasPrefix(cfg.Socket, SocketDir+"/") {
		_ = os.MkdirAll(SocketDir, 0o700)
	}
	_ = os.Remove(cfg.Socket)
	ln, err := listenUnix(cfg.Socket)
	if err != nil {
		return fail(fmt.Errorf("listen %s: %w", cfg.Socket, err))
	}
	s := &Shim{cfg: cfg, log: log, reaper: newReaper(), ln: ln, execs: map[string]*process{},
		subs: map[chan Event]struct{}{}, done: make(chan struct{})}
	// The pid file is a hint for Connect and Recover (State also gives the
	// pid, and Recover checks the pid is this shim): written atomically,
	// not synced, to keep fsync off the start path.
	if err := atomicfile.Replace(s.path(PidFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		ln.close()
		return fail(fmt.Errorf("write pid file: %w", err))
	}
	if ready != nil {
		io.WriteString(ready, "ok")
		ready.Close()
	}
	go func() {
		select {
		case <-ctx.Done():
			s.stop()
		case <-s.done:
		}
	}()
	for {
		c, err := ln.accept()
		if err != nil {
			select {
			case <-s.done:
				return nil
			default:
			}
			if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) || errors.Is(err, unix.ECONNABORTED) {
				s.log.Warn("accept", "err", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		go s.serve(c)
	}
}

func (s *Shim) path(name string) string { return filepath.Join(s.cfg.StateDir, name) }

func (s *Shim) stop() {
	s.closing.Do(func() {
		close(s.done)
		s.ln.close()
	})
}

func (s *Shim) serve(c *os.File) {
	defer c.Close()
	req, err := DecodeRequest(c)
	if err != nil {
		if !errors.Is(err, io.EOF) {
			_ = WriteFrame(c, ErrorResponse(err))
		}
		return
	}
	switch req.Method {
	case MethodWait:
		s.wait(c, req)
		return
	case MethodAttach:
		s.attach(c, req)
		return
	case MethodEvents:
		s.events(c)
		return
	}
	resp, err := s.handle(req)
	if err != nil {
		resp = ErrorResponse(err)
	}
	if resp == nil {
		resp = &Response{}
	}
	_ = WriteFrame(c, resp)
	if req.Method == MethodDelete && req.ExecID == "" && err == nil || req.Method == MethodShutdown && err == nil {
		s.finish()
	}
}

func (s *Shim) handle(req *Request) (*Response, error) {
	switch req.Method {
	case MethodPing:
		return &Response{}, nil
	case MethodCreate:
		return s.create(req.Create)
	case MethodStart:
		return s.start(req.ExecID)
	case MethodKill:
		return nil, s.kill(req.ExecID, req.Signal, req.All)
	case MethodState:
		p, err := s.process(req.ExecID)
		if err != nil {
			return nil, err
		}
		st := p.state()
		return &Response{State: &st}, nil
	case MethodPause, MethodResume:
		return nil, s.pauseResume(req.Method == MethodPause)
	case MethodUpdate:
		return nil, s.update(req.Resources)
	case MethodStats:
		st, err := s.stats()
		if err != nil {
			return nil, err
		}
		return &Response{Stats: st}, nil
	case MethodExec:
		return nil, s.exec(req.ExecID, req)
	case MethodResize:
		p, err := s.process(req.ExecID)
		if err != nil {
			return nil, err
		}
		return nil, p.resize(req.Size)
	case MethodCloseStdin:
		p, err := s.process(req.ExecID)
		if err != nil {
			return nil, err
		}
		return nil, p.closeStdin()
	case MethodDelete:
		return s.delete(req.ExecID, req.Force)
	case MethodShutdown:
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.init != nil && !s.deleted {
			return nil, fmt.Errorf("shutdown: container %s still exists: delete it first: %w", s.cfg.ID, errdefs.ErrFailedPrecondition)
		}
		return &Response{}, nil
	}
	return nil, fmt.Errorf("method %q: %w", req.Method, errdefs.ErrNotImplemented)
}

// finish removes what the shim made and stops it.
func (s *Shim) finish() {
	s.mu.Lock()
	for ch := range s.subs {
		close(ch)
		delete(s.subs, ch)
	}
	s.mu.Unlock()
	s.stop()
	if err := os.RemoveAll(s.cfg.StateDir); err != nil {
		s.log.Warn("remove state dir", "dir", s.cfg.StateDir, "err", err)
	}
}

func (s *Shim) process(execID string) (*process, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if execID == "" {
		if s.init == nil || s.deleted {
			return nil, fmt.Errorf("container %s: not created: %w", s.cfg.ID, errdefs.ErrNotFound)
		}
		return s.init, nil
	}
	p := s.execs[execID]
	if p == nil {
		return nil, fmt.Errorf("container %s: exec %q: %w", s.cfg.ID, execID, errdefs.ErrNotFound)
	}
	return p, nil
}

func (s *Shim) create(opts *CreateOpts) (*Response, error) {
	s.mu.Lock()
	if s.init != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("container %s: already created: %w", s.cfg.ID, errdefs.ErrAlreadyExists)
	}
	p := newProcess(s, "", opts.Terminal, opts.Stdin)
	s.init = p
	s.mu.Unlock()
	resp, err := s.createInit(p, opts)
	if err != nil {
		s.mu.Lock()
		s.init = nil
		s.mu.Unlock()
	}
	return resp, err
}

func (s *Shim) createInit(p *process, opts *CreateOpts) (_ *Response, retErr error) {
	if opts.LogPath != "" {
		if !filepath.IsAbs(opts.LogPath) {
			return nil, fmt.Errorf("create: logPath %q: must be absolute: %w", opts.LogPath, errdefs.ErrInvalidArgument)
		}
		_, statErr := os.Stat(opts.LogPath)
		w, err := logs.NewWriter(opts.LogPath, opts.LogMaxSize, opts.LogMaxFiles)
		if err != nil {
			return nil, fmt.Errorf("create: logPath %q: %w", opts.LogPath, err)
		}
		p.logw = w
		if os.IsNotExist(statErr) {
			// A failed create leaves no log file it made.
			defer func() {
				if retErr != nil {
					os.Remove(opts.LogPath)
				}
			}()
		}
	}
	files, consoleSock, err := p.setupIO()
	if err != nil {
		p.closeAll()
		return nil, fmt.Errorf("create: stdio: %w", err)
	}
	pidFile := s.path("init.pid")
	args := []string{"create", "--bundle", s.cfg.Bundle, "--pid-file", pidFile}
	if consoleSock != "" {
		args = append(args, "--console-socket", consoleSock)
	}
	args = append(args, s.cfg.ID)
	err = s.runtime(files, args...)
	p.closeChild()
	if err != nil {
		// The runtime cleans up after a failed create; a delete here
		// could remove another container of the same id.
		p.closeAll()
		os.Remove(pidFile)
		return nil, fmt.Errorf("create container %s: %w", s.cfg.ID, err)
	}
	if p.terminal {
		err = p.receiveConsole(opts.ConsoleSize)
	}
	var pid int
	if err == nil {
		pid, err = readPid(pidFile)
	}
	if err != nil {
		p.closeAll()
		_ = s.runtime(nil, "delete", "--force", s.cfg.ID)
		os.Remove(pidFile)
		return nil, fmt.Errorf("create container %s: %w", s.cfg.ID, err)
	}
	p.mu.Lock()
	p.pid = pid
	p.mu.Unlock()
	p.startCopy()
	ch := s.reaper.claim(pid)
	s.watchOOM(pid)
	go s.exited(p, ch)
	st := p.state()
	return &Response{State: &st}, nil
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: %q is not a pid", path, b)
	}
	return pid, nil
}

// exited records a process's exit: the exit record first, then waiters and
// events.
func (s *Shim) exited(p *process, ch <-chan unix.WaitStatus) {
	ws := <-ch
	code, sig := exitCode(ws)
	e := &ExitStatus{Code: code, Signal: sig, ExitedAt: time.Now().UTC()}
	p.waitOutput(2 * time.Second)
	name := ExitFile
	if p.execID != "" {
		name = ExecExitFile(p.execID)
	} else {
		s.mu.Lock()
		cg, seen := s.cg, s.oomSeen
		s.mu.Unlock()
		if seen {
			e.OOMKilled = true
		} else if cg != nil {
			if n, err := cg.OOMKillCount(); err == nil && n > 0 {
				e.OOMKilled = true
			}
		}
	}
	s.recordExit(p, name, e)
}

func (s *Shim) recordExit(p *process, name string, e *ExitStatus) {
	b, _ := json.Marshal(e)
	if err := atomicfile.Write(s.path(name), b, 0o644); err != nil {
		s.log.Error("write exit record", "file", name, "err", err)
	}
	p.mu.Lock()
	if p.exit != nil {
		p.mu.Unlock()
		return
	}
	p.exit = e
	p.status = StatusStopped
	pid := p.pid
	close(p.exited)
	p.mu.Unlock()
	s.publish(Event{Kind: EventExit, ID: s.cfg.ID, ExecID: p.execID, Pid: pid, Exit: e, Time: e.ExitedAt})
}

func (s *Shim) publish(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- ev:
		default:
			s.log.Warn("event subscriber too slow: event dropped", "kind", ev.Kind)
		}
	}
}

func (s *Shim) start(execID string) (*Response, error) {
	p, err := s.process(execID)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.started || p.exit != nil {
		p.mu.Unlock()
		return nil, fmt.Errorf("container %s: process %q: already started: %w", s.cfg.ID, execID, errdefs.ErrFailedPrecondition)
	}
	p.started = true
	p.mu.Unlock()
	if execID != "" {
		return s.startExec(p)
	}
	if err := s.runtime(nil, "start", s.cfg.ID); err != nil {
		p.mu.Lock()
		p.started = false
		p.mu.Unlock()
		return nil, fmt.Errorf("start container %s: %w", s.cfg.ID, err)
	}
	p.mu.Lock()
	if p.exit == nil {
		p.status = StatusRunning
	}
	p.mu.Unlock()
	st := p.state()
	return &Response{State: &st}, nil
}

func (s *Shim) kill(execID string, sig int, all bool) error {
	p, err := s.process(execID)
	if err != nil {
		return err
	}
	p.mu.Lock()
	exited, pid, started := p.exit != nil, p.pid, p.started
	p.mu.Unlock()
	if execID != "" {
		if exited || !started {
			return fmt.Errorf("container %s: exec %q: not running: %w", s.cfg.ID, execID, errdefs.ErrFailedPrecondition)
		}
		if err := unix.Kill(pid, unix.Signal(sig)); err != nil {
			return fmt.Errorf("kill exec %s pid %d: %w", execID, pid, err)
		}
		return nil
	}
	if exited && !all {
		return fmt.Errorf("container %s: not running: %w", s.cfg.ID, errdefs.ErrFailedPrecondition)
	}
	args := []string{"kill"}
	if all {
		args = append(args, "--all")
	}
	args = append(args, s.cfg.ID, strconv.Itoa(sig))
	if err := s.runtime(nil, args...); err != nil {
		if exited {
			return nil
		}
		return fmt.Errorf("kill container %s: %w", s.cfg.ID, err)
	}
	return nil
}

func (s *Shim) pauseResume(pause bool) error {
	p, err := s.process("")
	if err != nil {
		return err
	}
	p.mu.Lock()
	status, exited := p.status, p.exit != nil
	p.mu.Unlock()
	want, from, cmd := StatusPaused, StatusRunning, "pause"
	if !pause {
		want, from, cmd = StatusRunning, StatusPaused, "resume"
	}
	if exited || status != from {
		if status == want && !exited {
			return nil
		}
		return fmt.Errorf("%s container %s: it is %s: %w", cmd, s.cfg.ID, p.state().Status, errdefs.ErrFailedPrecondition)
	}
	if err := s.runtime(nil, cmd, s.cfg.ID); err != nil {
		return fmt.Errorf("%s container %s: %w", cmd, s.cfg.ID, err)
	}
	p.mu.Lock()
	if p.exit == nil {
		p.status = want
	}
	p.mu.Unlock()
	return nil
}

func (s *Shim) update(r any) error {
	p, err := s.process("")
	if err != nil {
		return err
	}
	if p.state().Status == StatusStopped {
		return fmt.Errorf("update container %s: not running: %w", s.cfg.ID, errdefs.ErrFailedPrecondition)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("update: resources: %w", errdefs.ErrInvalidArgument)
	}
	f, err := os.CreateTemp(s.cfg.StateDir, ".resources-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(b)
	f.Close()
	if err != nil {
		return err
	}
	if err := s.runtime(nil, "update", "--resources", f.Name(), s.cfg.ID); err != nil {
		return fmt.Errorf("update container %s: %w", s.cfg.ID, err)
	}
	return nil
}

func (s *Shim) exec(execID string, req *Request) error {
	s.mu.Lock()
	if s.init == nil || s.deleted {
		s.mu.Unlock()
		return fmt.Errorf("exec in container %s: not created: %w", s.cfg.ID, errdefs.ErrNotFound)
	}
	if st := s.init.state(); st.Status != StatusRunning {
		s.mu.Unlock()
		return fmt.Errorf("exec in container %s: container is %s, not running: %w", s.cfg.ID, st.Status, errdefs.ErrFailedPrecondition)
	}
	if s.execs[execID] != nil {
		s.mu.Unlock()
		return fmt.Errorf("exec %q in container %s: %w", execID, s.cfg.ID, errdefs.ErrAlreadyExists)
	}
	p := newProcess(s, execID, req.Exec.Terminal, req.Exec.Stdin)
	s.execs[execID] = p
	s.mu.Unlock()
	// An exec runs as soon as the runtime has made it, before the shim
	// holds the pty: the runtime sizes the pty from process.consoleSize.
	if sz := req.Exec.ConsoleSize; req.Exec.Terminal && sz != nil && sz.Width > 0 && sz.Height > 0 && req.Process.ConsoleSize == nil {
		req.Process.ConsoleSize = &specs.Box{Width: uint(sz.Width), Height: uint(sz.Height)}
	}
	b, err := json.Marshal(req.Process)
	if err == nil {
		err = atomicfile.Write(s.path("exec-"+execID+".process.json"), b, 0o600)
	}
	if err != nil {
		s.mu.Lock()
		delete(s.execs, execID)
		s.mu.Unlock()
		return fmt.Errorf("exec %q: write process: %w", execID, err)
	}
	p.size = req.Exec.ConsoleSize
	// The stdio exists from now on, so that a client attached before
	// Start loses no input.
	files, sock, err := p.setupIO()
	if err != nil {
		s.mu.Lock()
		delete(s.execs, execID)
		s.mu.Unlock()
		os.Remove(s.path("exec-" + execID + ".process.json"))
		return fmt.Errorf("exec %q: stdio: %w", execID, err)
	}
	p.childFiles, p.consoleSock = files, sock
	return nil
}

func (s *Shim) startExec(p *process) (*Response, error) {
	id := p.execID
	fail := func(err error) (*Response, error) {
		p.closeAll()
		os.Remove(s.path("exec-" + id + ".pid"))
		err = fmt.Errorf("exec %q in container %s: %w", id, s.cfg.ID, err)
		s.recordExit(p, ExecExitFile(id), &ExitStatus{Code: 126, ExitedAt: time.Now().UTC(), Reason: err.Error()})
		return nil, err
	}
	files, consoleSock := p.childFiles, p.consoleSock
	pidFile := s.path("exec-" + id + ".pid")
	args := []string{"exec", "--detach", "--pid-file", pidFile, "--process", s.path("exec-" + id + ".process.json")}
	if consoleSock != "" {
		args = append(args, "--console-socket", consoleSock)
	}
	args = append(args, s.cfg.ID)
	err := s.runtime(files, args...)
	p.closeChild()
	if err == nil && p.terminal {
		err = p.receiveConsole(p.size)
	}
	var pid int
	if err == nil {
		pid, err = readPid(pidFile)
	}
	if err != nil {
		return fail(err)
	}
	ch := s.reaper.claim(pid)
	p.mu.Lock()
	p.pid = pid
	p.status = StatusRunning
	p.mu.Unlock()
	p.startCopy()
	go s.exited(p, ch)
	st := p.state()
	return &Response{State: &st}, nil
}

func (s *Shim) delete(execID string, force bool) (*Response, error) {
	if execID != "" {
		p, err := s.process(execID)
		if err != nil {
			return nil, err
		}
		p.mu.Lock()
		running := p.started && p.exit == nil
		p.mu.Unlock()
		if running {
			return nil, fmt.Errorf("delete exec %q: still running: %w", execID, errdefs.ErrFailedPrecondition)
		}
		s.mu.Lock()
		delete(s.execs, execID)
		s.mu.Unlock()
		p.closeAll()
		for _, f := range []string{ExecExitFile(execID), "exec-" + execID + ".pid", "exec-" + execID + ".process.json"} {
			os.Remove(s.path(f))
		}
		st := p.state()
		return &Response{State: &st, Exit: st.Exit}, nil
	}
	s.mu.Lock()
	p := s.init
	s.mu.Unlock()
	if p == nil {
		return &Response{}, nil
	}
	st := p.state()
	if (st.Status == StatusRunning || st.Status == StatusPaused) && !force {
		return nil, fmt.Errorf("delete container %s: it is %s: kill it first: %w", s.cfg.ID, st.Status, errdefs.ErrFailedPrecondition)
	}
	args := []string{"delete", s.cfg.ID}
	if st.Status != StatusStopped {
		// The runtime kills every process (thawing a paused container).
		args = []string{"delete", "--force", s.cfg.ID}
	}
	if err := s.runtime(nil, args...); err != nil {
		return nil, fmt.Errorf("delete container %s: %w", s.cfg.ID, err)
	}
	if st.Status != StatusStopped {
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			s.log.Warn("delete: init did not exit after the runtime's delete --force", "pid", st.Pid)
		}
	}
	s.mu.Lock()
	s.deleted = true
	execs := s.execs
	s.execs = map[string]*process{}
	s.mu.Unlock()
	for _, e := range execs {
		e.closeAll()
	}
	p.closeAll()
	st = p.state()
	return &Response{State: &st, Exit: st.Exit}, nil
}

// runtime runs one command of the OCI runtime and waits for it. files are
// its stdio (nil: /dev/null in, output captured for the error message).
func (s *Shim) runtime(files []*os.File, args ...string) error {
	argv := []string{s.cfg.Runtime}
	if s.cfg.RuntimeRoot != "" {
		argv = append(argv, "--root", s.cfg.RuntimeRoot)
	}
	logPath := s.path("runtime.log")
	argv = append(argv, "--log", logPath, "--log-format", "json")
	argv = append(argv, s.cfg.RuntimeArgs...)
	argv = append(argv, args...)
	var logOff int64
	if st, err := os.Stat(logPath); err == nil {
		logOff = st.Size()
	}
	var out *os.File
	if files == nil {
		null, err := os.Open(os.DevNull)
		if err != nil {
			return err
		}
		defer null.Close()
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		out = r
		defer r.Close()
		files = []*os.File{null, w, w}
		defer w.Close()
	}
	_, ch, err := s.reaper.start(s.cfg.Runtime, argv, files, s.cfg.StateDir)
	if err != nil {
		return fmt.Errorf("run %s: %w", s.cfg.Runtime, err)
	}
	var output []byte
	if out != nil {
		files[1].Close()
		output, _ = io.ReadAll(io.LimitReader(out, 64<<10))
	}
	ws := <-ch
	if ws.Exited() && ws.ExitStatus() == 0 {
		return nil
	}
	code, _ := exitCode(ws)
	msg := strings.TrimSpace(string(output))
	if m := lastRuntimeError(logPath, logOff); m != "" {
		msg = m
	}
	if msg == "" {
		msg = fmt.Sprintf("exit status %d", code)
	}
	return fmt.Errorf("%s %s: %s", filepath.Base(s.cfg.Runtime), args[0], msg)
}

// lastRuntimeError is the message of the last error in the runtime's JSON
// log.
func lastRuntimeError(path string, off int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, off, 1<<20))
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := len(lines) - 1; i >= 0 && i >= len(lines)-20; i-- {
		var m struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal([]byte(lines[i]), &m) == nil && (m.Level == "error" || m.Level == "fatal") && m.Msg != "" {
			return m.Msg
		}
	}
	return ""
}
