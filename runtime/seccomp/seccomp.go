package seccomp

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
)

// Compile translates s into a seccomp BPF program.
func Compile(s *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	return nil, fmt.Errorf("seccomp: %w", errdefs.ErrNotImplemented)
}

// Validate checks s syntactically, naming the offending field.
func Validate(s *specs.LinuxSeccomp) error {
	return fmt.Errorf("seccomp: %w", errdefs.ErrNotImplemented)
}

// Load compiles s and installs it on the calling thread. It returns the
// notification listener fd when a rule uses SCMP_ACT_NOTIFY, else -1.
func Load(s *specs.LinuxSeccomp) (listenerFD int, err error) {
	return -1, fmt.Errorf("seccomp: %w", errdefs.ErrNotImplemented)
}

// SendListener sends fd and the container process state to listenerPath.
func SendListener(listenerPath, listenerMetadata string, fd int, st specs.ContainerProcessState) error {
	return fmt.Errorf("seccomp: %w", errdefs.ErrNotImplemented)
}

// KnownActions lists the actions this build supports.
func KnownActions() []string { return nil }

// KnownArchs lists the architectures this build supports.
func KnownArchs() []string { return nil }

// KnownOperators lists the argument operators this build supports.
func KnownOperators() []string { return nil }

// KnownFlags lists the filter flags this build supports.
func KnownFlags() []string { return nil }
