package metadata

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/images"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/filters"
	"github.com/berth-containers/berth/internal/namespaces"
)

type imageRecord struct {
	Target    ocispec.Descriptor `json:"target"`
	Labels    map[string]string  `json:"labels,omitempty"`
	CreatedAt time.Time          `json:"createdAt"`
	UpdatedAt time.Time          `json:"updatedAt"`
}

type imageStore struct{ db *DB }

var _ images.Store = (*imageStore)(nil)

func (r imageRecord) image(name string) images.Image {
	return images.Image{Name: name, Target: r.Target, Labels: copyLabels(r.Labels), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

func validateTarget(name string, t ocispec.Descriptor) error {
	if err := t.Digest.Validate(); err != nil {
		return fmt.Errorf("image %q: target.digest %q: %v: %w", name, t.Digest, err, errdefs.ErrInvalidArgument)
	}
	if t.MediaType == "" {
		return fmt.Errorf("image %q: target.mediaType: empty: %w", name, errdefs.ErrInvalidArgument)
	}
	if t.Size < 0 {
		return fmt.Errorf("image %q: target.size %d: must be >= 0: %w", name, t.Size, errdefs.ErrInvalidArgument)
	}
	return nil
}

func (s *imageStore) Get(ctx context.Context, name string) (images.Image, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return images.Image{}, err
	}
	var out images.Image
	err = s.db.db.View(func(tx *bolt.Tx) error {
		var rec imageRecord
		ok, err := getJSON(nsBucket(tx, ns, bucketImages), []byte(name), &rec)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("image %q in namespace %q: %w", name, ns, errdefs.ErrNotFound)
		}
		out = rec.image(name)
		return nil
	})
	return out, err
}

// ImageAdaptor exposes an image's fields to filters: name,
// target.digest, target.mediatype, target.size, labels.<key>.
func ImageAdaptor(img images.Image) filters.Adaptor {
	return func(p []string) (string, bool) {
		if len(p) == 0 {
			return "", false
		}
		switch p[0] {
		case "name":
			return img.Name, len(p) == 1
		case "labels":
			return filters.LabelAdaptor(img.Labels, p[1:])
		case "target":
			if len(p) != 2 {
				return "", false
			}
			switch strings.ToLower(p[1]) {
			case "digest":
				return string(img.Target.Digest), true
			case "mediatype":
				return img.Target.MediaType, true
			case "size":
				return strconv.FormatInt(img.Target.Size, 10), true
			}
		}
		return "", false
	}
}

func (s *imageStore) List(ctx context.Context, fs ...string) ([]images.Image, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	flt, err := filters.Parse(fs...)
	if err != nil {
		return nil, err
	}
	var out []images.Image
	err = s.db.db.View(func(tx *bolt.Tx) error {
		b := nsBucket(tx, ns, bucketImages)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var rec imageRecord
			if _, err := getJSON(b, k, &rec); err != nil {
				return fmt.Errorf("image %q: %w", k, err)
			}
			if img := rec.image(string(k)); flt.Match(ImageAdaptor(img)) {
				out = append(out, img)
			}
			return nil
		})
	})
	return out, err
}

func (s *imageStore) Create(ctx context.Context, img images.Image) (images.Image, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return images.Image{}, err
	}
	if err := validateKey("image name", img.Name); err != nil {
		return images.Image{}, err
	}
	if err := validateTarget(img.Name, img.Target); err != nil {
		return images.Image{}, err
	}
	if err := validateLabels("image "+img.Name, img.Labels); err != nil {
		return images.Image{}, err
	}
	now := time.Now().UTC()
	rec := imageRecord{Target: img.Target, Labels: copyLabels(img.Labels), CreatedAt: now, UpdatedAt: now}
	err = s.db.db.Update(func(tx *bolt.Tx) error {
		b, err := createNSBucket(tx, ns, bucketImages)
		if err != nil {
			return err
		}
		if b.Get([]byte(img.Name)) != nil {
			return fmt.Errorf("image %q in namespace %q: %w", img.Name, ns, errdefs.ErrAlreadyExists)
		}
		return putJSON(b, []byte(img.Name), rec)
	})
	if err != nil {
		return images.Image{}, err
	}
	return rec.image(img.Name), nil
}

func (s *imageStore) Update(ctx context.Context, img images.Image, fieldpaths ...string) (images.Image, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return images.Image{}, err
	}
	var out images.Image
	err = s.db.db.Update(func(tx *bolt.Tx) error {
		b := nsBucket(tx, ns, bucketImages)
		var rec imageRecord
		ok, err := getJSON(b, []byte(img.Name), &rec)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("image %q in namespace %q: %w", img.Name, ns, errdefs.ErrNotFound)
		}
		if len(fieldpaths) == 0 {
			fieldpaths = []string{"target", "labels"}
		}
		var labelPaths []string
		for _, p := range fieldpaths {
			switch {
			case p == "target":
				if err := validateTarget(img.Name, img.Target); err != nil {
					return err
				}
				rec.Target = img.Target
			case p == "labels" || strings.HasPrefix(p, "labels."):
				labelPaths = append(labelPaths, p)
			default:
				return fmt.Errorf("image %q: update fieldpath %q: want target, labels or labels.<key>: %w", img.Name, p, errdefs.ErrInvalidArgument)
			}
		}
		if len(labelPaths) > 0 {
			labels, err := content.UpdateLabels(rec.Labels, img.Labels, labelPaths)
			if err != nil {
				return err
			}
			if err := validateLabels("image "+img.Name, labels); err != nil {
				return err
			}
			rec.Labels = labels
		}
		rec.UpdatedAt = time.Now().UTC()
		out = rec.image(img.Name)
		return putJSON(b, []byte(img.Name), rec)
	})
	return out, err
}

// Delete removes the image record; what only it referenced goes at the
// next garbage collection.
func (s *imageStore) Delete(ctx context.Context, name string) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	return s.db.db.Update(func(tx *bolt.Tx) error {
		b := nsBucket(tx, ns, bucketImages)
		if b == nil || b.Get([]byte(name)) == nil {
			return fmt.Errorf("image %q in namespace %q: %w", name, ns, errdefs.ErrNotFound)
		}
		return b.Delete([]byte(name))
	})
}
