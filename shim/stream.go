package shim

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/berth-containers/berth/internal/errdefs"
)

// attachment is one attached client's connection in stream mode.
type attachment struct {
	mu     sync.Mutex
	c      *os.File
	stdout bool
	stderr bool
	closed bool
	done   chan struct{}
}

// slowClient is how long an attached client may block the output before it
// is dropped (the container's output must keep flowing to the log).
const slowClient = 10 * time.Second

func (a *attachment) send(stream byte, b []byte) bool {
	if stream == StreamStdout && !a.stdout || stream == StreamStderr && !a.stderr {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	_ = a.c.SetWriteDeadline(time.Now().Add(slowClient))
	if err := WriteStream(a.c, stream, b); err != nil {
		a.closed = true
		close(a.done)
		return false
	}
	return true
}

// end tells the client the output has ended.
func (a *attachment) end() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	_ = a.c.SetWriteDeadline(time.Now().Add(slowClient))
	_ = WriteStream(a.c, StreamEnd, nil)
	a.closed = true
	close(a.done)
}

func (s *Shim) attach(c *os.File, req *Request) {
	p, err := s.process(req.ExecID)
	if err != nil {
		_ = WriteFrame(c, ErrorResponse(err))
		return
	}
	if req.Stdin && !p.stdin {
		_ = WriteFrame(c, ErrorResponse(fmt.Errorf("attach stdin: process %q was created without stdin: %w", req.ExecID, errdefs.ErrFailedPrecondition)))
		return
	}
	a := &attachment{c: c, stdout: req.Stdout, stderr: req.Stderr, done: make(chan struct{})}
	p.mu.Lock()
	ended := false
	select {
	case <-p.outDone:
		ended = true
	default:
	}
	if err := WriteFrame(c, &Response{}); err != nil {
		p.mu.Unlock()
		return
	}
	if ended {
		p.mu.Unlock()
		a.end()
		return
	}
	p.attached[a] = struct{}{}
	p.mu.Unlock()
	// Client to shim: stdin frames until the client goes away.
	go func() {
		buf := make([]byte, 0, 4096)
		for {
			stream, data, err := ReadStream(c, buf)
			if err != nil {
				break
			}
			if stream != StreamStdin || !req.Stdin {
				continue
			}
			if len(data) == 0 {
				if req.StdinOnce {
					_ = p.closeStdin()
				}
				continue
			}
			if err := p.writeStdin(data); err != nil {
				s.log.Debug("attach: write stdin", "exec", req.ExecID, "err", err)
			}
		}
		// Detached: stop sending.
		p.mu.Lock()
		delete(p.attached, a)
		p.mu.Unlock()
		a.mu.Lock()
		if !a.closed {
			a.closed = true
			close(a.done)
		}
		a.mu.Unlock()
	}()
	<-a.done
}

func (s *Shim) wait(c *os.File, req *Request) {
	p, err := s.process(req.ExecID)
	if err != nil {
		_ = WriteFrame(c, ErrorResponse(err))
		return
	}
	gone := make(chan struct{})
	go func() {
		var b [1]byte
		c.Read(b[:])
		close(gone)
	}()
	select {
	case <-p.exited:
		p.mu.Lock()
		e := *p.exit
		p.mu.Unlock()
		_ = WriteFrame(c, &Response{Exit: &e})
	case <-gone:
	}
}

func (s *Shim) events(c *os.File) {
	ch := make(chan Event, 64)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if _, ok := s.subs[ch]; ok {
			delete(s.subs, ch)
		}
		s.mu.Unlock()
	}()
	if err := WriteFrame(c, &Response{}); err != nil {
		return
	}
	gone := make(chan struct{})
	go func() {
		var b [1]byte
		c.Read(b[:])
		close(gone)
	}()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return
			}
			_ = c.SetWriteDeadline(time.Now().Add(slowClient))
			if err := WriteFrame(c, &ev); err != nil {
				return
			}
		case <-gone:
			return
		}
	}
}
