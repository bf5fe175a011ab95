package container

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/oci"
)

// RestartPolicy is a container's --restart policy.
type RestartPolicy = oci.RestartPolicy

// State is where a container is in its life.
type State string

// The states, as `docker ps` names them.
const (
	StateCreated    State = "created"
	StateRunning    State = "running"
	StatePaused     State = "paused"
	StateRestarting State = "restarting"
	StateExited     State = "exited"
	StateRemoving   State = "removing"
	StateDead       State = "dead"
)

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	switch s {
	case StateCreated, StateRunning, StatePaused, StateRestarting, StateExited, StateRemoving, StateDead:
		return true
	}
	return false
}

// Runtime handler names berthd knows by default.
const (
	RuntimeBerth = "berth-runtime"
	RuntimeRunc  = "runc"
	RuntimeCrun  = "crun"
)

// Container is one container record.
type Container struct {
	ID   string `json:"id"`   // 64 hex characters
	Name string `json:"name"` // unique in the namespace, without docker's leading "/"

	Image       string `json:"image"`       // the name the user gave
	ImageDigest string `json:"imageDigest"` // the image's target (manifest or index) digest
	Snapshotter string `json:"snapshotter"`
	SnapshotKey string `json:"snapshotKey"`
	// Runtime is the runtime handler name (RuntimeBerth, "runc", "crun" or
	// one from the daemon's config); the daemon resolves it to a binary.
	Runtime string `json:"runtime"`

	Spec          *specs.Spec       `json:"spec,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Options       oci.CreateOptions `json:"options"`
	RestartPolicy RestartPolicy     `json:"restartPolicy"`
	Volumes       []oci.VolumeRef   `json:"volumes,omitempty"`
	Created       time.Time         `json:"created"`
	Status        Status            `json:"status"`
	// Extensions is free space for the daemon (network attachment, shim
	// address, ...), kept as given.
	Extensions map[string]string `json:"extensions,omitempty"`
}

// Status is what the daemon last learnt about the container's task.
type Status struct {
	State        State     `json:"state"`
	Pid          int       `json:"pid,omitempty"`
	ExitCode     int       `json:"exitCode"`
	Error        string    `json:"error,omitempty"`
	StartedAt    time.Time `json:"startedAt,omitzero"`
	FinishedAt   time.Time `json:"finishedAt,omitzero"`
	RestartCount int       `json:"restartCount"`
	OOMKilled    bool      `json:"oomKilled,omitempty"`
	// ManuallyStopped is set by `berth stop` (unless-stopped and always
	// policies look at it after a daemon restart).
	ManuallyStopped bool `json:"manuallyStopped,omitempty"`
}

// ShortID returns the first 12 characters of id.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// NewID returns a random 64-hex container ID that does not look like a
// number (docker avoids all-digit short IDs, which read as PIDs or counts).
func NewID() string {
	for {
		var b [32]byte
		rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		if strings.Trim(id[:12], "0123456789") != "" {
			return id
		}
	}
}

var idRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidateID checks a full container ID.
func ValidateID(id string) error {
	if !idRE.MatchString(id) {
		return fmt.Errorf("container id %q: must be 64 lowercase hex characters: %w", id, errdefs.ErrInvalidArgument)
	}
	return nil
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ValidateName checks a container name (a leading "/" is allowed, as
// docker prints names with one).
func ValidateName(name string) error {
	n := strings.TrimPrefix(name, "/")
	if len(n) > 253 || !nameRE.MatchString(n) {
		return fmt.Errorf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w", name, errdefs.ErrInvalidArgument)
	}
	return nil
}

// Words for generated names: an adjective and a noun from Berth's own
// nautical vocabulary ("steady_harbor").
var (
	adjectives = []string{"brave", "calm", "clever", "eager", "fair", "gentle", "happy", "jolly", "keen", "kind",
		"lively", "lucky", "merry", "nimble", "noble", "proud", "quick", "quiet", "bold", "bright",
		"sharp", "steady", "sturdy", "swift", "tidy", "trusty", "vivid", "warm", "wise", "zesty",
		"amber", "azure", "coral", "golden", "misty", "salty", "sandy", "silver", "sunny", "windy"}
	nouns = []string{"anchor", "barge", "beacon", "berth", "bosun", "buoy", "cabin", "canal", "cargo", "cove",
		"crane", "dock", "ferry", "fjord", "galley", "harbor", "helm", "hull", "inlet", "jetty",
		"keel", "lagoon", "lantern", "mast", "marina", "mooring", "oar", "pier", "pilot", "port",
		"quay", "rudder", "sail", "schooner", "skiff", "sloop", "tide", "tugboat", "wharf", "yacht"}
)

// GenerateName returns a random "adjective_noun" name; retry > 0 appends a
// digit, as docker does when a name is taken.
func GenerateName(retry int) string {
	var b [2]byte
	rand.Read(b[:])
	n := adjectives[int(b[0])%len(adjectives)] + "_" + nouns[int(b[1])%len(nouns)]
	if retry > 0 {
		var d [1]byte
		rand.Read(d[:])
		n += fmt.Sprint(int(d[0]) % 10)
	}
	return n
}
