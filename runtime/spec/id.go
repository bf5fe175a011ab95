package spec

import (
	"fmt"

	"github.com/berth-containers/berth/internal/errdefs"
)

// MaxIDLength bounds a container id.
const MaxIDLength = 1024

// ValidateID checks a container id: non-empty, at most 1024 characters of
// [A-Za-z0-9_+.-], and neither "." nor "..". It is safe to use the id as a
// single path element afterwards.
func ValidateID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("container id: empty: %w", errdefs.ErrInvalidArgument)
	case len(id) > MaxIDLength:
		return fmt.Errorf("container id: longer than %d characters: %w", MaxIDLength, errdefs.ErrInvalidArgument)
	case id == "." || id == "..":
		return fmt.Errorf("container id %q: not allowed: %w", id, errdefs.ErrInvalidArgument)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '+' || c == '.' || c == '-'
		if !ok {
			return fmt.Errorf("container id %q: character %q at %d not allowed (only A-Z a-z 0-9 _ + . -): %w", id, c, i, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}
