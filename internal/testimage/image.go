package testimage

import (
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Image is a built image: every blob by digest, and the root descriptor
// (a manifest, or an index when several platforms were asked for).
type Image struct {
	Blobs map[digest.Digest][]byte
	Root  ocispec.Descriptor
}
