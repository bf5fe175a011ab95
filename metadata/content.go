package metadata

import (
	"context"
	"fmt"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/filters"
	"github.com/berth-containers/berth/internal/namespaces"
	"github.com/berth-containers/berth/leases"
)

type blobRecord struct {
	Size      int64             `json:"size"`
	CreatedAt time.Time         `json:"createdAt"`
	UpdatedAt time.Time         `json:"updatedAt"`
	Labels    map[string]string `json:"labels,omitempty"`
}

type ingestRecord struct {
	Expected  digest.Digest `json:"expected,omitempty"`
	CreatedAt time.Time     `json:"createdAt"`
}

// nsContent is the namespaced view of the shared content store. A blob is
// visible in a namespace only once it was committed there (or added by the
// daemon with DB.AddContent): a namespace proves it has a blob by writing
// it, so another namespace's data is never handed out on the strength of a
// digest alone. The bytes are stored once however many namespaces use them.
type nsContent struct{ db *DB }

var _ content.Store = (*nsContent)(nil)

// backendRef is the ingest ref in the shared store: namespaced, so that two
// namespaces' ingests never share a writer.
func backendRef(ns, ref string) string { return ns + "/" + ref }

func (c *nsContent) record(ns string, d digest.Digest) (blobRecord, bool, error) {
	var rec blobRecord
	var found bool
	err := c.db.db.View(func(tx *bolt.Tx) error {
		var err error
		found, err = getJSON(nsBucket(tx, ns, bucketContent, bucketBlob), []byte(d), &rec)
		return err
	})
	return rec, found, err
}

func (c *nsContent) Info(ctx context.Context, d digest.Digest) (content.Info, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return content.Info{}, err
	}
	if err := d.Validate(); err != nil {
		return content.Info{}, fmt.Errorf("digest %q: %v: %w", d, err, errdefs.ErrInvalidArgument)
	}
	rec, ok, err := c.record(ns, d)
	if err != nil {
		return content.Info{}, err
	}
	if !ok {
		return content.Info{}, fmt.Errorf("content %s in namespace %q: %w", d, ns, errdefs.ErrNotFound)
	}
	return rec.info(d), nil
}

func (r blobRecord) info(d digest.Digest) content.Info {
	return content.Info{Digest: d, Size: r.Size, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Labels: copyLabels(r.Labels)}
}

func (c *nsContent) Update(ctx context.Context, info content.Info, fieldpaths ...string) (content.Info, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return content.Info{}, err
	}
	if err := info.Digest.Validate(); err != nil {
		return content.Info{}, fmt.Errorf("digest %q: %v: %w", info.Digest, err, errdefs.ErrInvalidArgument)
	}
	var out content.Info
	err = c.db.db.Update(func(tx *bolt.Tx) error {
		b := nsBucket(tx, ns, bucketContent, bucketBlob)
		var rec blobRecord
		ok, err := getJSON(b, []byte(info.Digest), &rec)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("content %s in namespace %q: %w", info.Digest, ns, errdefs.ErrNotFound)
		}
		labels, err := content.UpdateLabels(rec.Labels, info.Labels, fieldpaths)
		if err != nil {
			return fmt.Errorf("content %s: %w", info.Digest, err)
		}
		if err := validateLabels("content "+info.Digest.String(), labels); err != nil {
			return err
		}
		rec.Labels = labels
		rec.UpdatedAt = time.Now().UTC()
		out = rec.info(info.Digest)
		return putJSON(b, []byte(info.Digest), rec)
	})
	return out, err
}

func (c *nsContent) Walk(ctx context.Context, fn func(content.Info) error, fs ...string) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	flt, err := filters.Parse(fs...)
	if err != nil {
		return err
	}
	var infos []content.Info
	err = c.db.db.View(func(tx *bolt.Tx) error {
		b := nsBucket(tx, ns, bucketContent, bucketBlob)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var rec blobRecord
			if _, err := getJSON(b, k, &rec); err != nil {
				return err
			}
			info := rec.info(digest.Digest(k))
			if flt.Match(content.InfoAdaptor(info)) {
				infos = append(infos, info)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	// fn runs outside the transaction: it may call the store.
	for _, info := range infos {
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes the namespace's reference; the bytes go at the next
// garbage collection if no other namespace references them.
func (c *nsContent) Delete(ctx context.Context, d digest.Digest) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %v: %w", d, err, errdefs.ErrInvalidArgument)
	}
	return c.db.db.Update(func(tx *bolt.Tx) error {
		b := nsBucket(tx, ns, bucketContent, bucketBlob)
		if b == nil || b.Get([]byte(d)) == nil {
			return fmt.Errorf("content %s in namespace %q: %w", d, ns, errdefs.ErrNotFound)
		}
		return b.Delete([]byte(d))
	})
}

func (c *nsContent) ReaderAt(ctx context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	if _, err := c.Info(ctx, desc.Digest); err != nil {
		return nil, err
	}
	return c.db.cs.ReaderAt(ctx, desc)
}

func (c *nsContent) Status(ctx context.Context, ref string) (content.Status, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return content.Status{}, err
	}
	st, err := c.db.cs.Status(ctx, backendRef(ns, ref))
	if err != nil {
		if errdefs.IsNotFound(err) {
			return content.Status{}, fmt.Errorf("ingest %q in namespace %q: %w", ref, ns, errdefs.ErrNotFound)
		}
		return content.Status{}, err
	}
	st.Ref = ref
	return st, nil
}

func (c *nsContent) ListStatuses(ctx context.Context, fs ...string) ([]content.Status, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	flt, err := filters.Parse(fs...)
	if err != nil {
		return nil, err
	}
	all, err := c.db.cs.ListStatuses(ctx)
	if err != nil {
		return nil, err
	}
	var out []content.Status
	prefix := ns + "/"
	for _, st := range all {
		if !strings.HasPrefix(st.Ref, prefix) {
			continue
		}
		st.Ref = strings.TrimPrefix(st.Ref, prefix)
		if flt.Match(func(p []string) (string, bool) {
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
			out = append(out, st)
		}
	}
	return out, nil
}

func (c *nsContent) Abort(ctx context.Context, ref string) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	if err := c.db.cs.Abort(ctx, backendRef(ns, ref)); err != nil {
		if errdefs.IsNotFound(err) {
			return fmt.Errorf("ingest %q in namespace %q: %w", ref, ns, errdefs.ErrNotFound)
		}
		return err
	}
	return c.db.db.Update(func(tx *bolt.Tx) error {
		return forgetIngest(ctx, tx, ns, ref)
	})
}

// forgetIngest drops the namespace's record of an ingest that ended, and
// the context lease's hold on it.
func forgetIngest(ctx context.Context, tx *bolt.Tx, ns, ref string) error {
	if b := nsBucket(tx, ns, bucketContent, bucketIngest); b != nil {
		if err := b.Delete([]byte(ref)); err != nil {
			return err
		}
	}
	if id, ok := leases.FromContext(ctx); ok {
		if rb := nsBucket(tx, ns, bucketLeases, []byte(id), bucketResources); rb != nil {
			return rb.Delete(resourceKey(leases.Resource{Type: ResourceIngest, ID: ref}))
		}
	}
	return nil
}

func (c *nsContent) Writer(ctx context.Context, ref string, desc ocispec.Descriptor) (content.Writer, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	if err := validateKey("ingest ref", ref); err != nil {
		return nil, err
	}
	if desc.Digest != "" {
		if err := desc.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("ingest %q: digest %q: %v: %w", ref, desc.Digest, err, errdefs.ErrInvalidArgument)
		}
		if _, ok, err := c.record(ns, desc.Digest); err != nil {
			return nil, err
		} else if ok {
			// Present, unless its data vanished behind the store's back:
			// then writing it again heals the record.
			if _, err := c.db.cs.Info(ctx, desc.Digest); !errdefs.IsNotFound(err) {
				return nil, fmt.Errorf("content %s in namespace %q: %w", desc.Digest, ns, errdefs.ErrAlreadyExists)
			}
		}
	}
	if err := c.db.checkCtxLease(ctx, ns); err != nil {
		return nil, err
	}
	bref := backendRef(ns, ref)
	w, err := c.db.cs.Writer(ctx, bref, desc)
	if errdefs.IsAlreadyExists(err) {
		// Stored for another namespace: this one must still supply (and
		// so prove it has) the bytes; Commit then only adds a record.
		bdesc := desc
		bdesc.Digest = ""
		w, err = c.db.cs.Writer(ctx, bref, bdesc)
	}
	if err != nil {
		return nil, err
	}
	err = c.db.db.Batch(func(tx *bolt.Tx) error {
		b, err := createNSBucket(tx, ns, bucketContent, bucketIngest)
		if err != nil {
			return err
		}
		if b.Get([]byte(ref)) == nil {
			if err := putJSON(b, []byte(ref), ingestRecord{Expected: desc.Digest, CreatedAt: time.Now().UTC()}); err != nil {
				return err
			}
		}
		return addCtxLease(ctx, tx, ns, leases.Resource{Type: ResourceIngest, ID: ref})
	})
	if err != nil {
		fresh := w.Offset() == 0
		w.Close()
		if fresh {
			c.db.cs.Abort(ctx, bref) // leave nothing behind
		}
		return nil, err
	}
	return &nsWriter{Writer: w, c: c, ns: ns, ref: ref, desc: desc}, nil
}

type nsWriter struct {
	content.Writer
	c    *nsContent
	ns   string
	ref  string
	desc ocispec.Descriptor
}

func (w *nsWriter) Commit(ctx context.Context, size int64, expected digest.Digest, opts ...content.Opt) error {
	var co content.CommitOptions
	for _, o := range opts {
		if err := o(&co); err != nil {
			return err
		}
	}
	if expected == "" {
		expected = w.desc.Digest
	}
	if err := validateLabels("content "+expected.String(), co.Labels); err != nil {
		return err
	}
	db := w.c.db
	db.wlock.RLock()
	defer db.wlock.RUnlock()
	dgst := expected
	if dgst == "" {
		dgst = w.Writer.Digest()
	}
	if err := w.Writer.Commit(ctx, size, expected); err != nil && !errdefs.IsAlreadyExists(err) {
		return err
	}
	// The backend verified the bytes (or found them, verified, present).
	info, err := db.cs.Info(ctx, dgst)
	if err != nil {
		return fmt.Errorf("commit %q: committed %s but cannot stat it: %w", w.ref, dgst, err)
	}
	now := time.Now().UTC()
	existed := false
	err = db.db.Batch(func(tx *bolt.Tx) error {
		existed = false // Batch may run this more than once
		if err := forgetIngest(ctx, tx, w.ns, w.ref); err != nil {
			return err
		}
		b, err := createNSBucket(tx, w.ns, bucketContent, bucketBlob)
		if err != nil {
			return err
		}
		if b.Get([]byte(dgst)) != nil {
			existed = true
		} else if err := putJSON(b, []byte(dgst), blobRecord{Size: info.Size, CreatedAt: now, UpdatedAt: now, Labels: co.Labels}); err != nil {
			return err
		}
		return addCtxLease(ctx, tx, w.ns, leases.Resource{Type: ResourceContent, ID: dgst.String()})
	})
	if err != nil {
		return err
	}
	if existed {
		return fmt.Errorf("content %s in namespace %q: %w", dgst, w.ns, errdefs.ErrAlreadyExists)
	}
	return nil
}

// AddContent makes a blob already in the shared store visible in the
// context's namespace (for the daemon's own use, e.g. sharing an image
// between namespaces it trusts; API callers get no such shortcut). It is
// not an error if the namespace already has it.
func (db *DB) AddContent(ctx context.Context, d digest.Digest, labels map[string]string) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	if err := validateLabels("content "+d.String(), labels); err != nil {
		return err
	}
	db.wlock.RLock()
	defer db.wlock.RUnlock()
	info, err := db.cs.Info(ctx, d)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	return db.db.Update(func(tx *bolt.Tx) error {
		b, err := createNSBucket(tx, ns, bucketContent, bucketBlob)
		if err != nil {
			return err
		}
		if b.Get([]byte(d)) == nil {
			if err := putJSON(b, []byte(d), blobRecord{Size: info.Size, CreatedAt: now, UpdatedAt: now, Labels: labels}); err != nil {
				return err
			}
		}
		return addCtxLease(ctx, tx, ns, leases.Resource{Type: ResourceContent, ID: d.String()})
	})
}
