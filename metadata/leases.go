package metadata

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/filters"
	"github.com/berth-containers/berth/internal/namespaces"
	"github.com/berth-containers/berth/leases"
)

type leaseRecord struct {
	CreatedAt time.Time         `json:"createdAt"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// Lease resource types.
const (
	ResourceContent   = "content"
	ResourceIngest    = "ingest"
	resourceSnapshots = "snapshots/" // + snapshotter name
)

type leaseManager struct{ db *DB }

func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (m *leaseManager) Create(ctx context.Context, opts ...leases.Opt) (leases.Lease, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return leases.Lease{}, err
	}
	var l leases.Lease
	for _, o := range opts {
		if err := o(&l); err != nil {
			return leases.Lease{}, err
		}
	}
	if l.ID == "" {
		l.ID = randomID()
	}
	if err := validateKey("lease id", l.ID); err != nil {
		return leases.Lease{}, err
	}
	if err := validateLabels("lease "+l.ID, l.Labels); err != nil {
		return leases.Lease{}, err
	}
	if v, ok := l.Labels[leases.LabelExpire]; ok {
		if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
			return leases.Lease{}, fmt.Errorf("lease %q: label %s=%q: not an RFC 3339 time: %w", l.ID, leases.LabelExpire, v, errdefs.ErrInvalidArgument)
		}
	}
	l.CreatedAt = time.Now().UTC()
	err = m.db.db.Update(func(tx *bolt.Tx) error {
		lb, err := createNSBucket(tx, ns, bucketLeases)
		if err != nil {
			return err
		}
		if lb.Bucket([]byte(l.ID)) != nil {
			return fmt.Errorf("lease %q: %w", l.ID, errdefs.ErrAlreadyExists)
		}
		b, err := lb.CreateBucket([]byte(l.ID))
		if err != nil {
			return err
		}
		return putJSON(b, keyMeta, leaseRecord{CreatedAt: l.CreatedAt, Labels: l.Labels})
	})
	if err != nil {
		return leases.Lease{}, err
	}
	return l, nil
}

func (m *leaseManager) Delete(ctx context.Context, l leases.Lease, opts ...leases.DeleteOpt) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	var do leases.DeleteOptions
	for _, o := range opts {
		if err := o(&do); err != nil {
			return err
		}
	}
	err = m.db.db.Update(func(tx *bolt.Tx) error {
		lb := nsBucket(tx, ns, bucketLeases)
		if lb == nil || lb.Bucket([]byte(l.ID)) == nil {
			return fmt.Errorf("lease %q: %w", l.ID, errdefs.ErrNotFound)
		}
		return lb.DeleteBucket([]byte(l.ID))
	})
	if err != nil {
		return err
	}
	if do.Synchronous {
		if _, err := m.db.GarbageCollect(ctx); err != nil {
			return fmt.Errorf("lease %q deleted; garbage collection: %w", l.ID, err)
		}
	}
	return nil
}

func (m *leaseManager) List(ctx context.Context, fs ...string) ([]leases.Lease, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	flt, err := filters.Parse(fs...)
	if err != nil {
		return nil, err
	}
	var out []leases.Lease
	err = m.db.db.View(func(tx *bolt.Tx) error {
		lb := nsBucket(tx, ns, bucketLeases)
		if lb == nil {
			return nil
		}
		return lb.ForEachBucket(func(k []byte) error {
			var rec leaseRecord
			if _, err := getJSON(lb.Bucket(k), keyMeta, &rec); err != nil {
				return fmt.Errorf("lease %q: %w", k, err)
			}
			l := leases.Lease{ID: string(k), CreatedAt: rec.CreatedAt, Labels: rec.Labels}
			if flt.Match(func(p []string) (string, bool) {
				switch {
				case len(p) == 1 && p[0] == "id":
					return l.ID, true
				case len(p) >= 1 && p[0] == "labels":
					return filters.LabelAdaptor(l.Labels, p[1:])
				}
				return "", false
			}) {
				out = append(out, l)
			}
			return nil
		})
	})
	return out, err
}

func (m *leaseManager) validResource(r leases.Resource) error {
	switch {
	case r.Type == ResourceContent:
		if err := digest.Digest(r.ID).Validate(); err != nil {
			return fmt.Errorf("lease resource content %q: %v: %w", r.ID, err, errdefs.ErrInvalidArgument)
		}
	case r.Type == ResourceIngest:
		return validateKey("lease resource ingest", r.ID)
	case strings.HasPrefix(r.Type, resourceSnapshots):
		name := strings.TrimPrefix(r.Type, resourceSnapshots)
		if _, ok := m.db.snapshotters[name]; !ok {
			return fmt.Errorf("lease resource type %q: no snapshotter %q: %w", r.Type, name, errdefs.ErrInvalidArgument)
		}
		return validateKey("lease resource snapshot", r.ID)
	default:
		return fmt.Errorf("lease resource type %q: want content, ingest or snapshots/<snapshotter>: %w", r.Type, errdefs.ErrInvalidArgument)
	}
	return nil
}

func resourceKey(r leases.Resource) []byte { return []byte(r.Type + "\n" + r.ID) }

func (m *leaseManager) AddResource(ctx context.Context, l leases.Lease, r leases.Resource) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	if err := m.validResource(r); err != nil {
		return err
	}
	return m.db.db.Update(func(tx *bolt.Tx) error {
		return addLeaseResource(tx, ns, l.ID, r)
	})
}

func (m *leaseManager) DeleteResource(ctx context.Context, l leases.Lease, r leases.Resource) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	return m.db.db.Update(func(tx *bolt.Tx) error {
		b := nsBucket(tx, ns, bucketLeases, []byte(l.ID))
		if b == nil {
			return fmt.Errorf("lease %q: %w", l.ID, errdefs.ErrNotFound)
		}
		rb := b.Bucket(bucketResources)
		if rb == nil || rb.Get(resourceKey(r)) == nil {
			return fmt.Errorf("lease %q: resource %s %q: %w", l.ID, r.Type, r.ID, errdefs.ErrNotFound)
		}
		return rb.Delete(resourceKey(r))
	})
}

func (m *leaseManager) ListResources(ctx context.Context, l leases.Lease) ([]leases.Resource, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	var out []leases.Resource
	err = m.db.db.View(func(tx *bolt.Tx) error {
		b := nsBucket(tx, ns, bucketLeases, []byte(l.ID))
		if b == nil {
			return fmt.Errorf("lease %q: %w", l.ID, errdefs.ErrNotFound)
		}
		out = leaseResources(b)
		return nil
	})
	return out, err
}

func leaseResources(lb *bolt.Bucket) []leases.Resource {
	rb := lb.Bucket(bucketResources)
	if rb == nil {
		return nil
	}
	var out []leases.Resource
	rb.ForEach(func(k, _ []byte) error {
		t, id, ok := strings.Cut(string(k), "\n")
		if ok {
			out = append(out, leases.Resource{Type: t, ID: id})
		}
		return nil
	})
	return out
}

// addLeaseResource records r under lease id in ns; the lease must exist.
func addLeaseResource(tx *bolt.Tx, ns, id string, r leases.Resource) error {
	b := nsBucket(tx, ns, bucketLeases, []byte(id))
	if b == nil {
		return fmt.Errorf("lease %q: %w", id, errdefs.ErrNotFound)
	}
	rb, err := b.CreateBucketIfNotExists(bucketResources)
	if err != nil {
		return err
	}
	return rb.Put(resourceKey(r), nil)
}

// addCtxLease records r under the context's lease, if any.
func addCtxLease(ctx context.Context, tx *bolt.Tx, ns string, r leases.Resource) error {
	id, ok := leases.FromContext(ctx)
	if !ok {
		return nil
	}
	return addLeaseResource(tx, ns, id, r)
}

// checkCtxLease fails early when the context names a lease that does not exist.
func (db *DB) checkCtxLease(ctx context.Context, ns string) error {
	id, ok := leases.FromContext(ctx)
	if !ok {
		return nil
	}
	return db.db.View(func(tx *bolt.Tx) error {
		if nsBucket(tx, ns, bucketLeases, []byte(id)) == nil {
			return fmt.Errorf("lease %q (from the request): %w", id, errdefs.ErrNotFound)
		}
		return nil
	})
}

func leaseExpired(rec leaseRecord, now time.Time) bool {
	v, ok := rec.Labels[leases.LabelExpire]
	if !ok {
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	return err == nil && now.After(t)
}
