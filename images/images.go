package images

import (
	"context"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Image is a named reference to a root descriptor (an index or manifest).
type Image struct {
	Name      string
	Target    ocispec.Descriptor
	Labels    map[string]string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Store keeps the images of the namespace on the context.
type Store interface {
	Get(ctx context.Context, name string) (Image, error)
	// List returns images matching any of filters ("name==…",
	// "target.digest==…", "target.mediatype==…", `labels."k"==v`); all
	// images with none.
	List(ctx context.Context, filters ...string) ([]Image, error)
	Create(ctx context.Context, image Image) (Image, error)
	// Update changes the fields named by fieldpaths ("target", "labels",
	// "labels.<key>"); with none, target and labels are replaced.
	Update(ctx context.Context, image Image, fieldpaths ...string) (Image, error)
	Delete(ctx context.Context, name string) error
}
