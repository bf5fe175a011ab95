package initproc

import (
	"encoding/json"
	"fmt"
	"io"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/runtime/nsexec"
	"github.com/berth-containers/berth/runtime/spec"
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
	// SpecJSON is Spec as config.json (or state.json) has it, sent as it is
	// when set.
	SpecJSON json.RawMessage `json:"-"`
	// ProcessFromSpec (on the wire): Process is Spec.Process.
	ProcessFromSpec bool `json:"processFromSpec,omitempty"`
	NoPivot         bool `json:"noPivot,omitempty"`
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

// EncodeConfig writes c as the frame init reads. The configuration goes as
// the JSON it came in when the caller has it, and a create's process (the
// configuration's own) is not sent twice: encoding specs types with
// encoding/json first prepares codecs for their whole type tree, work that
// every container start would pay for.
func EncodeConfig(c *Config) ([]byte, error) {
	m := map[string]any{
		"kind": c.Kind, "id": c.ID, "bundle": c.Bundle, "fifoFd": c.FifoFD, "consoleFd": c.ConsoleFD,
		"preserveFds": c.PreserveFDs, "hostPid": c.HostPid,
	}
	switch {
	case c.SpecJSON != nil:
		m["spec"] = c.SpecJSON
	case c.Spec != nil:
		b, err := json.Marshal(c.Spec)
		if err != nil {
			return nil, err
		}
		m["spec"] = json.RawMessage(b)
	}
	switch {
	case c.Process == nil:
	case c.Spec != nil && c.Process == c.Spec.Process:
		m["processFromSpec"] = true
	default:
		b, err := json.Marshal(c.Process)
		if err != nil {
			return nil, err
		}
		m["process"] = json.RawMessage(b)
	}
	if c.NoPivot {
		m["noPivot"] = true
	}
	if c.NoNewKeyring {
		m["noNewKeyring"] = true
	}
	if len(c.CgroupPaths) > 0 {
		m["cgroupPaths"] = c.CgroupPaths
	}
	if c.Rootless {
		m["rootless"] = true
	}
	return json.Marshal(m)
}

// DecodeConfig reads what EncodeConfig wrote.
func DecodeConfig(b []byte) (*Config, error) {
	var c Config
	if err := spec.DecodeJSON(b, &c); err != nil {
		return nil, err
	}
	if c.ProcessFromSpec && c.Spec != nil {
		c.Process = c.Spec.Process
	}
	return &c, nil
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
