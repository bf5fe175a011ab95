package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-containers/berth/internal/errdefs"
)

// Strays lists paths under the store, unchanged for at least age, that are
// neither committed blobs nor ingests: temp files of interrupted writes,
// half-created or half-removed ingest directories, labels of absent blobs.
// A crash can leave these; nothing else refers to them.
func (s *Store) Strays(age time.Duration) ([]string, error) {
	cutoff := time.Now().Add(-age)
	old := func(path string) bool {
		fi, err := os.Lstat(path)
		return err == nil && fi.ModTime().Before(cutoff)
	}
	var out []string
	for _, alg := range algorithms {
		for _, sub := range []string{"blobs", "labels"} {
			dir := filepath.Join(s.root, sub, string(alg))
			ents, err := os.ReadDir(dir)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			for _, e := range ents {
				p := filepath.Join(dir, e.Name())
				d := digest.NewDigestFromEncoded(alg, e.Name())
				stray := d.Validate() != nil || !e.Type().IsRegular()
				if !stray && sub == "labels" {
					if _, err := os.Stat(s.blobPath(d)); errors.Is(err, fs.ErrNotExist) {
						stray = true
					}
				}
				if stray && old(p) {
					out = append(out, p)
				}
			}
		}
	}
	dir := filepath.Join(s.root, "ingest")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		stray := strings.HasPrefix(e.Name(), ".") || !e.IsDir()
		if !stray {
			if _, err := os.Stat(filepath.Join(p, "ref")); errors.Is(err, fs.ErrNotExist) {
				stray = true
			}
		}
		if stray && old(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// RemoveStray removes one path Strays returned.
func (s *Store) RemoveStray(path string) error {
	rel, err := filepath.Rel(s.root, path)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) {
		return fmt.Errorf("stray %q: not inside the content store %s: %w", path, s.root, errdefs.ErrInvalidArgument)
	}
	top := strings.SplitN(rel, string(filepath.Separator), 2)[0]
	if top != "blobs" && top != "labels" && top != "ingest" {
		return fmt.Errorf("stray %q: not in blobs, labels or ingest: %w", path, errdefs.ErrInvalidArgument)
	}
	return os.RemoveAll(path)
}
