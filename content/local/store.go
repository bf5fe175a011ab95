package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/internal/atomicfile"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/filters"
)

// Algorithms the store accepts.
var algorithms = []digest.Algorithm{digest.SHA256, digest.SHA512}

// Store is the on-disk content store. Its methods are safe for concurrent
// use; one process owns a root at a time (berthd holds a lock on its root).
type Store struct {
	root string

	mu     sync.Mutex
	locked map[string]struct{} // ingest refs held by an open writer
}

var _ content.Store = (*Store)(nil)

// NewStore opens (creating if needed) the content store under root.
func NewStore(root string) (content.Store, error) {
	return Open(root)
}

// Open is NewStore returning the concrete type (for the orphan check).
func Open(root string) (*Store, error) {
	if root == "" {
		return nil, fmt.Errorf("content store root: empty: %w", errdefs.ErrInvalidArgument)
	}
	for _, d := range []string{"ingest", "blobs/sha256", "blobs/sha512", "labels/sha256", "labels/sha512"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("content store %s: %w", root, err)
		}
	}
	return &Store{root: root, locked: map[string]struct{}{}}, nil
}

// Root is the directory the store lives in.
func (s *Store) Root() string { return s.root }

func validDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %v: %w", d, err, errdefs.ErrInvalidArgument)
	}
	a := d.Algorithm()
	if a != digest.SHA256 && a != digest.SHA512 {
		return fmt.Errorf("digest %q: algorithm %s: only sha256 and sha512 are supported: %w", d, a, errdefs.ErrNotImplemented)
	}
	return nil
}

func (s *Store) blobPath(d digest.Digest) string {
	return filepath.Join(s.root, "blobs", string(d.Algorithm()), d.Encoded())
}

func (s *Store) labelPath(d digest.Digest) string {
	return filepath.Join(s.root, "labels", string(d.Algorithm()), d.Encoded())
}

// BlobPath returns where the blob d is (or would be) stored.
func (s *Store) BlobPath(d digest.Digest) (string, error) {
	if err := validDigest(d); err != nil {
		return "", err
	}
	return s.blobPath(d), nil
}

// Info returns a committed blob's info.
func (s *Store) Info(ctx context.Context, d digest.Digest) (content.Info, error) {
	if err := validDigest(d); err != nil {
		return content.Info{}, err
	}
	fi, err := os.Stat(s.blobPath(d))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return content.Info{}, fmt.Errorf("content %s: %w", d, errdefs.ErrNotFound)
		}
		return content.Info{}, fmt.Errorf("content %s: %w", d, err)
	}
	return s.info(d, fi)
}

func (s *Store) info(d digest.Digest, fi fs.FileInfo) (content.Info, error) {
	info := content.Info{Digest: d, Size: fi.Size(), CreatedAt: fi.ModTime(), UpdatedAt: fi.ModTime()}
	b, err := os.ReadFile(s.labelPath(d))
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &info.Labels); err != nil {
			return content.Info{}, fmt.Errorf("content %s: labels file: %w", d, err)
		}
		if lfi, err := os.Stat(s.labelPath(d)); err == nil {
			info.UpdatedAt = lfi.ModTime()
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return content.Info{}, fmt.Errorf("content %s: labels: %w", d, err)
	}
	return info, nil
}

// Update changes a blob's labels ("labels", "labels.<key>"; all when no
// fieldpaths are given).
func (s *Store) Update(ctx context.Context, info content.Info, fieldpaths ...string) (content.Info, error) {
	cur, err := s.Info(ctx, info.Digest)
	if err != nil {
		return content.Info{}, err
	}
	labels, err := content.UpdateLabels(cur.Labels, info.Labels, fieldpaths)
	if err != nil {
		return content.Info{}, fmt.Errorf("content %s: %w", info.Digest, err)
	}
	if err := s.writeLabels(info.Digest, labels); err != nil {
		return content.Info{}, err
	}
	return s.Info(ctx, info.Digest)
}

func (s *Store) writeLabels(d digest.Digest, labels map[string]string) error {
	p := s.labelPath(d)
	if len(labels) == 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("content %s: labels: %w", d, err)
		}
		return nil
	}
	b, err := json.Marshal(labels)
	if err != nil {
		return err
	}
	return atomicfile.Write(p, b, 0o600)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// Walk calls fn for every committed blob matching filters (fields:
// digest, size, labels.<key>).
func (s *Store) Walk(ctx context.Context, fn func(content.Info) error, fs ...string) error {
	flt, err := filters.Parse(fs...)
	if err != nil {
		return err
	}
	for _, alg := range algorithms {
		dir := filepath.Join(s.root, "blobs", string(alg))
		entries, err := os.ReadDir(dir)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return fmt.Errorf("walk %s: %w", dir, err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			d := digest.NewDigestFromEncoded(alg, e.Name())
			if d.Validate() != nil || !e.Type().IsRegular() {
				continue // temp files, strays: not blobs
			}
			fi, err := e.Info()
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					continue
				}
				return err
			}
			info, err := s.info(d, fi)
			if err != nil {
				return err
			}
			if !flt.Match(content.InfoAdaptor(info)) {
				continue
			}
			if err := fn(info); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes a committed blob.
func (s *Store) Delete(ctx context.Context, d digest.Digest) error {
	if err := validDigest(d); err != nil {
		return err
	}
	if err := os.Remove(s.blobPath(d)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("content %s: %w", d, errdefs.ErrNotFound)
		}
		return fmt.Errorf("delete content %s: %w", d, err)
	}
	if err := os.Remove(s.labelPath(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete content %s labels: %w", d, err)
	}
	return nil
}

type readerAt struct {
	*os.File
	size int64
}

func (r readerAt) Size() int64 { return r.size }

// ReaderAt opens a committed blob.
func (s *Store) ReaderAt(ctx context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	if err := validDigest(desc.Digest); err != nil {
		return nil, err
	}
	f, err := os.Open(s.blobPath(desc.Digest))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("content %s: %w", desc.Digest, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("open content %s: %w", desc.Digest, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return readerAt{File: f, size: fi.Size()}, nil
}
