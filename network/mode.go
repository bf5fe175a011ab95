package network

import (
	"fmt"
	"strings"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/network/portspec"
)

// ModeKind is what --network asks for.
type ModeKind string

const (
	ModeBridge    ModeKind = "bridge"    // the default network, in a new netns
	ModeNone      ModeKind = "none"      // a new netns with only lo
	ModeHost      ModeKind = "host"      // the host's namespace: no netns in the spec
	ModeNamed     ModeKind = "named"     // a user-created network, in a new netns
	ModeContainer ModeKind = "container" // join another container's netns
)

// Mode is a parsed --network value.
type Mode struct {
	Kind      ModeKind
	Network   string // for ModeBridge ("bridge") and ModeNamed
	Container string // for ModeContainer: the other container's ID or name
}

// Networks returns the networks to Attach for this mode (none for none, host
// and container modes).
func (m Mode) Networks() []string {
	switch m.Kind {
	case ModeBridge, ModeNamed:
		return []string{m.Network}
	}
	return nil
}

// NeedsNetNS reports whether the container needs a namespace of its own
// (netns.New): true for bridge, named and none.
func (m Mode) NeedsNetNS() bool {
	return m.Kind == ModeBridge || m.Kind == ModeNamed || m.Kind == ModeNone
}

// String formats m the way --network takes it.
func (m Mode) String() string {
	switch m.Kind {
	case ModeContainer:
		return "container:" + m.Container
	case ModeNamed:
		return m.Network
	}
	return string(m.Kind)
}

// ParseNetworkMode parses a --network value: "" or "bridge" (default
// network), "none", "host", "container:ID", or a network name.
func ParseNetworkMode(s string) (Mode, error) {
	switch s {
	case "", DefaultNetworkName, "default":
		return Mode{Kind: ModeBridge, Network: DefaultNetworkName}, nil
	case "none":
		return Mode{Kind: ModeNone}, nil
	case "host":
		return Mode{Kind: ModeHost}, nil
	}
	if rest, ok := strings.CutPrefix(s, "container:"); ok {
		if rest == "" {
			return Mode{}, fmt.Errorf("invalid --network %q: container name or ID is empty: %w", s, errdefs.ErrInvalidArgument)
		}
		return Mode{Kind: ModeContainer, Container: rest}, nil
	}
	if err := ValidateName(s); err != nil {
		return Mode{}, fmt.Errorf("invalid --network %q: %w", s, err)
	}
	return Mode{Kind: ModeNamed, Network: s}, nil
}

// PortMapping publishes a container port on the host (see package portspec).
type PortMapping = portspec.Mapping

// ParsePortSpec parses one -p value ("[ip:]host:container[/tcp|udp]", ranges
// allowed); errors read like docker's and name the value.
func ParsePortSpec(s string) ([]PortMapping, error) { return portspec.Parse(s) }

// ParsePortSpecs parses several -p values and rejects duplicates.
func ParsePortSpecs(specs []string) ([]PortMapping, error) { return portspec.ParseAll(specs) }
