package unpack

import (
	"context"
	"io"
	"log/slog"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/archive"
	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/snapshot"
)

// Unpacker unpacks images into a snapshotter.
type Unpacker struct {
	// Content provides the layer blobs (for Unpack; sessions fed with
	// ApplyStream do not read it).
	Content content.Provider
	// Snapshotter receives one committed snapshot per layer, named by chain ID.
	Snapshotter snapshot.Snapshotter
	// Parallel bounds how many layers are extracted at once (default: the
	// number of CPUs, at least 2).
	Parallel int
	// Labels are set on every committed layer snapshot.
	Labels map[string]string
	// ApplyOpts are passed to archive.Apply for every layer.
	ApplyOpts []archive.ApplyOpt
	// Log receives progress at debug level (default slog.Default()).
	Log *slog.Logger
}

// Session unpacks one image whose layers arrive as streams.
type Session struct{}

// Unpack unpacks every layer of manifest (reading the blobs from u.Content)
// and returns the chain ID of the top layer: the name of its committed
// snapshot.
func (u *Unpacker) Unpack(ctx context.Context, manifest ocispec.Manifest, config ocispec.Image) (digest.Digest, error) {
	return "", errdefs.ErrNotImplemented
}

// Start begins a session for manifest and config.
func (u *Unpacker) Start(ctx context.Context, manifest ocispec.Manifest, config ocispec.Image) (*Session, error) {
	return nil, errdefs.ErrNotImplemented
}

// Needed lists the indexes of the layers that must be applied: those whose
// chain snapshot does not exist yet.
func (s *Session) Needed() []int { return nil }

// ApplyStream applies layer i from r (the layer blob as fetched, compressed
// as its media type says). It may be called concurrently for different layers.
func (s *Session) ApplyStream(ctx context.Context, i int, r io.Reader) error {
	return errdefs.ErrNotImplemented
}

// Finish commits the applied layers in order and returns the top chain ID.
func (s *Session) Finish(ctx context.Context) (digest.Digest, error) {
	return "", errdefs.ErrNotImplemented
}

// Abort removes everything the session created that is not committed.
func (s *Session) Abort(ctx context.Context) {}

// ChainIDs returns the chain ID of every layer: chain(0) = diffID(0),
// chain(n) = sha256(chain(n-1) + " " + diffID(n)).
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = digest.FromString(out[i-1].String() + " " + d.String())
	}
	return out
}
