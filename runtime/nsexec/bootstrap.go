package nsexec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/sys/unix"
)

// EnvInitPipe names the environment variable that carries the sync socket's fd
// number to the C stage and to the Go init.
const EnvInitPipe = "_BERTH_INITPIPE"

// Bootstrap attribute types (keep in sync with nsexec.c).
const (
	attrCloneFlags   = 1
	attrNSPath       = 2
	attrTimensOffset = 3
	attrSelfJoin     = 4
)

// maxFrame bounds any frame read from the other side.
const maxFrame = 16 << 20

// NSPath is a namespace to join: its CLONE_NEW* flag and its path.
type NSPath struct {
	Flag uint32
	Path string
}

// Bootstrap is what the C stage needs.
type Bootstrap struct {
	CloneFlags  uint32   // namespaces to create
	Join        []NSPath // namespaces to join, in any order (user is joined first)
	TimeOffsets string   // written to /proc/self/timens_offsets when a time ns is new
	// SelfJoin: after reporting its pid, the final process waits for the
	// parent's cgroup frame (see CgroupFrame) and joins the cgroup v1 "tasks"
	// files it lists itself, while it is still single-threaded.
	SelfJoin bool
}

// Encode returns the bootstrap payload (without the frame header).
func (b *Bootstrap) Encode() []byte {
	var out []byte
	put := func(t uint32, data []byte) {
		out = binary.NativeEndian.AppendUint32(out, t)
		out = binary.NativeEndian.AppendUint32(out, uint32(len(data)))
		out = append(out, data...)
	}
	put(attrCloneFlags, binary.NativeEndian.AppendUint32(nil, b.CloneFlags))
	for _, p := range b.Join {
		put(attrNSPath, append(binary.NativeEndian.AppendUint32(nil, p.Flag), p.Path...))
	}
	if b.TimeOffsets != "" {
		put(attrTimensOffset, []byte(b.TimeOffsets))
	}
	if b.SelfJoin {
		put(attrSelfJoin, nil)
	}
	return out
}

// Decode parses a bootstrap payload; it mirrors the C parser and exists so the
// format is tested (and fuzzed) from Go.
func Decode(msg []byte) (*Bootstrap, error) {
	b := &Bootstrap{}
	for len(msg) > 0 {
		if len(msg) < 8 {
			return nil, errors.New("bootstrap: truncated attribute header")
		}
		t := binary.NativeEndian.Uint32(msg)
		n := binary.NativeEndian.Uint32(msg[4:])
		msg = msg[8:]
		if uint64(n) > uint64(len(msg)) {
			return nil, fmt.Errorf("bootstrap: attribute %d overruns message", t)
		}
		data := msg[:n]
		msg = msg[n:]
		switch t {
		case attrCloneFlags:
			if n != 4 {
				return nil, fmt.Errorf("bootstrap: clone flags attribute has length %d", n)
			}
			b.CloneFlags = binary.NativeEndian.Uint32(data)
		case attrNSPath:
			if n < 5 {
				return nil, errors.New("bootstrap: namespace path attribute too short")
			}
			b.Join = append(b.Join, NSPath{Flag: binary.NativeEndian.Uint32(data), Path: string(data[4:])})
		case attrTimensOffset:
			b.TimeOffsets = string(data)
		case attrSelfJoin:
			if n != 0 {
				return nil, fmt.Errorf("bootstrap: self-join attribute has length %d", n)
			}
			b.SelfJoin = true
		default:
			return nil, fmt.Errorf("bootstrap: unknown attribute %d", t)
		}
	}
	return b, nil
}

// WriteFrame writes one length-prefixed frame.
func WriteFrame(w io.Writer, payload []byte) error {
	buf := make([]byte, 4, 4+len(payload))
	binary.NativeEndian.PutUint32(buf, uint32(len(payload)))
	buf = append(buf, payload...)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one length-prefixed frame.
func ReadFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.NativeEndian.Uint32(hdr[:])
	if n > maxFrame {
		return nil, fmt.Errorf("sync frame of %d bytes is too large", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// CgroupFrame is the parent's go-ahead to a final process that waits for its
// cgroups (a new cgroup namespace, or SelfJoin): 'c', then the cgroup v1
// "tasks" files it must join itself, each followed by a NUL. Writing "0" to a
// tasks file moves only the writing thread, which for a single-threaded
// process is the whole process, and it spares the kernel's global
// threadgroup lock that a pid written by another process takes (and the RCU
// grace period that lock waits for).
func CgroupFrame(tasks []string) ([]byte, error) {
	out := []byte{'c'}
	for _, t := range tasks {
		if t == "" || strings.IndexByte(t, 0) >= 0 {
			return nil, fmt.Errorf("cgroup tasks file %q: empty or contains NUL", t)
		}
		out = append(append(out, t...), 0)
	}
	return out, nil
}

// Reply kinds sent by the C stage.
const (
	ReplyUserMap = 'U' // a new user namespace waits for its uid/gid maps
	ReplyPid     = 'P' // the final init's pid (in the runtime's pid namespace)
	ReplyError   = 'E' // the C stage failed; the text says why
)

// NSFlag maps a runtime-spec namespace type to its CLONE_NEW* flag.
func NSFlag(typ string) (uint32, bool) {
	switch typ {
	case "user":
		return unix.CLONE_NEWUSER, true
	case "mount":
		return unix.CLONE_NEWNS, true
	case "uts":
		return unix.CLONE_NEWUTS, true
	case "ipc":
		return unix.CLONE_NEWIPC, true
	case "network":
		return unix.CLONE_NEWNET, true
	case "pid":
		return unix.CLONE_NEWPID, true
	case "cgroup":
		return unix.CLONE_NEWCGROUP, true
	case "time":
		return unix.CLONE_NEWTIME, true
	}
	return 0, false
}

// ProcName is the name of a namespace type under /proc/<pid>/ns.
func ProcName(typ string) string {
	switch typ {
	case "mount":
		return "mnt"
	case "network":
		return "net"
	}
	return typ
}
