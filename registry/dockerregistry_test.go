package registry_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/testimage"
	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/registry"
	"github.com/berth-containers/berth/registry/auth"
	"github.com/berth-containers/berth/registry/hosts"
)

// pullBack resolves ref and fetches every blob of img, comparing bytes.
func pullBack(t *testing.T, r registry.Resolver, ref string, img *testimage.Image) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, desc, err := r.Resolve(ctx, ref)
	if err != nil {
		t.Fatalf("resolve %s: %v", ref, err)
	}
	if desc.Digest != img.Root.Digest || desc.Size != img.Root.Size || desc.MediaType != img.Root.MediaType {
		t.Fatalf("resolve %s: got %+v, want %+v", ref, desc, img.Root)
	}
	f, err := r.Fetcher(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	descs := append([]any{}, img.Root, img.Config)
	for _, m := range img.Manifests {
		descs = append(descs, m)
	}
	for _, l := range img.Layers {
		descs = append(descs, l.Desc)
	}
	for _, d := range descs {
		desc := toDesc(d)
		rc, err := f.Fetch(ctx, desc)
		if err != nil {
			t.Fatalf("fetch %s: %v", desc.Digest, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read %s: %v", desc.Digest, err)
		}
		if !bytes.Equal(got, img.Blobs[desc.Digest]) {
			t.Fatalf("blob %s differs after the round trip", desc.Digest)
		}
	}
}

func TestDockerRegistryPlain(t *testing.T) {
	t.Parallel()
	testutil.Integration(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	img, err := testimage.Busybox(testimage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := registry.NewResolver(registry.Options{})
	ref := reg.Host + "/busybox:latest"
	ctx := context.Background()
	if err := img.PushTo(ctx, r, ref); err != nil {
		t.Fatalf("push: %v", err)
	}
	// A second push finds everything there.
	if err := img.PushTo(ctx, r, ref); err != nil {
		t.Fatalf("second push: %v", err)
	}
	pullBack(t, r, ref, img)
	if tags, err := registry.ListTags(ctx, r, ref); err != nil || len(tags) != 1 || tags[0] != "latest" {
		t.Fatalf("tags: %v %v", tags, err)
	}

	// A multi-platform Docker image in another repository, chunked uploads.
	idx, err := testimage.Generated(7, 3, 3<<20, testimage.Options{Docker: true, Platforms: []testimage.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}})
	if err != nil {
		t.Fatal(err)
	}
	rc := registry.NewResolver(registry.Options{ChunkSize: 256 << 10})
	if err := idx.PushTo(ctx, rc, reg.Host+"/gen/multi:v1"); err != nil {
		t.Fatalf("push index: %v", err)
	}
	pullBack(t, r, reg.Host+"/gen/multi:v1", idx)

	if _, _, err := r.Resolve(ctx, reg.Host+"/busybox:nope"); !errdefs.IsNotFound(err) {
		t.Fatalf("resolve of a missing tag: %v, want not found", err)
	}
}

func TestDockerRegistryTLSAndBasicAuth(t *testing.T) {
	t.Parallel()
	testutil.Integration(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{TLS: true, Htpasswd: "berth:s3cret"})
	img, err := testimage.Busybox(testimage.Options{Compression: testimage.Zstd})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ref := reg.Host + "/secure/busybox:1"
	cfg := hosts.Config{Dir: reg.CertsDir}
	eps, err := registry.Endpoints(ref, cfg)
	if err != nil || len(eps) != 1 || eps[0].Scheme != "https" {
		t.Fatalf("endpoints with a CA in certs.d: %v %v, want one https endpoint", eps, err)
	}

	// Without credentials: unauthorized, named as such.
	anon := registry.NewResolver(registry.Options{Hosts: cfg})
	if err := img.PushTo(ctx, anon, ref); !errorsIs(err, auth.ErrUnauthorized) {
		t.Fatalf("anonymous push: %v, want unauthorized", err)
	}
	// Without the CA: the certificate is not trusted.
	if _, _, err := registry.NewResolver(registry.Options{Hosts: hosts.Config{SkipVerify: nil, PlainHTTP: nil}, Retries: -1}).Resolve(ctx, "localhost:"+reg.Host[len("127.0.0.1:"):]+"/x:y"); err == nil || !strings.Contains(err.Error(), "http") {
		t.Fatalf("resolve over plain HTTP of a TLS registry: %v, want an error", err)
	}
	// Wrong password.
	bad := registry.NewResolver(registry.Options{Hosts: cfg, Credentials: auth.Static{reg.Host: {Username: "berth", Password: "wrong"}}})
	if _, _, err := bad.Resolve(ctx, ref); !errorsIs(err, auth.ErrUnauthorized) {
		t.Fatalf("wrong password: %v, want unauthorized", err)
	}
	if err := registry.Login(ctx, registry.Options{Hosts: cfg}, reg.Host, auth.Credentials{Username: "berth", Password: "wrong"}); !errorsIs(err, auth.ErrUnauthorized) {
		t.Fatalf("login with a wrong password: %v", err)
	}
	// Login, stored in a config.json, used by the resolver.
	store := auth.NewConfigStore(t.TempDir() + "/config.json")
	creds := auth.Credentials{Username: reg.User, Password: reg.Password}
	if err := registry.Login(ctx, registry.Options{Hosts: cfg}, reg.Host, creds); err != nil {
		t.Fatalf("login: %v", err)
	}
	if err := store.Store(reg.Host, creds); err != nil {
		t.Fatal(err)
	}
	r := registry.NewResolver(registry.Options{Hosts: cfg, Credentials: store})
	if err := img.PushTo(ctx, r, ref); err != nil {
		t.Fatalf("push with credentials: %v", err)
	}
	pullBack(t, r, ref, img)

	// Cross-repository mount: the layer is known to be in secure/busybox.
	key, val := registry.SourceLabel(mustParse(t, ref), "")
	layer := img.Layers[0].Desc
	layer.Annotations = map[string]string{key: val}
	p, err := r.Pusher(ctx, reg.Host+"/other/repo:x")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Push(ctx, layer, img.Provider()); err != nil {
		t.Fatalf("mount push: %v", err)
	}
	f, _ := r.Fetcher(ctx, reg.Host+"/other/repo:x")
	rc, err := f.Fetch(ctx, img.Layers[0].Desc)
	if err != nil {
		t.Fatalf("fetch mounted blob: %v", err)
	}
	rc.Close()
}

// A docker.io name pulled through a local mirror (hosts.toml), which serves
// the repository path without the upstream host; the upstream (unreachable
// here) is never asked. TLS to the mirror is trusted through hosts.toml's ca.
func TestDockerRegistryAsMirror(t *testing.T) {
	t.Parallel()
	testutil.Integration(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{TLS: true})
	img, err := testimage.Busybox(testimage.Options{Docker: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	push := registry.NewResolver(registry.Options{Hosts: hosts.Config{Dir: reg.CertsDir}})
	if err := img.PushTo(ctx, push, reg.Host+"/library/busybox:latest"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "docker.io"), 0o755); err != nil {
		t.Fatal(err)
	}
	toml := fmt.Sprintf("server = \"https://registry-1.docker.io\"\n\n[host.\"https://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = %q\n", reg.Host, reg.CAFile)
	if err := os.WriteFile(filepath.Join(dir, "docker.io", "hosts.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := hosts.Config{Dir: dir}
	eps, err := registry.Endpoints("busybox", cfg)
	if err != nil || len(eps) != 2 || eps[0].URL() != "https://"+reg.Host+"/v2" || eps[1].URL() != "https://registry-1.docker.io/v2" {
		t.Fatalf("endpoints: %v %v", eps, err)
	}
	r := registry.NewResolver(registry.Options{Hosts: cfg, Retries: -1, IdleTimeout: 5 * time.Second})
	pullBack(t, r, "busybox", img)
	// Pushing a docker.io name must not go to the pull-only mirror.
	p, err := r.Pusher(ctx, "busybox:mine")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Tag(ctx, img.Root, img.Provider()); err == nil {
		t.Fatal("push to docker.io succeeded without network")
	}
}
