package metadata

import (
	"context"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/namespaces"
	"github.com/berth-containers/berth/leases"
	"github.com/berth-containers/berth/mount"
	"github.com/berth-containers/berth/snapshot"
)

type snapRecord struct {
	ID      string            `json:"id"` // the backend key: <ns>/<random id>/<key>
	Parent  string            `json:"parent,omitempty"`
	Kind    snapshot.Kind     `json:"kind"`
	Labels  map[string]string `json:"labels,omitempty"`
	Created time.Time         `json:"created"`
	Updated time.Time         `json:"updated"`
}

// nsSnapshotter is the namespaced view of one backend snapshotter: keys
// are per namespace, the backend sees <ns>/<random id>/<key>, and labels live
// here, not in the backend.
type nsSnapshotter struct {
	db      *DB
	name    string
	backend snapshot.Snapshotter
}

var _ snapshot.Snapshotter = (*nsSnapshotter)(nil)

func (s *nsSnapshotter) bucket(tx *bolt.Tx, ns string) *bolt.Bucket {
	return nsBucket(tx, ns, bucketSnapshots, []byte(s.name))
}

func (s *nsSnapshotter) get(ns, key string) (snapRecord, error) {
	var rec snapRecord
	err := s.db.db.View(func(tx *bolt.Tx) error {
		ok, err := getJSON(s.bucket(tx, ns), []byte(key), &rec)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("snapshot %q (%s) in namespace %q: %w", key, s.name, ns, errdefs.ErrNotFound)
		}
		return nil
	})
	return rec, err
}

func (r snapRecord) info(key string) snapshot.Info {
	return snapshot.Info{Kind: r.Kind, Name: key, Parent: r.Parent, Labels: copyLabels(r.Labels), Created: r.Created, Updated: r.Updated}
}

func (s *nsSnapshotter) Stat(ctx context.Context, key string) (snapshot.Info, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return snapshot.Info{}, err
	}
	rec, err := s.get(ns, key)
	if err != nil {
		return snapshot.Info{}, err
	}
	return rec.info(key), nil
}

func (s *nsSnapshotter) Update(ctx context.Context, info snapshot.Info, fieldpaths ...string) (snapshot.Info, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return snapshot.Info{}, err
	}
	var out snapshot.Info
	err = s.db.db.Update(func(tx *bolt.Tx) error {
		b := s.bucket(tx, ns)
		var rec snapRecord
		ok, err := getJSON(b, []byte(info.Name), &rec)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("snapshot %q (%s) in namespace %q: %w", info.Name, s.name, ns, errdefs.ErrNotFound)
		}
		labels, err := content.UpdateLabels(rec.Labels, info.Labels, fieldpaths)
		if err != nil {
			return fmt.Errorf("snapshot %q: %w", info.Name, err)
		}
		if err := validateLabels("snapshot "+info.Name, labels); err != nil {
			return err
		}
		rec.Labels = labels
		rec.Updated = time.Now().UTC()
		out = rec.info(info.Name)
		return putJSON(b, []byte(info.Name), rec)
	})
	return out, err
}

func (s *nsSnapshotter) Usage(ctx context.Context, key string) (snapshot.Usage, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return snapshot.Usage{}, err
	}
	rec, err := s.get(ns, key)
	if err != nil {
		return snapshot.Usage{}, err
	}
	return s.backend.Usage(ctx, rec.ID)
}

func (s *nsSnapshotter) Mounts(ctx context.Context, key string) ([]mount.Mount, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := s.get(ns, key)
	if err != nil {
		return nil, err
	}
	return s.backend.Mounts(ctx, rec.ID)
}

func (s *nsSnapshotter) Prepare(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]mount.Mount, error) {
	return s.create(ctx, snapshot.KindActive, key, parent, opts)
}

func (s *nsSnapshotter) View(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]mount.Mount, error) {
	return s.create(ctx, snapshot.KindView, key, parent, opts)
}

// newID makes a backend key for key in ns: "<ns>/<random>/<key>", never
// reused, made without a transaction.
func newID(ns, key string) string { return ns + "/" + randomID() + "/" + key }

// ParseBackendKey splits a backend key into namespace, unique id and key.
func ParseBackendKey(id string) (ns, uid, key string, ok bool) {
	parts := strings.SplitN(id, "/", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

func (s *nsSnapshotter) create(ctx context.Context, kind snapshot.Kind, key, parent string, opts []snapshot.Opt) ([]mount.Mount, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	if err := validateKey("snapshot key", key); err != nil {
		return nil, err
	}
	var base snapshot.Info
	for _, o := range opts {
		if err := o(&base); err != nil {
			return nil, err
		}
	}
	if err := validateLabels("snapshot "+key, base.Labels); err != nil {
		return nil, err
	}
	if err := s.db.checkCtxLease(ctx, ns); err != nil {
		return nil, err
	}
	s.db.wlock.RLock()
	defer s.db.wlock.RUnlock()

	var parentID string
	err = s.db.db.View(func(tx *bolt.Tx) error {
		b := s.bucket(tx, ns)
		if b != nil && b.Get([]byte(key)) != nil {
			return fmt.Errorf("snapshot %q (%s) in namespace %q: %w", key, s.name, ns, errdefs.ErrAlreadyExists)
		}
		if parent == "" {
			return nil
		}
		var prec snapRecord
		ok, err := getJSON(b, []byte(parent), &prec)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("snapshot %q: parent %q (%s) in namespace %q: %w", key, parent, s.name, ns, errdefs.ErrNotFound)
		}
		if prec.Kind != snapshot.KindCommitted {
			return fmt.Errorf("snapshot %q: parent %q is %s, not committed: %w", key, parent, prec.Kind, errdefs.ErrFailedPrecondition)
		}
		parentID = prec.ID
		return nil
	})
	if err != nil {
		return nil, err
	}
	id := newID(ns, key)
	var mounts []mount.Mount
	if kind == snapshot.KindView {
		mounts, err = s.backend.View(ctx, id, parentID)
	} else {
		mounts, err = s.backend.Prepare(ctx, id, parentID)
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot %q (%s): %w", key, s.name, err)
	}
	now := time.Now().UTC()
	err = s.db.db.Batch(func(tx *bolt.Tx) error {
		b, err := createNSBucket(tx, ns, bucketSnapshots, []byte(s.name))
		if err != nil {
			return err
		}
		if b.Get([]byte(key)) != nil {
			return fmt.Errorf("snapshot %q (%s) in namespace %q: %w", key, s.name, ns, errdefs.ErrAlreadyExists)
		}
		if parent != "" && b.Get([]byte(parent)) == nil {
			return fmt.Errorf("snapshot %q: parent %q removed meanwhile: %w", key, parent, errdefs.ErrNotFound)
		}
		rec := snapRecord{ID: id, Parent: parent, Kind: kind, Labels: base.Labels, Created: now, Updated: now}
		if err := putJSON(b, []byte(key), rec); err != nil {
			return err
		}
		return addCtxLease(ctx, tx, ns, leases.Resource{Type: resourceSnapshots + s.name, ID: key})
	})
	if err != nil {
		if rerr := s.backend.Remove(ctx, id); rerr != nil {
			s.db.log.Warn("snapshot: removing backend snapshot after a failed record", "snapshotter", s.name, "id", id, "err", rerr)
		}
		return nil, err
	}
	return mounts, nil
}

func (s *nsSnapshotter) Commit(ctx context.Context, name, key string, opts ...snapshot.Opt) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	if err := validateKey("snapshot name", name); err != nil {
		return err
	}
	var base snapshot.Info
	for _, o := range opts {
		if err := o(&base); err != nil {
			return err
		}
	}
	if err := validateLabels("snapshot "+name, base.Labels); err != nil {
		return err
	}
	if err := s.db.checkCtxLease(ctx, ns); err != nil {
		return err
	}
	s.db.wlock.RLock()
	defer s.db.wlock.RUnlock()
	rec, err := s.get(ns, key)
	if err != nil {
		return err
	}
	if rec.Kind != snapshot.KindActive {
		return fmt.Errorf("commit snapshot %q: it is %s, not active: %w", key, rec.Kind, errdefs.ErrFailedPrecondition)
	}
	if _, err := s.get(ns, name); err == nil {
		return fmt.Errorf("commit snapshot %q as %q (%s) in namespace %q: %w", key, name, s.name, ns, errdefs.ErrAlreadyExists)
	}
	id := newID(ns, name)
	if err := s.backend.Commit(ctx, id, rec.ID); err != nil {
		return fmt.Errorf("commit snapshot %q as %q (%s): %w", key, name, s.name, err)
	}
	now := time.Now().UTC()
	existed := false
	err = s.db.db.Batch(func(tx *bolt.Tx) error {
		existed = false // Batch may run this more than once
		b, err := createNSBucket(tx, ns, bucketSnapshots, []byte(s.name))
		if err != nil {
			return err
		}
		if err := b.Delete([]byte(key)); err != nil {
			return err
		}
		if b.Get([]byte(name)) != nil {
			existed = true // committed concurrently; ours is an orphan for GC
			return nil
		}
		labels := copyLabels(rec.Labels)
		for k, v := range base.Labels {
			if labels == nil {
				labels = map[string]string{}
			}
			labels[k] = v
		}
		nrec := snapRecord{ID: id, Parent: rec.Parent, Kind: snapshot.KindCommitted, Labels: labels, Created: now, Updated: now}
		if err := putJSON(b, []byte(name), nrec); err != nil {
			return err
		}
		return addCtxLease(ctx, tx, ns, leases.Resource{Type: resourceSnapshots + s.name, ID: name})
	})
	if err != nil {
		return err
	}
	if existed {
		return fmt.Errorf("commit snapshot %q as %q (%s) in namespace %q: %w", key, name, s.name, ns, errdefs.ErrAlreadyExists)
	}
	return nil
}

func (s *nsSnapshotter) Remove(ctx context.Context, key string) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	var id string
	err = s.db.db.Batch(func(tx *bolt.Tx) error {
		b := s.bucket(tx, ns)
		var rec snapRecord
		ok, err := getJSON(b, []byte(key), &rec)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("snapshot %q (%s) in namespace %q: %w", key, s.name, ns, errdefs.ErrNotFound)
		}
		var child string
		b.ForEach(func(k, v []byte) error {
			var c snapRecord
			if _, err := getJSON(b, k, &c); err == nil && c.Parent == key {
				child = string(k)
			}
			return nil
		})
		if child != "" {
			return fmt.Errorf("remove snapshot %q: snapshot %q is its child: %w", key, child, errdefs.ErrFailedPrecondition)
		}
		id = rec.ID
		return b.Delete([]byte(key))
	})
	if err != nil {
		return err
	}
	if err := s.backend.Remove(ctx, id); err != nil && !errdefs.IsNotFound(err) {
		// The record is gone; garbage collection retries the data.
		s.db.log.Warn("snapshot: backend remove failed, left for garbage collection", "snapshotter", s.name, "key", key, "id", id, "err", err)
	}
	return nil
}

func (s *nsSnapshotter) Walk(ctx context.Context, fn func(context.Context, snapshot.Info) error, fs ...string) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	flt, err := snapshot.ParseFilters(fs...)
	if err != nil {
		return err
	}
	var infos []snapshot.Info
	err = s.db.db.View(func(tx *bolt.Tx) error {
		b := s.bucket(tx, ns)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var rec snapRecord
			if _, err := getJSON(b, k, &rec); err != nil {
				return err
			}
			if info := rec.info(string(k)); flt.Match(info) {
				infos = append(infos, info)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, info := range infos {
		if err := fn(ctx, info); err != nil {
			return err
		}
	}
	return nil
}

// Close does nothing: the DB's owner closes the backends.
func (s *nsSnapshotter) Close() error { return nil }
