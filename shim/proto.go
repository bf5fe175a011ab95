package shim

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
)

// The wire protocol. Every message is a frame: a 4-byte big-endian length
// then that many bytes of JSON. A connection carries one Request and one
// Response; "wait" answers when the process exits (a long poll), "events"
// answers once and then sends one Event frame per event, and "attach"
// answers once and then switches the connection to stream frames (see
// WriteStream below).
const MaxFrame = 1 << 20

// Methods.
const (
	MethodPing       = "ping"
	MethodCreate     = "create"
	MethodStart      = "start"
	MethodKill       = "kill"
	MethodWait       = "wait"
	MethodState      = "state"
	MethodPause      = "pause"
	MethodResume     = "resume"
	MethodUpdate     = "update"
	MethodStats      = "stats"
	MethodExec       = "exec"
	MethodResize     = "resize"
	MethodCloseStdin = "closeStdin"
	MethodAttach     = "attach"
	MethodEvents     = "events"
	MethodDelete     = "delete"
	MethodShutdown   = "shutdown"
)

// Request is one API call. Fields other than Method and ExecID are used by
// the methods that need them.
type Request struct {
	Method    string                `json:"method"`
	ExecID    string                `json:"execID,omitempty"`
	Create    *CreateOpts           `json:"create,omitempty"`
	Exec      *ExecOpts             `json:"exec,omitempty"`
	Process   *specs.Process        `json:"process,omitempty"`
	Signal    int                   `json:"signal,omitempty"`
	All       bool                  `json:"all,omitempty"`
	Resources *specs.LinuxResources `json:"resources,omitempty"`
	Size      *ConsoleSize          `json:"size,omitempty"`
	// Delete: kill whatever still runs (also a paused container) first.
	Force bool `json:"force,omitempty"`
	// Attach: close the process's stdin when the client's stdin ends.
	StdinOnce bool `json:"stdinOnce,omitempty"`
	// Attach: which streams the client wants.
	Stdin  bool `json:"stdin,omitempty"`
	Stdout bool `json:"stdout,omitempty"`
	Stderr bool `json:"stderr,omitempty"`
}

// Response answers a Request. Error is empty on success; Kind is the
// errdefs kind of the error ("not found", "invalid argument", …).
type Response struct {
	Error string      `json:"error,omitempty"`
	Kind  string      `json:"kind,omitempty"`
	State *State      `json:"state,omitempty"`
	Exit  *ExitStatus `json:"exit,omitempty"`
	Stats *Stats      `json:"stats,omitempty"`
}

var kinds = []error{errdefs.ErrNotFound, errdefs.ErrAlreadyExists, errdefs.ErrInvalidArgument,
	errdefs.ErrFailedPrecondition, errdefs.ErrUnavailable, errdefs.ErrNotImplemented}

// ErrorResponse makes the Response for err.
func ErrorResponse(err error) *Response {
	r := &Response{Error: err.Error()}
	for _, k := range kinds {
		if errors.Is(err, k) {
			r.Kind = k.Error()
			break
		}
	}
	return r
}

// Err turns a failed Response back into an error of the same kind.
func (r *Response) Err() error {
	if r.Error == "" {
		return nil
	}
	for _, k := range kinds {
		if r.Kind == k.Error() {
			return &remoteError{msg: r.Error, kind: k}
		}
	}
	return errors.New(r.Error)
}

type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

// WriteFrame writes one frame holding v as JSON.
func WriteFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > MaxFrame {
		return fmt.Errorf("frame of %d bytes exceeds %d: %w", len(b), MaxFrame, errdefs.ErrInvalidArgument)
	}
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	_, err = w.Write(buf)
	return err
}

// ReadFrame reads one frame's payload.
func ReadFrame(r io.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n > MaxFrame {
		return nil, fmt.Errorf("frame length %d exceeds %d: %w", n, MaxFrame, errdefs.ErrInvalidArgument)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// DecodeRequest reads and checks one Request frame.
func DecodeRequest(r io.Reader) (*Request, error) {
	b, err := ReadFrame(r)
	if err != nil {
		return nil, err
	}
	var req Request
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, fmt.Errorf("request: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return &req, nil
}

// Validate checks the fields the method needs.
func (r *Request) Validate() error {
	if r.ExecID != "" {
		if err := ValidExecID(r.ExecID); err != nil {
			return err
		}
	}
	switch r.Method {
	case MethodPing, MethodStart, MethodWait, MethodState, MethodPause, MethodResume, MethodStats,
		MethodCloseStdin, MethodAttach, MethodEvents, MethodDelete, MethodShutdown:
	case MethodCreate:
		if r.Create == nil {
			return fmt.Errorf("create: field create: missing: %w", errdefs.ErrInvalidArgument)
		}
		if r.Create.LogMaxSize < 0 {
			return fmt.Errorf("create: logMaxSize %d: must be >= 0: %w", r.Create.LogMaxSize, errdefs.ErrInvalidArgument)
		}
		if r.Create.LogMaxFiles < 0 {
			return fmt.Errorf("create: logMaxFiles %d: must be >= 0: %w", r.Create.LogMaxFiles, errdefs.ErrInvalidArgument)
		}
	case MethodExec:
		if r.ExecID == "" {
			return fmt.Errorf("exec: field execID: missing: %w", errdefs.ErrInvalidArgument)
		}
		if r.Process == nil || len(r.Process.Args) == 0 {
			return fmt.Errorf("exec %s: process.args: missing: %w", r.ExecID, errdefs.ErrInvalidArgument)
		}
		if r.Exec == nil {
			r.Exec = &ExecOpts{}
		}
		if r.Exec.Terminal != r.Process.Terminal {
			return fmt.Errorf("exec %s: terminal %v but process.terminal %v: %w", r.ExecID, r.Exec.Terminal, r.Process.Terminal, errdefs.ErrInvalidArgument)
		}
	case MethodKill:
		if r.Signal <= 0 || r.Signal > 64 {
			return fmt.Errorf("kill: signal %d: must be 1..64: %w", r.Signal, errdefs.ErrInvalidArgument)
		}
	case MethodUpdate:
		if r.Resources == nil {
			return fmt.Errorf("update: field resources: missing: %w", errdefs.ErrInvalidArgument)
		}
	case MethodResize:
		if r.Size == nil || r.Size.Width == 0 || r.Size.Height == 0 {
			return fmt.Errorf("resize: size: width and height must be > 0: %w", errdefs.ErrInvalidArgument)
		}
	case "":
		return fmt.Errorf("request: field method: missing: %w", errdefs.ErrInvalidArgument)
	default:
		return fmt.Errorf("request: method %q: unknown: %w", r.Method, errdefs.ErrNotImplemented)
	}
	return nil
}

// ValidExecID checks an exec id: 1–64 of [A-Za-z0-9_.-], not starting with
// a dot (it becomes part of file names).
func ValidExecID(id string) error {
	if len(id) == 0 || len(id) > 64 || id[0] == '.' {
		return fmt.Errorf("exec id %q: must be 1-64 characters of [A-Za-z0-9_.-], not starting with '.': %w", id, errdefs.ErrInvalidArgument)
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("exec id %q: character %q not allowed: %w", id, c, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// Stream frames, used after "attach": a 1-byte stream id, a 4-byte
// big-endian length, then the data. Client to shim: StreamStdin data; an
// empty StreamStdin frame means the client's stdin ended. Shim to client:
// StreamStdout, StreamStderr data, then one StreamEnd frame when the
// process's output has ended (its payload is empty).
const (
	StreamStdin  byte = 0
	StreamStdout byte = 1
	StreamStderr byte = 2
	StreamEnd    byte = 3
	// MaxStreamFrame is the largest stream frame payload.
	MaxStreamFrame = 64 * 1024
)

// WriteStream writes one stream frame.
func WriteStream(w io.Writer, stream byte, p []byte) error {
	for {
		n := len(p)
		if n > MaxStreamFrame {
			n = MaxStreamFrame
		}
		buf := make([]byte, 5+n)
		buf[0] = stream
		binary.BigEndian.PutUint32(buf[1:], uint32(n))
		copy(buf[5:], p[:n])
		if _, err := w.Write(buf); err != nil {
			return err
		}
		p = p[n:]
		if len(p) == 0 {
			return nil
		}
	}
}

// ReadStream reads one stream frame into buf (grown as needed).
func ReadStream(r io.Reader, buf []byte) (stream byte, data []byte, err error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if h[0] > StreamEnd {
		return 0, nil, fmt.Errorf("stream frame: stream id %d unknown: %w", h[0], errdefs.ErrInvalidArgument)
	}
	if n > MaxStreamFrame {
		return 0, nil, fmt.Errorf("stream frame length %d exceeds %d: %w", n, MaxStreamFrame, errdefs.ErrInvalidArgument)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return h[0], buf, nil
}
