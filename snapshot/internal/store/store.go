package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/mount"
	"github.com/berth-containers/berth/snapshot"
)

// Driver is what a backend adds to the shared store.
type Driver interface {
	// Fill prepares a new snapshot's directory dir (dir/fs exists and is
	// empty) for kind, given the directories of its parent chain, top first.
	Fill(ctx context.Context, dir string, kind snapshot.Kind, parents []string) error
	// Mounts returns the mounts of the snapshot in dir.
	Mounts(dir string, kind snapshot.Kind, parents []string) []mount.Mount
}

// Store implements snapshot.Snapshotter over a Driver.
type Store struct {
	root   string
	name   string
	driver Driver
	db     *bolt.DB
	log    *slog.Logger
	mu     sync.Mutex // serialises directory renames with the transactions that own them
}

var _ snapshot.Snapshotter = (*Store)(nil)

// New opens (creating if needed) the snapshotter rooted at root, and
// removes directories a crash left that no record names.
func New(root, name string, d Driver, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(filepath.Join(root, "snapshots"), 0o700); err != nil {
		return nil, fmt.Errorf("%s snapshotter root %s: %w", name, root, err)
	}
	db, err := bolt.Open(filepath.Join(root, "metadata.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("%s snapshotter: open %s: %w", name, filepath.Join(root, "metadata.db"), err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketSnapshots, bucketChildren} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s snapshotter: init metadata: %w", name, err)
	}
	s := &Store{root: root, name: name, driver: d, db: db, log: log.With("snapshotter", name)}
	if err := s.Cleanup(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Root is the snapshotter's root directory.
func (s *Store) Root() string { return s.root }

func (s *Store) snapDir(r record) string {
	return filepath.Join(s.root, "snapshots", r.dirName())
}

func (s *Store) parentDirs(parents []record) []string {
	out := make([]string, len(parents))
	for i, p := range parents {
		out[i] = s.snapDir(p)
	}
	return out
}

// Close closes the metadata database.
func (s *Store) Close() error { return s.db.Close() }

// Stat returns key's info.
func (s *Store) Stat(ctx context.Context, key string) (snapshot.Info, error) {
	var info snapshot.Info
	err := s.db.View(func(tx *bolt.Tx) error {
		r, err := getRecord(tx, key)
		if err != nil {
			return err
		}
		info = r.info(key)
		return nil
	})
	return info, err
}

// Update changes the labels of info.Name.
func (s *Store) Update(ctx context.Context, info snapshot.Info, fieldpaths ...string) (snapshot.Info, error) {
	var out snapshot.Info
	err := s.db.Update(func(tx *bolt.Tx) error {
		r, err := getRecord(tx, info.Name)
		if err != nil {
			return err
		}
		if len(fieldpaths) == 0 {
			fieldpaths = []string{"labels"}
		}
		for _, f := range fieldpaths {
			switch {
			case f == "labels":
				r.Labels = copyLabels(info.Labels)
			case strings.HasPrefix(f, "labels."):
				k := strings.TrimPrefix(f, "labels.")
				if r.Labels == nil {
					r.Labels = map[string]string{}
				}
				if v, ok := info.Labels[k]; ok {
					r.Labels[k] = v
				} else {
					delete(r.Labels, k)
				}
			default:
				return fmt.Errorf("snapshot %q: field %q cannot be updated: %w", info.Name, f, errdefs.ErrInvalidArgument)
			}
		}
		r.Updated = time.Now().UTC()
		if err := putRecord(tx, info.Name, r); err != nil {
			return err
		}
		out = r.info(info.Name)
		return nil
	})
	return out, err
}

func copyLabels(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Usage returns the disk usage of key's own data.
func (s *Store) Usage(ctx context.Context, key string) (snapshot.Usage, error) {
	var r record
	if err := s.db.View(func(tx *bolt.Tx) (err error) { r, err = getRecord(tx, key); return err }); err != nil {
		return snapshot.Usage{}, err
	}
	if r.Usage != nil {
		return *r.Usage, nil
	}
	return DiskUsage(ctx, filepath.Join(s.snapDir(r), "fs"))
}

// Mounts returns the mounts of an active snapshot or a view.
func (s *Store) Mounts(ctx context.Context, key string) ([]mount.Mount, error) {
	var (
		r       record
		parents []record
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		if r, err = getRecord(tx, key); err != nil {
			return err
		}
		if r.Kind == snapshot.KindCommitted {
			return fmt.Errorf("snapshot %q is committed: mount a view or an active snapshot of it: %w", key, errdefs.ErrFailedPrecondition)
		}
		parents, err = chain(tx, r.Parent)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.driver.Mounts(s.snapDir(r), r.Kind, s.parentDirs(parents)), nil
}

// Prepare creates an active snapshot.
func (s *Store) Prepare(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]mount.Mount, error) {
	return s.create(ctx, snapshot.KindActive, key, parent, opts)
}

// View creates a read-only snapshot.
func (s *Store) View(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]mount.Mount, error) {
	return s.create(ctx, snapshot.KindView, key, parent, opts)
}

func (s *Store) create(ctx context.Context, kind snapshot.Kind, key, parent string, opts []snapshot.Opt) ([]mount.Mount, error) {
	if key == "" {
		return nil, fmt.Errorf("snapshot key: must not be empty: %w", errdefs.ErrInvalidArgument)
	}
	info := snapshot.Info{Kind: kind, Name: key, Parent: parent}
	for _, o := range opts {
		if err := o(&info); err != nil {
			return nil, err
		}
	}
	// Check the key and parent, and learn the parent chain, before the slow part.
	var parents []record
	if err := s.db.View(func(tx *bolt.Tx) error {
		if _, err := getRecord(tx, key); err == nil {
			return fmt.Errorf("snapshot %q: %w", key, errdefs.ErrAlreadyExists)
		}
		var err error
		parents, err = s.checkParent(tx, key, parent)
		return err
	}); err != nil {
		return nil, err
	}

	// The id is drawn now so that the unfinished directory is named after
	// it: a crash after the record is committed but before the rename is on
	// disk is rolled forward by Cleanup.
	id, err := randomID()
	if err != nil {
		return nil, fmt.Errorf("snapshot %q: %w", key, err)
	}
	tmp := filepath.Join(s.root, "snapshots", newPrefix+strconv.FormatUint(id, 10))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("snapshot %q: %w", key, err)
	}
	keep := false
	defer func() {
		if !keep {
			if err := os.RemoveAll(tmp); err != nil {
				s.log.Warn("remove unfinished snapshot directory", "dir", tmp, "err", err)
			}
		}
	}()
	if err := os.Mkdir(filepath.Join(tmp, "fs"), 0o755); err != nil {
		return nil, fmt.Errorf("snapshot %q: %w", key, err)
	}
	if err := s.driver.Fill(ctx, tmp, kind, s.parentDirs(parents)); err != nil {
		return nil, fmt.Errorf("snapshot %q: %w", key, err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var r record
	err = s.db.Update(func(tx *bolt.Tx) error {
		if _, err := getRecord(tx, key); err == nil {
			return fmt.Errorf("snapshot %q: %w", key, errdefs.ErrAlreadyExists)
		}
		var err error
		if parents, err = s.checkParent(tx, key, parent); err != nil {
			return err
		}
		now := time.Now().UTC()
		r = record{ID: id, Kind: kind, Parent: parent, Labels: copyLabels(info.Labels), Created: now, Updated: now}
		if err := putRecord(tx, key, r); err != nil {
			return err
		}
		if parent != "" {
			if err := tx.Bucket(bucketChildren).Put(childKey(parent, key), nil); err != nil {
				return err
			}
		}
		// Move the directory in place last: if the transaction then fails to
		// commit, the directory is an orphan that Cleanup removes.
		if err := os.Rename(tmp, s.snapDir(r)); err != nil {
			return fmt.Errorf("snapshot %q: move into place: %w", key, err)
		}
		keep = true
		return nil
	})
	if err != nil {
		if keep {
			_ = os.RemoveAll(s.snapDir(r))
		}
		return nil, err
	}
	return s.driver.Mounts(s.snapDir(r), kind, s.parentDirs(parents)), nil
}

func (s *Store) checkParent(tx *bolt.Tx, key, parent string) ([]record, error) {
	if parent == "" {
		return nil, nil
	}
	p, err := getRecord(tx, parent)
	if err != nil {
		return nil, fmt.Errorf("snapshot %q: parent: %w", key, err)
	}
	if p.Kind != snapshot.KindCommitted {
		return nil, fmt.Errorf("snapshot %q: parent %q is %s, not committed: %w", key, parent, p.Kind, errdefs.ErrFailedPrecondition)
	}
	return chain(tx, parent)
}

// Commit turns the active snapshot key into the committed snapshot name.
func (s *Store) Commit(ctx context.Context, name, key string, opts ...snapshot.Opt) error {
	if name == "" {
		return fmt.Errorf("commit %q: name must not be empty: %w", key, errdefs.ErrInvalidArgument)
	}
	var r record
	if err := s.db.View(func(tx *bolt.Tx) (err error) { r, err = getRecord(tx, key); return err }); err != nil {
		return err
	}
	if r.Kind != snapshot.KindActive {
		return fmt.Errorf("commit %q: snapshot is %s, not active: %w", key, r.Kind, errdefs.ErrFailedPrecondition)
	}
	usage, err := DiskUsage(ctx, filepath.Join(s.snapDir(r), "fs"))
	if err != nil {
		return fmt.Errorf("commit %q: usage: %w", key, err)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		r, err := getRecord(tx, key)
		if err != nil {
			return err
		}
		if r.Kind != snapshot.KindActive {
			return fmt.Errorf("commit %q: snapshot is %s, not active: %w", key, r.Kind, errdefs.ErrFailedPrecondition)
		}
		if _, err := getRecord(tx, name); err == nil {
			return fmt.Errorf("commit %q as %q: %w", key, name, errdefs.ErrAlreadyExists)
		}
		if hasChildren(tx, key) {
			return fmt.Errorf("commit %q: active snapshot has children: %w", key, errdefs.ErrFailedPrecondition)
		}
		info := r.info(name)
		for _, o := range opts {
			if err := o(&info); err != nil {
				return err
			}
		}
		r.Kind = snapshot.KindCommitted
		r.Labels = copyLabels(info.Labels)
		r.Updated = time.Now().UTC()
		r.Usage = &usage
		if err := tx.Bucket(bucketSnapshots).Delete([]byte(key)); err != nil {
			return err
		}
		if r.Parent != "" {
			ch := tx.Bucket(bucketChildren)
			if err := ch.Delete(childKey(r.Parent, key)); err != nil {
				return err
			}
			if err := ch.Put(childKey(r.Parent, name), nil); err != nil {
				return err
			}
		}
		return putRecord(tx, name, r)
	})
}

// Remove deletes key and its directory.
func (s *Store) Remove(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var gone string
	err := s.db.Update(func(tx *bolt.Tx) error {
		r, err := getRecord(tx, key)
		if err != nil {
			return err
		}
		if hasChildren(tx, key) {
			return fmt.Errorf("remove snapshot %q: it has children: %w", key, errdefs.ErrFailedPrecondition)
		}
		if err := tx.Bucket(bucketSnapshots).Delete([]byte(key)); err != nil {
			return err
		}
		if r.Parent != "" {
			if err := tx.Bucket(bucketChildren).Delete(childKey(r.Parent, key)); err != nil {
				return err
			}
		}
		// Rename first so a failed commit can put it back, and a crash after
		// the commit leaves a directory Cleanup removes.
		gone = filepath.Join(s.root, "snapshots", "rm-"+r.dirName())
		if err := os.Rename(s.snapDir(r), gone); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove snapshot %q: %w", key, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := removeTree(gone); err != nil {
		s.log.Warn("remove snapshot directory", "dir", gone, "err", err)
	}
	return nil
}

// Walk calls fn for every snapshot matching filters.
func (s *Store) Walk(ctx context.Context, fn func(context.Context, snapshot.Info) error, filters ...string) error {
	f, err := snapshot.ParseFilters(filters...)
	if err != nil {
		return err
	}
	var infos []snapshot.Info
	if err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSnapshots).ForEach(func(k, v []byte) error {
			r, err := getRecord(tx, string(k))
			if err != nil {
				return err
			}
			if info := r.info(string(k)); f.Match(info) {
				infos = append(infos, info)
			}
			return nil
		})
	}); err != nil {
		return err
	}
	for _, info := range infos {
		if err := fn(ctx, info); err != nil {
			return err
		}
	}
	return nil
}

// Cleanup removes directories under <root>/snapshots that no record names:
// the leftovers of a crash during create or remove.
func (s *Store) Cleanup(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := map[string]bool{}
	if err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSnapshots).ForEach(func(k, v []byte) error {
			r, err := getRecord(tx, string(k))
			if err != nil {
				return err
			}
			ids[r.dirName()] = true
			return nil
		})
	}); err != nil {
		return err
	}
	dir := filepath.Join(s.root, "snapshots")
	for id := range ids {
		final := filepath.Join(dir, id)
		if _, err := os.Lstat(final); err == nil {
			continue
		}
		pending := filepath.Join(dir, newPrefix+id)
		if _, err := os.Lstat(pending); err == nil {
			s.log.Info("completing snapshot creation interrupted by a crash", "dir", final)
			if err := os.Rename(pending, final); err != nil {
				return fmt.Errorf("%s snapshotter cleanup: %w", s.name, err)
			}
			continue
		}
		s.log.Warn("snapshot directory missing", "dir", final)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%s snapshotter cleanup: %w", s.name, err)
	}
	for _, e := range ents {
		if ids[e.Name()] {
			continue
		}
		p := filepath.Join(dir, e.Name())
		s.log.Info("removing orphaned snapshot directory", "dir", p)
		if err := removeTree(p); err != nil {
			return fmt.Errorf("%s snapshotter cleanup %s: %w", s.name, p, err)
		}
	}
	return nil
}

const newPrefix = "new-"

// randomID draws a snapshot id (63 bits, never 0).
func randomID() (uint64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, err
		}
		if id := binary.BigEndian.Uint64(b[:]) >> 1; id != 0 {
			return id, nil
		}
	}
}

// removeTree removes a snapshot directory; a leftover mount inside it is
// detached first rather than followed.
func removeTree(p string) error {
	err := os.RemoveAll(p)
	if err != nil && errors.Is(err, syscall.EBUSY) {
		_ = mount.UnmountAll(filepath.Join(p, "fs"), syscall.MNT_DETACH)
		err = os.RemoveAll(p)
	}
	return err
}

// IDOf is for tests and diagnostics: the directory id of key.
func (s *Store) IDOf(key string) (string, error) {
	var id string
	err := s.db.View(func(tx *bolt.Tx) error {
		r, err := getRecord(tx, key)
		id = strconv.FormatUint(r.ID, 10)
		return err
	})
	return id, err
}
