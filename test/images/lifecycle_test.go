package images

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/registry"
)

type imageJSON struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	ID         string `json:"id"`
	Size       int64  `json:"size"`
	Unpacked   bool   `json:"unpacked"`
}

func listImages(t *testing.T, d *daemon) map[string]imageJSON {
	t.Helper()
	var rows []imageJSON
	if err := json.Unmarshal([]byte(d.berth("images", "--format", "json")), &rows); err != nil {
		t.Fatal(err)
	}
	out := map[string]imageJSON{}
	for _, r := range rows {
		out[r.Name] = r
	}
	return out
}

// TestImageLifecycle is the acceptance path against Debian's
// docker-registry: pull with progress, images, inspect, tag, push, save,
// rmi, load (same digest), rmi + gc leaving nothing on disk.
func TestImageLifecycle(t *testing.T) {
	d := startDaemon(t, "")
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	img := busybox(t)
	ref := reg.Host + "/busybox:latest"
	pushImage(t, img, ref, "", nil)

	out := d.berth("pull", ref)
	t.Logf("berth pull %s:\n%s", ref, out)
	mustContain(t, "pull output", out, "Digest: "+img.Root.Digest.String(), ref, "layer", "done")
	if q := d.berth("pull", "-q", ref); strings.TrimSpace(q) != ref {
		t.Fatalf("pull -q printed %q, want %q", q, ref)
	}

	imgs := listImages(t, d)
	got, ok := imgs[ref]
	if !ok || got.Digest != img.Root.Digest.String() || !got.Unpacked || got.Tag != "latest" || got.Repository != reg.Host+"/busybox" {
		t.Fatalf("images: %+v, want %s at %s, unpacked", imgs, ref, img.Root.Digest)
	}
	table := d.berth("images")
	mustContain(t, "images table", table, "REPOSITORY", "TAG", "IMAGE ID", reg.Host+"/busybox", "latest", img.Root.Digest.Encoded()[:12])
	if q := d.berth("images", "-q"); strings.TrimSpace(q) != img.Config.Digest.Encoded()[:12] {
		t.Fatalf("images -q: %q, want the config digest's 12 digits", q)
	}

	var insp []map[string]any
	if err := json.Unmarshal([]byte(d.berth("image", "inspect", ref)), &insp); err != nil || len(insp) != 1 {
		t.Fatalf("inspect: %v %v", insp, err)
	}
	if insp[0]["Id"] != img.Config.Digest.String() {
		t.Fatalf("inspect Id %v, want %s", insp[0]["Id"], img.Config.Digest)
	}
	// By id prefix too.
	d.berth("image", "inspect", img.Config.Digest.Encoded()[:12])

	// tag + push to another repository; the registry then serves the same digest.
	copyRef := reg.Host + "/copy:v1"
	d.berth("tag", ref, copyRef)
	d.berth("push", copyRef)
	_, desc, err := registry.NewResolver(registry.Options{}).Resolve(context.Background(), copyRef)
	if err != nil || desc.Digest != img.Root.Digest {
		t.Fatalf("pushed %s resolves to %s (%v), want %s", copyRef, desc.Digest, err, img.Root.Digest)
	}

	// An id that two names share is not removed without -f.
	if _, stderr, err := d.berthErr("rmi", img.Config.Digest.Encoded()[:12]); err == nil || !strings.Contains(stderr, "must be forced") {
		t.Fatalf("rmi of a shared id: %v %q", err, stderr)
	}
	if _, stderr, err := d.berthErr("rmi", "nosuchimage"); err == nil || !strings.Contains(stderr, "No such image: nosuchimage") {
		t.Fatalf("rmi of an unknown image: %v %q", err, stderr)
	}

	// save → rmi → load keeps the digest.
	archive := filepath.Join(t.TempDir(), "busybox.tar")
	d.berth("save", "-o", archive, ref)
	if st, err := os.Stat(archive); err != nil || st.Size() < img.Layers[0].Desc.Size {
		t.Fatalf("save wrote %v (%v)", st, err)
	}
	d.berth("rmi", ref, copyRef)
	if imgs := listImages(t, d); len(imgs) != 0 {
		t.Fatalf("images after rmi: %+v", imgs)
	}
	if left := d.leftovers(); len(left) != 0 {
		t.Fatalf("rmi left files: %v", left)
	}
	out = d.berth("load", "-i", archive)
	mustContain(t, "load output", out, "Loaded image: "+ref)
	imgs = listImages(t, d)
	if got := imgs[ref]; got.Digest != img.Root.Digest.String() || !got.Unpacked {
		t.Fatalf("after load: %+v, want %s unpacked", imgs, img.Root.Digest)
	}

	mustContain(t, "registry resolve", d.berth("registry", "resolve", ref), "http://"+reg.Host+"/v2", "pull,resolve,push")
	df := d.berth("system", "df")
	t.Logf("berth system df:\n%s", df)
	mustContain(t, "system df", df, "Images", "Content blobs   3", "Snapshots       1")

	// rmi (which collects) leaves no blob or snapshot, and no orphans.
	d.berth("rmi", ref)
	if left := d.leftovers(); len(left) != 0 {
		t.Fatalf("rmi + gc left files: %v", left)
	}
	mustContain(t, "system check", d.berth("system", "check", "--all-ingests"), "no orphans")
	mustContain(t, "gc", d.berth("gc"), "removed 0 blobs")
}

// TestLoadDockerArchive loads a classic `docker save` tar (uncompressed
// layers, <hex>.json config) and runs it through save again.
func TestLoadDockerArchive(t *testing.T) {
	d := startDaemon(t, "")
	img := busybox(t)
	f := filepath.Join(t.TempDir(), "docker.tar")
	fh, err := os.Create(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := img.WriteDockerArchive(fh, "example.com/team/busybox:1.0"); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	mustContain(t, "load", d.berth("load", "-i", f), "Loaded image: example.com/team/busybox:1.0")
	imgs := listImages(t, d)
	got, ok := imgs["example.com/team/busybox:1.0"]
	if !ok || !got.Unpacked || got.ID != img.Config.Digest.String() {
		t.Fatalf("images after load: %+v (config %s)", imgs, img.Config.Digest)
	}
	// Namespaces: another namespace sees nothing; a bad name is refused.
	if out := d.berth("--namespace", "other", "images", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("namespace other lists %q", out)
	}
	if _, stderr, err := d.berthErr("--namespace", "bad/ns", "images"); err == nil || !strings.Contains(stderr, "bad/ns") {
		t.Fatalf("bad namespace: %v %q", err, stderr)
	}
	// Not an archive at all: a clear error, nothing recorded.
	bad := filepath.Join(t.TempDir(), "bad.tar")
	os.WriteFile(bad, []byte("this is not a tar"), 0o644)
	_, stderr, err := d.berthErr("load", "-i", bad)
	if err == nil || !strings.Contains(stderr, "archive") {
		t.Fatalf("loading garbage: err %v, stderr %q", err, stderr)
	}
	// An OCI layout tar as other tools write it: one named image, one not.
	oci := filepath.Join(t.TempDir(), "oci.tar")
	fo, err := os.Create(oci)
	if err != nil {
		t.Fatal(err)
	}
	if err := img.WriteOCIArchive(fo, "latest"); err != nil {
		t.Fatal(err)
	}
	fo.Close()
	mustContain(t, "load oci", d.berth("load", "-i", oci), "Loaded image: "+img.Root.Digest.String())
	imgs = listImages(t, d)
	if got := imgs[img.Root.Digest.String()]; got.Repository != "<none>" || !got.Unpacked {
		t.Fatalf("untagged OCI image: %+v", imgs)
	}
	// Tagged, it is listed under its tag only (docker's view), and the table
	// has no <none> row for it.
	d.berth("tag", img.Root.Digest.String(), "example.com/team/tagged:2")
	imgs = listImages(t, d)
	if _, ok := imgs[img.Root.Digest.String()]; ok || imgs["example.com/team/tagged:2"].Tag != "2" {
		t.Fatalf("after tagging the untagged image: %+v", imgs)
	}
	if out := d.berth("images"); strings.Contains(out, "<none>") {
		t.Fatalf("images lists a <none> row for a tagged image:\n%s", out)
	}
	d.berth("rmi", "example.com/team/tagged:2")
	// prune removes the untagged image only; prune -a the rest.
	mustContain(t, "image prune", d.berth("image", "prune"), "Deleted: "+img.Root.Digest.String())
	if imgs := listImages(t, d); len(imgs) != 1 {
		t.Fatalf("after prune: %+v", imgs)
	}
	mustContain(t, "image prune -a", d.berth("image", "prune", "-a"), "Deleted: example.com/team/busybox:1.0", "Total reclaimed space")
	if imgs := listImages(t, d); len(imgs) != 0 {
		t.Fatalf("after prune -a: %+v", imgs)
	}
	if left := d.leftovers(); len(left) != 0 {
		t.Fatalf("prune left files: %v", left)
	}
}

// TestRegistryResolve: `berth registry resolve` shows configured mirrors
// first, then the upstream, and plain-HTTP hosts with http.
func TestRegistryResolve(t *testing.T) {
	d := startDaemon(t, "[registry]\nconfig_path = \"\"\nplain_http = [\"registry.internal:5000\"]\n[registry.mirrors]\n\"docker.io\" = [\"https://mirror.example.com\"]\n")
	out := d.berth("registry", "resolve", "busybox")
	t.Logf("%s", out)
	mustContain(t, "resolve", out, "docker.io/library/busybox:latest", "1  https://mirror.example.com/v2", "mirror", "upstream")
	if strings.Index(out, "mirror.example.com") > strings.Index(out, "upstream") {
		t.Fatalf("the mirror is not tried first:\n%s", out)
	}
	mustContain(t, "resolve plain", d.berth("registry", "resolve", "registry.internal:5000/a/b:c"), "http://registry.internal:5000/v2")
	if _, stderr, err := d.berthErr("registry", "resolve", "bad ref!"); err == nil || !strings.Contains(stderr, "bad ref!") {
		t.Fatalf("bad reference: %v %q", err, stderr)
	}
}
