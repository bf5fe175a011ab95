package registry_test

import (
	"errors"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/registry/reference"
)

func toDesc(v any) ocispec.Descriptor { return v.(ocispec.Descriptor) }

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func mustParse(t *testing.T, ref string) reference.Named {
	t.Helper()
	n, err := reference.ParseNormalized(ref)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
