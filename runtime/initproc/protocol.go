package initproc

import (
	"encoding/json"
	"fmt"
	"io"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/runtime/nsexec"
)

// Kinds of init.
const (
	KindCreate = "create"
	KindExec   = "exec"
)

// Config is everything the parent tells an init process; it travels as one
// JSON frame over the sync socket after the C stage is done.
type Config struct {
	Kind    string         `json:"kind"`
	ID      string         `json:"id"`
	Bundle  string         `json:"bundle"`
	Spec    *specs.Spec    `json:"spec"`    // create: the whole config; exec: the container's
	Process *specs.Process `json:"process"` // the process to run
	NoPivot bool           `json:"noPivot,omitempty"`
	// NoNewKeyring keeps the caller's session keyring.
	NoNewKeyring bool `json:"noNewKeyring,omitempty"`
	// Fds inherited from the parent (numbers inside this process); -1 when absent.
	FifoFD    int `json:"fifoFd"` // O_PATH fd of the state directory holding FifoName
	ConsoleFD int `json:"consoleFd"`
	// PreserveFDs: fds 3 .. 3+PreserveFDs-1 are passed to the user process.
	PreserveFDs int `json:"preserveFds"`
	// CgroupPaths maps v1 controllers ("" for v2) to the container's cgroup path,
	// for a cgroup mount without a cgroup namespace.
	CgroupPaths map[string]string `json:"cgroupPaths,omitempty"`
	Rootless    bool              `json:"rootless,omitempty"`
	// HostPid is the init's pid as the runtime sees it (exec: the process's).
	HostPid int `json:"hostPid"`
}

// FifoName is the exec fifo inside the state directory; opening it for writing
// blocks init until `start` opens it for reading.
const FifoName = "exec.fifo"

// Message types on the sync socket.
const (
	MsgMounted   = "mounted"    // init → parent: mounts done, run prestart/createRuntime
	MsgHooksDone = "hooks-done" // parent → init: carry on
	MsgReady     = "ready"      // init → parent: created (create) / about to exec (exec)
	MsgError     = "error"      // init → parent: failed, Error says why
)

// Message is one sync-socket message.
type Message struct {
	Type  string       `json:"type"`
	Error string       `json:"error,omitempty"`
	State *specs.State `json:"state,omitempty"`
}

// Send writes m as a frame.
func Send(w io.Writer, m Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return nsexec.WriteFrame(w, b)
}

// Receive reads one frame as a Message.
func Receive(r io.Reader) (Message, error) {
	var m Message
	b, err := nsexec.ReadFrame(r)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("sync message: %w", err)
	}
	return m, nil
}
