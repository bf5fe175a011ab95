package container

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-containers/berth/gc"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/namespaces"
	"github.com/berth-containers/berth/metadata"
	"github.com/berth-containers/berth/oci"
)

var (
	bucketV1         = []byte("v1")
	bucketContainers = []byte("containers")
	bucketNames      = []byte("container-names")
)

// RootSourceName is the name the store registers its GC root source under.
const RootSourceName = "containers"

// Store keeps container records in the metadata database.
type Store struct {
	db *metadata.DB
}

// NewStore returns the container store over db and registers containers
// as GC roots: each one holds its snapshot and its image's target blob.
func NewStore(db *metadata.DB) *Store {
	s := &Store{db: db}
	db.RegisterRootSource(RootSourceName, s.gcRoots)
	return s
}

func (s *Store) gcRoots(ctx context.Context, tx *bolt.Tx, ns string, emit func(gc.Node)) error {
	b := bucket(tx, ns, bucketContainers)
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error {
		var c Container
		if err := json.Unmarshal(v, &c); err != nil {
			// A corrupt record must not let GC take what it may hold;
			// refuse to collect rather than guess.
			return fmt.Errorf("container %s: corrupt record: %w", k, err)
		}
		if c.Snapshotter != "" && c.SnapshotKey != "" {
			emit(gc.Node{Type: gc.ResourceSnapshot, Namespace: ns, Key: c.Snapshotter + "/" + c.SnapshotKey})
		}
		if d, err := digest.Parse(c.ImageDigest); err == nil {
			emit(gc.Node{Type: gc.ResourceContent, Namespace: ns, Key: d.String()})
		}
		return nil
	})
}

func bucket(tx *bolt.Tx, ns string, name []byte) *bolt.Bucket {
	v1 := tx.Bucket(bucketV1)
	if v1 == nil {
		return nil
	}
	nb := v1.Bucket([]byte(ns))
	if nb == nil {
		return nil
	}
	return nb.Bucket(name)
}

func createBucket(tx *bolt.Tx, ns string, name []byte) (*bolt.Bucket, error) {
	v1, err := tx.CreateBucketIfNotExists(bucketV1)
	if err != nil {
		return nil, err
	}
	nb, err := v1.CreateBucketIfNotExists([]byte(ns))
	if err != nil {
		return nil, err
	}
	return nb.CreateBucketIfNotExists(name)
}

func conflict(name, id string) error {
	return fmt.Errorf("Conflict. The container name \"/%s\" is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name: %w", name, id, errdefs.ErrAlreadyExists)
}

func notFound(ref string) error {
	return fmt.Errorf("No such container: %s: %w", ref, errdefs.ErrNotFound)
}

// Create stores a new container. An empty ID gets NewID, an empty Name a
// generated one, a zero Created now and an empty status "created". A taken
// name is docker's conflict error (errdefs.ErrAlreadyExists).
func (s *Store) Create(ctx context.Context, c Container) (Container, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return Container{}, err
	}
	if c.ID == "" {
		c.ID = NewID()
	}
	if err := ValidateID(c.ID); err != nil {
		return Container{}, err
	}
	autoName := c.Name == ""
	c.Name = strings.TrimPrefix(c.Name, "/")
	if !autoName {
		if err := ValidateName(c.Name); err != nil {
			return Container{}, err
		}
	}
	if err := validate(&c); err != nil {
		return Container{}, err
	}
	if c.Created.IsZero() {
		c.Created = time.Now().UTC()
	}
	if c.Status.State == "" {
		c.Status.State = StateCreated
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		cb, err := createBucket(tx, ns, bucketContainers)
		if err != nil {
			return err
		}
		nb, err := createBucket(tx, ns, bucketNames)
		if err != nil {
			return err
		}
		if cb.Get([]byte(c.ID)) != nil {
			return fmt.Errorf("container %s: %w", c.ID, errdefs.ErrAlreadyExists)
		}
		if autoName {
			for i := 0; ; i++ {
				c.Name = GenerateName(i / 5)
				if nb.Get([]byte(c.Name)) == nil {
					break
				}
				if i > 100 {
					return fmt.Errorf("container name: no free generated name: %w", errdefs.ErrUnavailable)
				}
			}
		} else if id := nb.Get([]byte(c.Name)); id != nil {
			return conflict(c.Name, string(id))
		}
		data, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if err := cb.Put([]byte(c.ID), data); err != nil {
			return err
		}
		return nb.Put([]byte(c.Name), []byte(c.ID))
	})
	if err != nil {
		return Container{}, err
	}
	return c, nil
}

func validate(c *Container) error {
	if c.Status.State != "" && !c.Status.State.Valid() {
		return fmt.Errorf("container %s: status.state %q: unknown: %w", c.ID, c.Status.State, errdefs.ErrInvalidArgument)
	}
	if err := oci.CheckRestartPolicy(c.RestartPolicy, false); err != nil {
		return fmt.Errorf("container %s: restartPolicy: %v: %w", c.ID, err, errdefs.ErrInvalidArgument)
	}
	if (c.Snapshotter == "") != (c.SnapshotKey == "") {
		return fmt.Errorf("container %s: snapshotter and snapshotKey go together: %w", c.ID, errdefs.ErrInvalidArgument)
	}
	if c.ImageDigest != "" {
		if _, err := digest.Parse(c.ImageDigest); err != nil {
			return fmt.Errorf("container %s: imageDigest %q: %v: %w", c.ID, c.ImageDigest, err, errdefs.ErrInvalidArgument)
		}
	}
	for k := range c.Labels {
		if k == "" {
			return fmt.Errorf("container %s: labels: empty key: %w", c.ID, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// resolve finds the ID ref names in tx: a full ID, a name (with or
// without "/"), or a unique ID prefix.
func resolve(tx *bolt.Tx, ns, ref string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("container reference is empty: %w", errdefs.ErrInvalidArgument)
	}
	cb := bucket(tx, ns, bucketContainers)
	if cb == nil {
		return "", notFound(ref)
	}
	if cb.Get([]byte(ref)) != nil {
		return ref, nil
	}
	if nb := bucket(tx, ns, bucketNames); nb != nil {
		if id := nb.Get([]byte(strings.TrimPrefix(ref, "/"))); id != nil {
			return string(id), nil
		}
	}
	for _, r := range ref {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return "", notFound(ref)
		}
	}
	var found []string
	c := cb.Cursor()
	for k, _ := c.Seek([]byte(ref)); k != nil && strings.HasPrefix(string(k), ref); k, _ = c.Next() {
		found = append(found, string(k))
		if len(found) > 1 {
			return "", fmt.Errorf("multiple IDs found with provided prefix: %s: %w", ref, errdefs.ErrInvalidArgument)
		}
	}
	if len(found) == 0 {
		return "", notFound(ref)
	}
	return found[0], nil
}

func read(tx *bolt.Tx, ns, id string) (Container, error) {
	cb := bucket(tx, ns, bucketContainers)
	if cb == nil {
		return Container{}, notFound(id)
	}
	data := cb.Get([]byte(id))
	if data == nil {
		return Container{}, notFound(id)
	}
	var c Container
	if err := json.Unmarshal(data, &c); err != nil {
		return Container{}, fmt.Errorf("container %s: corrupt record: %w", id, err)
	}
	return c, nil
}

// Get finds a container by full ID, name or unique ID prefix. An
// ambiguous prefix is an error naming it (errdefs.ErrInvalidArgument).
func (s *Store) Get(ctx context.Context, ref string) (Container, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return Container{}, err
	}
	var c Container
	err = s.db.View(func(tx *bolt.Tx) error {
		id, err := resolve(tx, ns, ref)
		if err != nil {
			return err
		}
		c, err = read(tx, ns, id)
		return err
	})
	return c, err
}

// Filter selects containers in List, like `docker ps --filter`. Every
// non-empty field must match; within a field any value may.
type Filter struct {
	IDs      []string // ID prefixes
	Names    []string // substrings of the name
	Status   []State
	Labels   []string // "key" or "key=value"; all must match
	Ancestor []string // image name (with or without tag) or image digest (or its prefix)
}

// ParseFilters turns `--filter key=value` strings into a Filter (keys id,
// name, status, label, ancestor).
func ParseFilters(list []string) (Filter, error) {
	var f Filter
	for _, s := range list {
		k, v, ok := strings.Cut(s, "=")
		if !ok || v == "" {
			return Filter{}, fmt.Errorf("invalid argument %q for \"-f, --filter\" flag: bad format of filter (expected name=value): %w", s, errdefs.ErrInvalidArgument)
		}
		switch k {
		case "id":
			f.IDs = append(f.IDs, v)
		case "name":
			f.Names = append(f.Names, strings.TrimPrefix(v, "/"))
		case "status":
			if !State(v).Valid() {
				return Filter{}, fmt.Errorf("invalid filter 'status=%s': %w", v, errdefs.ErrInvalidArgument)
			}
			f.Status = append(f.Status, State(v))
		case "label":
			f.Labels = append(f.Labels, v)
		case "ancestor":
			f.Ancestor = append(f.Ancestor, v)
		default:
			return Filter{}, fmt.Errorf("invalid filter '%s': %w", k, errdefs.ErrInvalidArgument)
		}
	}
	return f, nil
}

// Match reports whether c passes f.
func (f Filter) Match(c Container) bool {
	anyOf := func(list []string, ok func(string) bool) bool {
		if len(list) == 0 {
			return true
		}
		for _, v := range list {
			if ok(v) {
				return true
			}
		}
		return false
	}
	if !anyOf(f.IDs, func(v string) bool { return strings.HasPrefix(c.ID, v) }) {
		return false
	}
	if !anyOf(f.Names, func(v string) bool { return strings.Contains(c.Name, v) }) {
		return false
	}
	if len(f.Status) > 0 {
		ok := false
		for _, st := range f.Status {
			ok = ok || st == c.Status.State
		}
		if !ok {
			return false
		}
	}
	for _, l := range f.Labels {
		k, v, hasV := strings.Cut(l, "=")
		have, ok := c.Labels[k]
		if !ok || (hasV && have != v) {
			return false
		}
	}
	return anyOf(f.Ancestor, func(v string) bool { return ancestorMatch(c, v) })
}

func ancestorMatch(c Container, v string) bool {
	if c.Image == v || c.ImageDigest == v {
		return true
	}
	if p := strings.TrimPrefix(v, "sha256:"); len(p) >= 4 && strings.HasPrefix(strings.TrimPrefix(c.ImageDigest, "sha256:"), p) {
		return true
	}
	// "busybox" matches "busybox:latest" and "docker.io/library/busybox:1.36".
	img, want := normalizeRef(c.Image), normalizeRef(v)
	if img == want {
		return true
	}
	return !hasTag(want) && repoOf(img) == want
}

func normalizeRef(r string) string {
	r = strings.TrimPrefix(r, "docker.io/")
	return strings.TrimPrefix(r, "library/")
}

func hasTag(r string) bool {
	return strings.Contains(r, "@") || strings.LastIndex(r, ":") > strings.LastIndex(r, "/")
}

func repoOf(r string) string {
	if i := strings.Index(r, "@"); i >= 0 {
		r = r[:i]
	}
	if i := strings.LastIndex(r, ":"); i > strings.LastIndex(r, "/") {
		r = r[:i]
	}
	return r
}

// List returns the namespace's containers matching f, newest first.
func (s *Store) List(ctx context.Context, f Filter) ([]Container, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	var out []Container
	err = s.db.View(func(tx *bolt.Tx) error {
		cb := bucket(tx, ns, bucketContainers)
		if cb == nil {
			return nil
		}
		return cb.ForEach(func(k, v []byte) error {
			var c Container
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("container %s: corrupt record: %w", k, err)
			}
			if f.Match(c) {
				out = append(out, c)
			}
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, err
}

// Update changes the container ref names through fn, atomically. fn may
// change anything but the ID; a new Name is checked for conflicts (rename).
func (s *Store) Update(ctx context.Context, ref string, fn func(*Container) error) (Container, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return Container{}, err
	}
	var c Container
	err = s.db.Update(func(tx *bolt.Tx) error {
		id, err := resolve(tx, ns, ref)
		if err != nil {
			return err
		}
		old, err := read(tx, ns, id)
		if err != nil {
			return err
		}
		c = old
		if err := fn(&c); err != nil {
			return err
		}
		if c.ID != old.ID {
			return fmt.Errorf("container %s: id cannot change: %w", old.ID, errdefs.ErrInvalidArgument)
		}
		c.Name = strings.TrimPrefix(c.Name, "/")
		if err := ValidateName(c.Name); err != nil {
			return err
		}
		if err := validate(&c); err != nil {
			return err
		}
		nb, err := createBucket(tx, ns, bucketNames)
		if err != nil {
			return err
		}
		if c.Name != old.Name {
			if other := nb.Get([]byte(c.Name)); other != nil {
				return conflict(c.Name, string(other))
			}
			if err := nb.Delete([]byte(old.Name)); err != nil {
				return err
			}
			if err := nb.Put([]byte(c.Name), []byte(c.ID)); err != nil {
				return err
			}
		}
		data, err := json.Marshal(c)
		if err != nil {
			return err
		}
		return bucket(tx, ns, bucketContainers).Put([]byte(c.ID), data)
	})
	if err != nil {
		return Container{}, err
	}
	return c, nil
}

// Delete removes the record (by ID, name or unique prefix) and its name.
// What the container used (snapshot, volumes) is the caller's to remove;
// once the record is gone GC no longer holds its snapshot.
func (s *Store) Delete(ctx context.Context, ref string) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		id, err := resolve(tx, ns, ref)
		if err != nil {
			return err
		}
		c, err := read(tx, ns, id)
		if err != nil {
			return err
		}
		if nb := bucket(tx, ns, bucketNames); nb != nil {
			if string(nb.Get([]byte(c.Name))) == id {
				if err := nb.Delete([]byte(c.Name)); err != nil {
					return err
				}
			}
		}
		return bucket(tx, ns, bucketContainers).Delete([]byte(id))
	})
}

// VolumeUsage maps each volume name to the IDs of the containers using it,
// over every namespace (volumes are not namespaced); it is the
// volume.UsageFunc the daemon gives the volume store.
func (s *Store) VolumeUsage(ctx context.Context) (map[string][]string, error) {
	out := map[string][]string{}
	err := s.db.View(func(tx *bolt.Tx) error {
		v1 := tx.Bucket(bucketV1)
		if v1 == nil {
			return nil
		}
		return v1.ForEachBucket(func(ns []byte) error {
			cb := bucket(tx, string(ns), bucketContainers)
			if cb == nil {
				return nil
			}
			return cb.ForEach(func(k, v []byte) error {
				var c struct {
					Volumes []oci.VolumeRef `json:"volumes"`
				}
				if err := json.Unmarshal(v, &c); err != nil {
					return fmt.Errorf("container %s: corrupt record: %w", k, err)
				}
				for _, r := range c.Volumes {
					out[r.Name] = append(out[r.Name], string(k))
				}
				return nil
			})
		})
	})
	return out, err
}
