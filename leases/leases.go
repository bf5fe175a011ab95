package leases

import (
	"context"
	"time"
)

// Lease is one hold on resources.
type Lease struct {
	ID        string
	CreatedAt time.Time
	Labels    map[string]string
}

// Resource is one thing a lease holds: Type is "content", "ingest" or
// "snapshots/<snapshotter>"; ID the digest, ingest ref or snapshot key.
type Resource struct {
	ID   string
	Type string
}

// LabelExpire, set on a lease to an RFC 3339 time, makes the lease stop
// protecting anything after that time; GC then deletes it.
const LabelExpire = "berth.io/gc.expire"

// Manager creates, deletes and lists the leases of the context's namespace.
type Manager interface {
	Create(ctx context.Context, opts ...Opt) (Lease, error)
	Delete(ctx context.Context, lease Lease, opts ...DeleteOpt) error
	List(ctx context.Context, filters ...string) ([]Lease, error)
	AddResource(ctx context.Context, lease Lease, r Resource) error
	DeleteResource(ctx context.Context, lease Lease, r Resource) error
	ListResources(ctx context.Context, lease Lease) ([]Resource, error)
}

// Opt sets properties of a lease being created.
type Opt func(*Lease) error

// WithID names the lease (else a random id is chosen).
func WithID(id string) Opt {
	return func(l *Lease) error { l.ID = id; return nil }
}

// WithLabels merges labels into the lease's labels.
func WithLabels(labels map[string]string) Opt {
	return func(l *Lease) error {
		if l.Labels == nil {
			l.Labels = map[string]string{}
		}
		for k, v := range labels {
			l.Labels[k] = v
		}
		return nil
	}
}

// WithExpiration makes the lease expire d from now.
func WithExpiration(d time.Duration) Opt {
	return func(l *Lease) error {
		if l.Labels == nil {
			l.Labels = map[string]string{}
		}
		l.Labels[LabelExpire] = time.Now().Add(d).UTC().Format(time.RFC3339Nano)
		return nil
	}
}

// DeleteOptions are set by DeleteOpt.
type DeleteOptions struct {
	// Synchronous runs garbage collection before Delete returns.
	Synchronous bool
}

// DeleteOpt changes a Delete.
type DeleteOpt func(*DeleteOptions) error

// SynchronousDelete runs garbage collection before Delete returns.
func SynchronousDelete(o *DeleteOptions) error { o.Synchronous = true; return nil }

type leaseKey struct{}

// WithLease returns ctx carrying the lease id: what is written under it is
// recorded as the lease's and protected until the lease goes.
func WithLease(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, leaseKey{}, id)
}

// FromContext returns the lease id on ctx, if any.
func FromContext(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(leaseKey{}).(string)
	return id, ok && id != ""
}
