package shim

import (
	"time"

	"github.com/berth-containers/berth/runtime/cgroups"
)

// Files in a shim's state directory.
const (
	ConfigFile = "shim.json" // Config, written by the client before the shim starts
	PidFile    = "shim.pid"  // the shim's pid, written once it serves
	ExitFile   = "exit.json" // the init process's ExitStatus
	LogFile    = "shim.log"  // the shim's own log (stdout/stderr)
)

// ExecExitFile is the exit record of exec process id.
func ExecExitFile(id string) string { return "exec-" + id + ".exit.json" }

// Config is what a shim needs to run one container. It is stored as
// StateDir/shim.json so that a later daemon can reconnect or recover.
type Config struct {
	ID          string   `json:"id"`
	Namespace   string   `json:"namespace,omitempty"`
	Bundle      string   `json:"bundle"`
	StateDir    string   `json:"stateDir"`
	Runtime     string   `json:"runtime"`               // the OCI runtime binary
	RuntimeRoot string   `json:"runtimeRoot,omitempty"` // its --root
	RuntimeArgs []string `json:"runtimeArgs,omitempty"` // more global options
	Socket      string   `json:"socket"`                // the API socket
}

// Process statuses, as the OCI runtime names them.
const (
	StatusCreated = "created"
	StatusRunning = "running"
	StatusPaused  = "paused"
	StatusStopped = "stopped"
)

// ConsoleSize is a terminal size in characters.
type ConsoleSize struct {
	Width  uint16 `json:"width"`
	Height uint16 `json:"height"`
}

// CreateOpts shape the container's init process stdio.
type CreateOpts struct {
	// Terminal gives the process a pty (config.json must say
	// process.terminal=true); the shim receives its master through a
	// console socket.
	Terminal bool `json:"terminal,omitempty"`
	// Stdin keeps a stdin pipe (or the pty input) open until CloseStdin;
	// without it the process's stdin is /dev/null.
	Stdin bool `json:"stdin,omitempty"`
	// LogPath, when set, receives stdout and stderr as JSON lines.
	LogPath     string `json:"logPath,omitempty"`
	LogMaxSize  int64  `json:"logMaxSize,omitempty"`  // bytes; 0: no rotation
	LogMaxFiles int    `json:"logMaxFiles,omitempty"` // files kept, current included
	// ConsoleSize is the initial pty size (Terminal only).
	ConsoleSize *ConsoleSize `json:"consoleSize,omitempty"`
}

// ExecOpts shape an exec process's stdio (its output goes to attached
// clients only, as with docker exec).
type ExecOpts struct {
	Terminal    bool         `json:"terminal,omitempty"`
	Stdin       bool         `json:"stdin,omitempty"`
	ConsoleSize *ConsoleSize `json:"consoleSize,omitempty"`
}

// ExitStatus is how a process ended.
type ExitStatus struct {
	// Code is the exit code, or 128+signal when killed by a signal.
	Code     int       `json:"code"`
	Signal   int       `json:"signal,omitempty"`
	ExitedAt time.Time `json:"exitedAt"`
	// OOMKilled: the container's cgroup saw an OOM kill (init only).
	OOMKilled bool `json:"oomKilled,omitempty"`
	// Reason explains an exit the shim did not see, e.g. "shim died".
	Reason string `json:"reason,omitempty"`
}

// State describes one process (the init, ExecID "", or an exec).
type State struct {
	ID     string      `json:"id"`
	ExecID string      `json:"execID,omitempty"`
	Pid    int         `json:"pid"`
	Status string      `json:"status"`
	Exit   *ExitStatus `json:"exit,omitempty"`
	// ShimPid is the shim's own pid.
	ShimPid int `json:"shimPid"`
}

// Stats are the container's cgroup counters, shaped like runc's
// `events --stats` data.
type Stats = cgroups.Stats

// Event kinds.
const (
	EventExit = "exit"
	EventOOM  = "oom"
)

// Event is sent to Events subscribers.
type Event struct {
	Kind   string      `json:"kind"`
	ID     string      `json:"id"`
	ExecID string      `json:"execID,omitempty"`
	Pid    int         `json:"pid,omitempty"`
	Exit   *ExitStatus `json:"exit,omitempty"`
	Time   time.Time   `json:"time"`
}
