package shim

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/runtime/console"
	"github.com/berth-containers/berth/shim/logs"
)

// process is the container's init (id "") or one exec process.
type process struct {
	s        *Shim
	execID   string
	terminal bool
	stdin    bool

	mu       sync.Mutex
	pid      int
	status   string
	exit     *ExitStatus
	exited   chan struct{}
	started  bool
	stdinW   *os.File // our end of the stdin pipe, or the pty master
	console  *os.File
	outputs  []*os.File // read ends being copied
	child    []*os.File // the process's ends, closed once the runtime has them
	consLn   *listener
	consPath string
	logw     *logs.Writer
	attached map[*attachment]struct{}
	outDone  chan struct{}
	copying  bool
	size     *ConsoleSize
	// An exec's stdio for the runtime, made at Exec, used at Start.
	childFiles  []*os.File
	consoleSock string
}

func newProcess(s *Shim, execID string, terminal, stdin bool) *process {
	return &process{s: s, execID: execID, terminal: terminal, stdin: stdin, status: StatusCreated,
		exited: make(chan struct{}), attached: map[*attachment]struct{}{}, outDone: make(chan struct{})}
}

// setupIO makes the process's stdio and returns the files to give the
// runtime command, plus a console socket path with a terminal.
func (p *process) setupIO() (files []*os.File, consoleSocket string, err error) {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, "", err
	}
	defer func() {
		if err != nil {
			p.closeAll()
		}
	}()
	if p.terminal {
		p.child = []*os.File{null}
		name := "console.sock"
		if p.execID != "" {
			name = "console-" + p.execID + ".sock"
		}
		path := SocketPath(p.s.cfg.StateDir, name)
		if len(path) > len(p.s.cfg.StateDir) && path[:len(SocketDir)] == SocketDir {
			_ = os.MkdirAll(SocketDir, 0o700)
		}
		_ = os.Remove(path)
		ln, err := listenUnix(path)
		if err != nil {
			return nil, "", fmt.Errorf("console socket: %w", err)
		}
		p.consLn, p.consPath = ln, path
		return []*os.File{null, null, null}, path, nil
	}
	files = []*os.File{null, nil, nil}
	p.child = []*os.File{null}
	if p.stdin {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, "", err
		}
		files[0], p.stdinW = r, w
		p.child = append(p.child, r)
	}
	for i := 1; i <= 2; i++ {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, "", err
		}
		files[i] = w
		p.child = append(p.child, w)
		p.outputs = append(p.outputs, r)
	}
	return files, "", nil
}

// closeChild closes the process's ends of the pipes once the runtime has
// started (they live on in the container).
func (p *process) closeChild() {
	for _, f := range p.child {
		f.Close()
	}
	p.child = nil
}

// receiveConsole takes the pty master the runtime sent to the console socket.
func (p *process) receiveConsole(size *ConsoleSize) error {
	ln := p.consLn
	p.consLn = nil
	defer ln.close()
	_ = ln.setDeadline(time.Now().Add(10 * time.Second))
	conn, err := ln.accept()
	if err != nil {
		return fmt.Errorf("console socket: the runtime sent no pty (is process.terminal set in config.json?): %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fd, err := recvFd(conn)
	if err != nil {
		return fmt.Errorf("console socket: receive pty: %w", err)
	}
	_ = unix.SetNonblock(fd, true)
	master := os.NewFile(uintptr(fd), "pty-master")
	if size != nil && size.Width > 0 && size.Height > 0 {
		if err := console.SetSize(master, uint(size.Height), uint(size.Width)); err != nil {
			master.Close()
			return fmt.Errorf("console size: %w", err)
		}
	}
	p.console = master
	p.outputs = []*os.File{master}
	if p.stdin {
		p.stdinW = master
	}
	return nil
}

// startCopy starts copying the process's output to its log and attached
// clients.
func (p *process) startCopy() {
	p.mu.Lock()
	outs := p.outputs
	cons := p.console
	p.copying = true
	p.mu.Unlock()
	var wg sync.WaitGroup
	streams := []string{"stdout", "stderr"}
	for i, f := range outs {
		wg.Add(1)
		go p.copyOut(f, f == cons, streams[i], byte(i+1), &wg)
	}
	go func() {
		wg.Wait()
		p.mu.Lock()
		for a := range p.attached {
			a.end()
		}
		p.attached = map[*attachment]struct{}{}
		p.mu.Unlock()
		close(p.outDone)
	}()
}

func (p *process) copyOut(f *os.File, isConsole bool, stream string, id byte, wg *sync.WaitGroup) {
	defer wg.Done()
	var split *logs.LineSplitter
	if p.logw != nil {
		w := p.logw
		split = &logs.LineSplitter{Stream: stream, Emit: func(stream string, text []byte) {
			if err := w.WriteEntry(stream, text); err != nil {
				p.s.log.Warn("write log", "path", w.Path(), "err", err)
			}
		}}
	}
	buf := make([]byte, 16*1024)
	var targets []*attachment
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if split != nil {
				split.Write(buf[:n])
			}
			// Send outside the process lock: a slow client must not
			// hold up State, Kill and the other calls.
			p.mu.Lock()
			targets = targets[:0]
			for a := range p.attached {
				targets = append(targets, a)
			}
			p.mu.Unlock()
			for _, a := range targets {
				if !a.send(id, buf[:n]) {
					p.mu.Lock()
					delete(p.attached, a)
					p.mu.Unlock()
				}
			}
		}
		if err != nil {
			if split != nil {
				split.Flush()
			}
			if !isConsole {
				f.Close()
			}
			return
		}
	}
}

// waitOutput waits until output copying ended, at most d.
func (p *process) waitOutput(d time.Duration) {
	p.mu.Lock()
	copying := p.copying
	p.mu.Unlock()
	if !copying {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.outDone:
	case <-t.C:
	}
}

// closeAll releases every file the process holds.
func (p *process) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeChild()
	if p.consLn != nil {
		p.consLn.close()
		p.consLn = nil
	}
	if p.stdinW != nil && p.stdinW != p.console {
		p.stdinW.Close()
	}
	p.stdinW = nil
	if !p.copying {
		for _, f := range p.outputs {
			f.Close()
		}
		p.outputs = nil
		// Never started: no output will come to attached clients.
		for a := range p.attached {
			a.end()
		}
		p.attached = map[*attachment]struct{}{}
	}
	if p.console != nil {
		p.console.Close()
		p.console = nil
	}
	if p.logw != nil {
		p.logw.Close()
	}
}

// closeStdin closes the process's stdin (with a pty: sends EOF, ^D).
func (p *process) closeStdin() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stdinW == nil {
		return nil
	}
	if p.stdinW == p.console {
		_, err := p.console.Write([]byte{4})
		p.stdinW = nil
		return err
	}
	err := p.stdinW.Close()
	p.stdinW = nil
	return err
}

func (p *process) writeStdin(b []byte) error {
	p.mu.Lock()
	w := p.stdinW
	p.mu.Unlock()
	if w == nil {
		return errors.New("stdin closed")
	}
	_, err := w.Write(b)
	return err
}

func (p *process) state() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := State{ID: p.s.cfg.ID, ExecID: p.execID, Pid: p.pid, Status: p.status, ShimPid: os.Getpid()}
	if p.exit != nil {
		e := *p.exit
		st.Exit = &e
		st.Status = StatusStopped
	}
	return st
}

func (p *process) resize(size *ConsoleSize) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.terminal {
		return fmt.Errorf("resize: process %q has no terminal: %w", p.execID, errdefs.ErrFailedPrecondition)
	}
	if p.console == nil {
		p.size = size
		return nil
	}
	return console.SetSize(p.console, uint(size.Height), uint(size.Width))
}
