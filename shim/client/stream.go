package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/berth-containers/berth/shim"
)

func jsonMarshal(v any) ([]byte, error)   { return json.Marshal(v) }
func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// AttachOpts say which streams to attach. Nil writers are not attached.
type AttachOpts struct {
	// Stdin, when set, is copied to the process's stdin (which must have
	// been created with Stdin).
	Stdin io.Reader
	// StdinOnce closes the process's stdin when Stdin reaches EOF
	// (docker's behaviour for `run -i` / `start -ai`).
	StdinOnce bool
	Stdout    io.Writer
	// Stderr is unused for a process with a terminal (one stream).
	Stderr io.Writer
}

// Attachment is one attached client.
type Attachment struct {
	conn *net.UnixConn
	done chan struct{}
	once sync.Once
	err  error
}

// Wait returns once the process's output has ended (nil), or the shim
// went away, or the attachment was closed.
func (a *Attachment) Wait() error {
	<-a.done
	return a.err
}

// Done is closed when the attachment ends.
func (a *Attachment) Done() <-chan struct{} { return a.done }

// Close detaches; the process keeps running.
func (a *Attachment) Close() error {
	return a.conn.Close()
}

// Attach streams the process's output to opts' writers, and opts.Stdin to
// the process, until the output ends or Close.
func (c *Client) Attach(ctx context.Context, execID string, opts AttachOpts) (*Attachment, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	req := &shim.Request{Method: shim.MethodAttach, ExecID: execID, Stdin: opts.Stdin != nil,
		StdinOnce: opts.StdinOnce, Stdout: opts.Stdout != nil, Stderr: opts.Stderr != nil}
	if _, err := c.roundTrip(ctx, conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	a := &Attachment{conn: conn, done: make(chan struct{})}
	if opts.Stdin != nil {
		go func() {
			buf := make([]byte, 32*1024)
			for {
				n, err := opts.Stdin.Read(buf)
				if n > 0 {
					if werr := shim.WriteStream(conn, shim.StreamStdin, buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					_ = shim.WriteStream(conn, shim.StreamStdin, nil)
					return
				}
			}
		}()
	}
	go func() {
		defer close(a.done)
		defer conn.Close()
		buf := make([]byte, shim.MaxStreamFrame)
		for {
			stream, data, err := shim.ReadStream(conn, buf)
			if err != nil {
				a.err = fmt.Errorf("attach to %s: output did not end: %w", c.cfg.ID, err)
				return
			}
			var w io.Writer
			switch stream {
			case shim.StreamEnd:
				return
			case shim.StreamStdout:
				w = opts.Stdout
			case shim.StreamStderr:
				w = opts.Stderr
			}
			if w != nil {
				if _, err := w.Write(data); err != nil {
					a.err = fmt.Errorf("attach to %s: write output: %w", c.cfg.ID, err)
					return
				}
			}
		}
	}()
	return a, nil
}

// Events streams the shim's exit and OOM events until ctx ends or the shim
// goes away; the channel is then closed.
func (c *Client) Events(ctx context.Context) (<-chan shim.Event, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.roundTrip(context.Background(), conn, &shim.Request{Method: shim.MethodEvents}); err != nil {
		conn.Close()
		return nil, err
	}
	ch := make(chan shim.Event, 16)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	go func() {
		defer close(ch)
		defer stop()
		defer conn.Close()
		for {
			b, err := shim.ReadFrame(conn)
			if err != nil {
				return
			}
			var ev shim.Event
			if json.Unmarshal(b, &ev) != nil {
				continue
			}
			select {
			case ch <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}
