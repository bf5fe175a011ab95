package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/container"
)

// Containers returns the Containers service client.
func (c *Client) Containers() berthv1.ContainersClient { return berthv1.NewContainersClient(c.conn) }

// DecodeContainer decodes a container record from a response.
func DecodeContainer(b []byte) (container.Container, error) {
	var ctr container.Container
	if err := json.Unmarshal(b, &ctr); err != nil {
		return ctr, fmt.Errorf("container record from the daemon: %w", err)
	}
	return ctr, nil
}

// IO is a client's end of an attached process.
type IO struct {
	// Stdin, when set, is sent to the process; its EOF closes the process's stdin.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Resize carries terminal sizes (width, height).
	Resize <-chan [2]uint16
	// Size is the terminal's size at the start (zero: none).
	Size [2]uint16
	// Started is called once the process runs, with the id the daemon
	// gives (container or exec id).
	Started func(id string)
}

// ioClient is a Start, Attach or Exec stream.
type ioClient interface {
	Send(*berthv1.IORequest) error
	Recv() (*berthv1.IOFrame, error)
	CloseSend() error
}

// Exited is the result of an attached process.
type Exited struct {
	Code   int
	Reason string
	// Detached: the stream ended without an exit (nothing was attached).
	Detached bool
}

// StreamIO runs one Start, Attach or Exec exchange: it sends first, then
// stdin and resizes, and writes the output until the exit frame.
func StreamIO(st ioClient, first *berthv1.IORequest, o IO) (Exited, error) {
	if err := st.Send(first); err != nil {
		return Exited{}, err
	}
	var mu sync.Mutex
	send := func(r *berthv1.IORequest) error { mu.Lock(); defer mu.Unlock(); return st.Send(r) }
	done := make(chan struct{})
	defer close(done)
	started := false
	for {
		f, err := st.Recv()
		if err == io.EOF {
			return Exited{Detached: true}, nil
		}
		if err != nil {
			return Exited{}, err
		}
		switch f.Kind {
		case berthv1.IOFrame_STARTED:
			if started {
				continue
			}
			started = true
			if o.Started != nil {
				o.Started(f.Id)
			}
			if o.Stdin != nil {
				go func() {
					buf := make([]byte, 32*1024)
					for {
						n, err := o.Stdin.Read(buf)
						if n > 0 {
							if send(&berthv1.IORequest{Data: append([]byte(nil), buf[:n]...)}) != nil {
								return
							}
						}
						if err != nil {
							_ = send(&berthv1.IORequest{CloseStdin: true})
							return
						}
					}
				}()
			}
			if o.Resize != nil {
				go func() {
					for {
						select {
						case sz := <-o.Resize:
							_ = send(&berthv1.IORequest{Width: uint32(sz[0]), Height: uint32(sz[1])})
						case <-done:
							return
						}
					}
				}()
			}
		case berthv1.IOFrame_STDOUT:
			if o.Stdout != nil {
				o.Stdout.Write(f.Data)
			}
		case berthv1.IOFrame_STDERR:
			if o.Stderr != nil {
				o.Stderr.Write(f.Data)
			}
		case berthv1.IOFrame_EXIT:
			return Exited{Code: int(f.ExitCode), Reason: f.Error}, nil
		}
	}
}

// StartContainer starts a container, attached or not.
func (c *Client) StartContainer(ctx context.Context, id string, attach, stdin bool, o IO) (Exited, error) {
	st, err := c.Containers().Start(c.Context(ctx))
	if err != nil {
		return Exited{}, err
	}
	if !stdin {
		o.Stdin = nil
	}
	return StreamIO(st, &berthv1.IORequest{Id: id, Attach: attach, Stdin: stdin, Width: uint32(o.Size[0]), Height: uint32(o.Size[1])}, o)
}
