package caps

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
)

// Set holds the five capability sets of a process as bit masks indexed by
// capability number.
type Set struct {
	Bounding, Effective, Inheritable, Permitted, Ambient uint64
}

// New parses and validates c. A nil c yields an empty Set (no capabilities).
func New(c *specs.LinuxCapabilities) (*Set, error) {
	return nil, fmt.Errorf("caps: %w", errdefs.ErrNotImplemented)
}

// Validate checks every capability name in c.
func Validate(c *specs.LinuxCapabilities) error {
	return fmt.Errorf("caps: %w", errdefs.ErrNotImplemented)
}

// DropBounding drops every capability not in the bounding set.
func (s *Set) DropBounding() error {
	return fmt.Errorf("caps: %w", errdefs.ErrNotImplemented)
}

// Apply sets effective, permitted and inheritable and raises ambient.
func (s *Set) Apply() error {
	return fmt.Errorf("caps: %w", errdefs.ErrNotImplemented)
}

// Known returns every capability name this build knows.
func Known() []string { return nil }

// Last returns the highest capability number the running kernel knows.
func Last() int { return -1 }
