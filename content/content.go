package content

import (
	"context"
	"io"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Info describes one committed blob.
type Info struct {
	Digest    digest.Digest
	Size      int64
	CreatedAt time.Time
	UpdatedAt time.Time
	Labels    map[string]string
}

// Status describes one ingest in progress (a resumable write).
type Status struct {
	Ref       string
	Offset    int64         // bytes written so far
	Total     int64         // expected size, 0 if unknown
	Expected  digest.Digest // expected digest, "" if unknown
	StartedAt time.Time
	UpdatedAt time.Time
}

// ReaderAt reads a committed blob at random offsets.
type ReaderAt interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// Provider gives read access to blobs.
type Provider interface {
	ReaderAt(ctx context.Context, desc ocispec.Descriptor) (ReaderAt, error)
}

// Writer writes one blob. Bytes are hashed as they are written; Commit
// verifies size and digest and moves the blob into place atomically.
type Writer interface {
	io.WriteCloser
	// Digest is the digest of what was written so far.
	Digest() digest.Digest
	// Offset is the number of bytes written so far: the resume point.
	Offset() int64
	// Commit verifies size (when > 0) and expected digest (when not "")
	// and moves the data into the store. It returns an ErrAlreadyExists
	// error if the blob was already committed; the ingest is then removed.
	Commit(ctx context.Context, size int64, expected digest.Digest, opts ...Opt) error
	// Truncate resets the ingest to size; only 0 is supported.
	Truncate(size int64) error
}

// Ingester opens writers. ref is the resumable ingest key: opening a writer
// for a ref whose ingest exists continues from its Offset. It returns an
// ErrAlreadyExists error if desc.Digest is already committed and an
// ErrUnavailable error if another writer holds ref.
type Ingester interface {
	Writer(ctx context.Context, ref string, desc ocispec.Descriptor) (Writer, error)
}

// Manager reads and changes committed blobs' records.
type Manager interface {
	Info(ctx context.Context, dgst digest.Digest) (Info, error)
	// Update changes the fields named by fieldpaths ("labels" or
	// "labels.<key>"); with none, all labels are replaced.
	Update(ctx context.Context, info Info, fieldpaths ...string) (Info, error)
	// Walk calls fn for every blob matching any of filters (see
	// internal/filters; none matches all).
	Walk(ctx context.Context, fn func(Info) error, filters ...string) error
	Delete(ctx context.Context, dgst digest.Digest) error
}

// IngestManager lists and aborts ingests in progress.
type IngestManager interface {
	Status(ctx context.Context, ref string) (Status, error)
	ListStatuses(ctx context.Context, filters ...string) ([]Status, error)
	Abort(ctx context.Context, ref string) error
}

// Store is the whole content store.
type Store interface {
	Manager
	Provider
	IngestManager
	Ingester
}

// CommitOptions are set by Opt at Commit.
type CommitOptions struct {
	Labels map[string]string
}

// Opt changes a Commit.
type Opt func(*CommitOptions) error

// WithLabels sets labels on the committed blob.
func WithLabels(labels map[string]string) Opt {
	return func(o *CommitOptions) error {
		if o.Labels == nil {
			o.Labels = map[string]string{}
		}
		for k, v := range labels {
			o.Labels[k] = v
		}
		return nil
	}
}
