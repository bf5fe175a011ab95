package metadata

import (
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/images"
	"github.com/berth-containers/berth/internal/errdefs"
)

func TestImagesCRUD(t *testing.T) {
	e := newEnv(t)
	st := e.db.Images()
	ctx := nsCtx("default")
	target := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("idx"), Size: 3}
	img, err := st.Create(ctx, images.Image{Name: "docker.io/library/busybox:latest", Target: target, Labels: map[string]string{"a": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if img.CreatedAt.IsZero() || img.UpdatedAt.IsZero() {
		t.Fatalf("timestamps not set: %+v", img)
	}
	if _, err := st.Create(ctx, images.Image{Name: img.Name, Target: target}); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("duplicate Create = %v, want already exists", err)
	}
	got, err := st.Get(ctx, img.Name)
	if err != nil || got.Target.Digest != target.Digest || got.Labels["a"] != "1" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if _, err := st.Get(nsCtx("other"), img.Name); !errdefs.IsNotFound(err) {
		t.Fatalf("image visible in another namespace: %v", err)
	}
	st.Create(ctx, images.Image{Name: "docker.io/library/alpine:3", Target: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("m"), Size: 1}})
	list, err := st.List(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %v, %v", list, err)
	}
	for _, c := range []struct {
		filter string
		want   int
	}{
		{"name==docker.io/library/alpine:3", 1},
		{"name~=busybox", 1},
		{"target.mediatype==" + ocispec.MediaTypeImageIndex, 1},
		{"target.digest==" + target.Digest.String(), 1},
		{`labels."a"==1`, 1},
		{`labels.a`, 1},
		{`name~=docker.io`, 2},
	} {
		l, err := st.List(ctx, c.filter)
		if err != nil || len(l) != c.want {
			t.Errorf("List(%q) = %d images, %v; want %d", c.filter, len(l), err, c.want)
		}
	}
	if _, err := st.List(ctx, "name=="); err != nil {
		t.Fatalf("List(name==) = %v", err)
	}
	if _, err := st.List(ctx, `labels."x`); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("List(bad filter) = %v", err)
	}
	// Update: only labels.
	newTarget := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("new"), Size: 9}
	up, err := st.Update(ctx, images.Image{Name: img.Name, Target: newTarget, Labels: map[string]string{"b": "2"}}, "labels.b")
	if err != nil || up.Target.Digest != target.Digest || up.Labels["a"] != "1" || up.Labels["b"] != "2" {
		t.Fatalf("Update(labels.b) = %+v, %v", up, err)
	}
	up, err = st.Update(ctx, images.Image{Name: img.Name, Target: newTarget})
	if err != nil || up.Target.Digest != newTarget.Digest || len(up.Labels) != 0 {
		t.Fatalf("Update() = %+v, %v", up, err)
	}
	if !up.UpdatedAt.After(img.UpdatedAt) && !up.UpdatedAt.Equal(img.UpdatedAt) {
		t.Fatalf("UpdatedAt went back")
	}
	if _, err := st.Update(ctx, images.Image{Name: img.Name}, "name"); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Update(name) = %v", err)
	}
	if _, err := st.Update(ctx, images.Image{Name: "absent", Target: newTarget}); !errdefs.IsNotFound(err) {
		t.Fatalf("Update(absent) = %v", err)
	}
	if err := st.Delete(ctx, img.Name); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, img.Name); !errdefs.IsNotFound(err) {
		t.Fatalf("second Delete = %v", err)
	}
}

func TestImagesBadInput(t *testing.T) {
	e := newEnv(t)
	st := e.db.Images()
	ctx := nsCtx("default")
	good := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("m"), Size: 1}
	cases := map[string]images.Image{
		"image name":       {Name: "", Target: good},
		"target.digest":    {Name: "x", Target: ocispec.Descriptor{MediaType: good.MediaType, Digest: "sha256:nothex", Size: 1}},
		"target.mediaType": {Name: "x", Target: ocispec.Descriptor{Digest: good.Digest, Size: 1}},
		"target.size":      {Name: "x", Target: ocispec.Descriptor{MediaType: good.MediaType, Digest: good.Digest, Size: -1}},
		"empty key":        {Name: "x", Target: good, Labels: map[string]string{"": "v"}},
	}
	for field, img := range cases {
		_, err := st.Create(ctx, img)
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("Create with bad %s = %v, want invalid argument", field, err)
		}
	}
	if l, _ := st.List(ctx); len(l) != 0 {
		t.Fatalf("bad input left images: %v", l)
	}
	if _, err := st.Create(nsCtx("bad/ns"), images.Image{Name: "x", Target: good}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Create in an invalid namespace = %v", err)
	}
	if nss, _ := e.db.Namespaces(ctx); len(nss) != 0 {
		t.Fatalf("bad input created namespaces: %v", nss)
	}
}
