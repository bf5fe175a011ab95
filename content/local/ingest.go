package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/filters"
)

// An ingest directory holds: data (the bytes so far), ref (the ingest key),
// startedat (RFC 3339), total (expected size) and expected (expected
// digest). Its name is the sha256 of the ref, so any ref string is safe.

const maxRefLen = 4096

func validRef(ref string) error {
	if ref == "" || len(ref) > maxRefLen || strings.ContainsRune(ref, 0) {
		return fmt.Errorf("ingest ref %q: must be 1-%d bytes without NUL: %w", ref, maxRefLen, errdefs.ErrInvalidArgument)
	}
	return nil
}

// IngestDir is the directory of the ingest ref (which may not exist).
func (s *Store) IngestDir(ref string) string { return s.ingestDir(ref) }

func (s *Store) ingestDir(ref string) string {
	sum := sha256.Sum256([]byte(ref))
	return filepath.Join(s.root, "ingest", hex.EncodeToString(sum[:]))
}

func (s *Store) lock(ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.locked[ref]; ok {
		return fmt.Errorf("ingest ref %q: locked by another writer: %w", ref, errdefs.ErrUnavailable)
	}
	s.locked[ref] = struct{}{}
	return nil
}

func (s *Store) unlock(ref string) {
	s.mu.Lock()
	delete(s.locked, ref)
	s.mu.Unlock()
}

// IsLocked reports whether an open writer holds ref.
func (s *Store) IsLocked(ref string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.locked[ref]
	return ok
}

// Writer opens (or resumes) the ingest ref for desc.
func (s *Store) Writer(ctx context.Context, ref string, desc ocispec.Descriptor) (content.Writer, error) {
	if err := validRef(ref); err != nil {
		return nil, err
	}
	if desc.Size < 0 {
		return nil, fmt.Errorf("ingest %q: descriptor size %d: must be >= 0: %w", ref, desc.Size, errdefs.ErrInvalidArgument)
	}
	alg := digest.SHA256
	if desc.Digest != "" {
		if err := validDigest(desc.Digest); err != nil {
			return nil, fmt.Errorf("ingest %q: %w", ref, err)
		}
		alg = desc.Digest.Algorithm()
		if _, err := os.Stat(s.blobPath(desc.Digest)); err == nil {
			return nil, fmt.Errorf("content %s: %w", desc.Digest, errdefs.ErrAlreadyExists)
		}
	}
	if err := s.lock(ref); err != nil {
		return nil, err
	}
	w, err := s.openWriter(ref, desc, alg)
	if err != nil {
		s.unlock(ref)
		return nil, err
	}
	return w, nil
}

func (s *Store) openWriter(ref string, desc ocispec.Descriptor, alg digest.Algorithm) (*writer, error) {
	dir := s.ingestDir(ref)
	st, err := s.readStatus(dir)
	switch {
	case err == nil:
		if st.Ref != ref {
			return nil, fmt.Errorf("ingest %q: directory %s belongs to ref %q: %w", ref, dir, st.Ref, errdefs.ErrFailedPrecondition)
		}
	case errdefs.IsNotFound(err):
		if err := s.createIngest(dir, ref, desc); err != nil {
			return nil, err
		}
	default:
		// A directory half-created by a crash: start over.
		if rerr := os.RemoveAll(dir); rerr != nil {
			return nil, fmt.Errorf("ingest %q: %v (and removing it: %v)", ref, err, rerr)
		}
		if err := s.createIngest(dir, ref, desc); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ingest %q: open data: %w", ref, err)
	}
	w := &writer{s: s, ref: ref, dir: dir, f: f, alg: alg, h: alg.Hash()}
	// A new expectation (other digest or size) makes old bytes worthless.
	if (st.Expected != "" && desc.Digest != "" && st.Expected != desc.Digest) ||
		(st.Total > 0 && desc.Size > 0 && st.Total != desc.Size) {
		if err := w.reset(); err != nil {
			f.Close()
			return nil, err
		}
		if err := s.writeMeta(dir, desc); err != nil {
			f.Close()
			return nil, err
		}
		return w, nil
	}
	// Resume: re-hash what is there, so Digest and Commit cover all of it.
	n, err := io.Copy(w.h, f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ingest %q: re-hash %d bytes on resume: %w", ref, n, err)
	}
	w.offset = n
	return w, nil
}

func (s *Store) createIngest(dir, ref string, desc ocispec.Descriptor) error {
	tmp, err := os.MkdirTemp(filepath.Join(s.root, "ingest"), ".new-")
	if err != nil {
		return fmt.Errorf("ingest %q: %w", ref, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	files := map[string]string{
		"ref":       ref,
		"startedat": time.Now().UTC().Format(time.RFC3339Nano),
	}
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(v), 0o600); err != nil {
			return fmt.Errorf("ingest %q: %w", ref, err)
		}
	}
	if err := s.writeMeta(tmp, desc); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if errors.Is(err, fs.ErrExist) || errors.Is(err, syscallENOTEMPTY) {
			return fmt.Errorf("ingest %q: created concurrently: %w", ref, errdefs.ErrUnavailable)
		}
		return fmt.Errorf("ingest %q: %w", ref, err)
	}
	ok = true
	return nil
}

func (s *Store) writeMeta(dir string, desc ocispec.Descriptor) error {
	if err := os.WriteFile(filepath.Join(dir, "total"), []byte(strconv.FormatInt(desc.Size, 10)), 0o600); err != nil {
		return fmt.Errorf("ingest: write total: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "expected"), []byte(desc.Digest), 0o600); err != nil {
		return fmt.Errorf("ingest: write expected: %w", err)
	}
	return nil
}

func (s *Store) readStatus(dir string) (content.Status, error) {
	ref, err := os.ReadFile(filepath.Join(dir, "ref"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(dir); serr == nil {
				return content.Status{}, fmt.Errorf("ingest %s: no ref file", dir)
			}
			return content.Status{}, fmt.Errorf("ingest %s: %w", dir, errdefs.ErrNotFound)
		}
		return content.Status{}, err
	}
	st := content.Status{Ref: string(ref)}
	if b, err := os.ReadFile(filepath.Join(dir, "startedat")); err == nil {
		st.StartedAt, _ = time.Parse(time.RFC3339Nano, string(b))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "total")); err == nil {
		st.Total, _ = strconv.ParseInt(string(b), 10, 64)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "expected")); err == nil {
		st.Expected = digest.Digest(b)
	}
	st.UpdatedAt = st.StartedAt
	if fi, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		st.Offset = fi.Size()
		st.UpdatedAt = fi.ModTime()
	}
	return st, nil
}

// Status returns the state of the ingest ref.
func (s *Store) Status(ctx context.Context, ref string) (content.Status, error) {
	if err := validRef(ref); err != nil {
		return content.Status{}, err
	}
	st, err := s.readStatus(s.ingestDir(ref))
	if err != nil {
		return content.Status{}, fmt.Errorf("ingest %q: %w", ref, err)
	}
	return st, nil
}

// ListStatuses returns every ingest matching filters (fields: ref,
// expected).
func (s *Store) ListStatuses(ctx context.Context, fs ...string) ([]content.Status, error) {
	flt, err := filters.Parse(fs...)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.root, "ingest")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list ingests: %w", err)
	}
	var out []content.Status
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		st, err := s.readStatus(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // half-made by a crash; the orphan check removes it
		}
		if !flt.Match(func(p []string) (string, bool) {
			if len(p) != 1 {
				return "", false
			}
			switch p[0] {
			case "ref":
				return st.Ref, true
			case "expected":
				return string(st.Expected), st.Expected != ""
			}
			return "", false
		}) {
			continue
		}
		out = append(out, st)
	}
	return out, nil
}

// Abort removes the ingest ref and its data. An ingest an open writer holds
// is refused with ErrUnavailable.
func (s *Store) Abort(ctx context.Context, ref string) error {
	if err := validRef(ref); err != nil {
		return err
	}
	if err := s.lock(ref); err != nil {
		return err
	}
	defer s.unlock(ref)
	dir := s.ingestDir(ref)
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("ingest %q: %w", ref, errdefs.ErrNotFound)
		}
		return err
	}
	return s.removeIngestDir(dir)
}

// removeIngestDir renames the directory aside first so that a crash mid-way
// never leaves a half-removed ingest under its real name.
func (s *Store) removeIngestDir(dir string) error {
	tmp, err := os.MkdirTemp(filepath.Join(s.root, "ingest"), ".del-")
	if err != nil {
		return err
	}
	gone := filepath.Join(tmp, "x")
	if err := os.Rename(dir, gone); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("remove ingest %s: %w", dir, err)
	}
	return os.RemoveAll(tmp)
}

type writer struct {
	s      *Store
	ref    string
	dir    string
	f      *os.File
	alg    digest.Algorithm
	h      hash.Hash
	offset int64
	done   bool
}

func (w *writer) Digest() digest.Digest { return digest.NewDigest(w.alg, w.h) }
func (w *writer) Offset() int64         { return w.offset }

func (w *writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("ingest %q: write after close or commit: %w", w.ref, errdefs.ErrFailedPrecondition)
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.offset += int64(n)
	if err != nil {
		return n, fmt.Errorf("ingest %q: write at offset %d: %w", w.ref, w.offset, err)
	}
	return n, nil
}

func (w *writer) reset() error {
	if err := w.f.Truncate(0); err != nil {
		return fmt.Errorf("ingest %q: truncate: %w", w.ref, err)
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	w.h.Reset()
	w.offset = 0
	return nil
}

func (w *writer) Truncate(size int64) error {
	if w.done {
		return fmt.Errorf("ingest %q: truncate after close: %w", w.ref, errdefs.ErrFailedPrecondition)
	}
	if size != 0 {
		return fmt.Errorf("ingest %q: truncate to %d: only 0 is supported: %w", w.ref, size, errdefs.ErrInvalidArgument)
	}
	return w.reset()
}

func (w *writer) Close() error {
	if w.done {
		return nil
	}
	err := w.f.Close()
	w.finish()
	return err
}

// finish marks the writer done and releases its ref.
func (w *writer) finish() {
	if !w.done {
		w.done = true
		w.s.unlock(w.ref)
	}
}

func (w *writer) Commit(ctx context.Context, size int64, expected digest.Digest, opts ...content.Opt) error {
	if w.done {
		return fmt.Errorf("ingest %q: commit after close or commit: %w", w.ref, errdefs.ErrFailedPrecondition)
	}
	var co content.CommitOptions
	for _, o := range opts {
		if err := o(&co); err != nil {
			return err
		}
	}
	if expected != "" {
		if err := validDigest(expected); err != nil {
			return fmt.Errorf("commit %q: expected %w", w.ref, err)
		}
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("ingest %q: sync: %w", w.ref, err)
	}
	fi, err := w.f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != w.offset {
		return fmt.Errorf("ingest %q: data file holds %d bytes, writer wrote %d: %w", w.ref, fi.Size(), w.offset, errdefs.ErrFailedPrecondition)
	}
	if size > 0 && w.offset != size {
		err := fmt.Errorf("commit %q: size mismatch: expected %d bytes, got %d: %w", w.ref, size, w.offset, errdefs.ErrFailedPrecondition)
		if w.offset > size {
			if rerr := w.reset(); rerr != nil {
				return fmt.Errorf("%w (and resetting the ingest: %v)", err, rerr)
			}
		}
		return err
	}
	dgst := w.Digest()
	if expected != "" && expected.Algorithm() != w.alg {
		if dgst, err = rehash(w.f, expected.Algorithm()); err != nil {
			return fmt.Errorf("ingest %q: %w", w.ref, err)
		}
	}
	if expected != "" && dgst != expected {
		err := fmt.Errorf("commit %q: digest mismatch: expected %s, got %s: %w", w.ref, expected, dgst, errdefs.ErrFailedPrecondition)
		if rerr := w.reset(); rerr != nil {
			return fmt.Errorf("%w (and resetting the ingest: %v)", err, rerr)
		}
		return err
	}
	target := w.s.blobPath(dgst)
	if _, err := os.Stat(target); err == nil {
		w.f.Close()
		rerr := w.s.removeIngestDir(w.dir)
		w.finish()
		if rerr != nil {
			return fmt.Errorf("content %s: %w (and removing ingest %q: %v)", dgst, errdefs.ErrAlreadyExists, w.ref, rerr)
		}
		return fmt.Errorf("content %s: %w", dgst, errdefs.ErrAlreadyExists)
	}
	if err := w.f.Chmod(0o444); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(w.dir, "data"), target); err != nil {
		return fmt.Errorf("commit %q: move into place: %w", w.ref, err)
	}
	if err := syncDir(filepath.Dir(target)); err != nil {
		return err
	}
	w.f.Close()
	defer w.finish()
	if len(co.Labels) > 0 {
		if err := w.s.writeLabels(dgst, co.Labels); err != nil {
			return err
		}
	}
	if err := w.s.removeIngestDir(w.dir); err != nil {
		return fmt.Errorf("commit %q: committed %s but removing the ingest: %w", w.ref, dgst, err)
	}
	return nil
}

func rehash(f *os.File, alg digest.Algorithm) (digest.Digest, error) {
	if !alg.Available() {
		return "", fmt.Errorf("digest algorithm %s unavailable: %w", alg, errdefs.ErrNotImplemented)
	}
	h := alg.Hash()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return "", err
	}
	return digest.NewDigest(alg, h), nil
}
