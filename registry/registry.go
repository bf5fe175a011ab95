package registry

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/registry/auth"
	"github.com/berth-containers/berth/registry/hosts"
)

// Resolver resolves references and opens fetchers and pushers. It is safe
// for concurrent use and reuses connections.
type Resolver interface {
	// Resolve finds the manifest (or index) a reference names, trying the
	// endpoints with the resolve capability in order. name is the
	// normalised reference.
	Resolve(ctx context.Context, ref string) (name string, desc ocispec.Descriptor, err error)
	Fetcher(ctx context.Context, ref string) (Fetcher, error)
	Pusher(ctx context.Context, ref string) (Pusher, error)
}

// Fetcher reads manifests and blobs of one repository.
type Fetcher interface {
	// Fetch returns the content desc names, bounded by desc.Size. A
	// connection lost mid-body is resumed with Range transparently.
	Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error)
	// FetchFrom starts at offset (to resume an interrupted ingest).
	FetchFrom(ctx context.Context, desc ocispec.Descriptor, offset int64) (io.ReadCloser, error)
}

// Pusher writes manifests and blobs to one repository.
type Pusher interface {
	// Push uploads desc read from p unless the registry has it: blobs after
	// a HEAD check (or mounted from the repository a SourceLabel annotation
	// names), manifests and indexes by digest.
	Push(ctx context.Context, desc ocispec.Descriptor, p content.Provider) error
	// Tag uploads the manifest desc under the pusher reference's tag.
	Tag(ctx context.Context, desc ocispec.Descriptor, p content.Provider) error
}

// Options configure NewResolver. Zero values take the defaults documented.
type Options struct {
	Hosts       hosts.Config
	Credentials auth.CredentialStore // nil: anonymous
	// Client is used as a template (its Transport and Jar); nil uses a
	// tuned transport. Redirect handling is always Berth's own.
	Client      *http.Client
	Logger      *slog.Logger
	Concurrency int           // parallel transfers expected; sizes the idle pool (default 8)
	Retries     int           // retries after a 429, 5xx or connection error (default 4)
	Backoff     time.Duration // first retry wait, doubled each time (default 250ms)
	MaxBackoff  time.Duration // bound on one wait, Retry-After included (default 10s)
	IdleTimeout time.Duration // fail a request whose answer stalls this long (default 30s)
	ChunkSize   int64         // uploads larger than this go in PATCH chunks of this size (default 0: monolithic)
	UserAgent   string
	// SkipBlobDigest leaves digest verification of blobs to the caller (the
	// content store verifies on Commit); sizes are still enforced, and
	// manifests and indexes are always verified.
	SkipBlobDigest bool
}
