package daemon_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/client"
	"github.com/berth-containers/berth/daemon"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/testutil"
)

// serve runs a daemon with every image service in-process on a temp root.
func serve(t *testing.T) (daemon.Config, *client.Client) {
	t.Helper()
	testutil.RequireRoot(t)
	dir := t.TempDir()
	cfg := daemon.DefaultConfig()
	cfg.Root, cfg.State, cfg.Address = filepath.Join(dir, "root"), filepath.Join(dir, "state"), filepath.Join(dir, "d.sock")
	cfg.Snapshotter = "native"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := daemon.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	st, err := daemon.OpenStores(cfg, log)
	if err != nil {
		d.Close()
		t.Fatal(err)
	}
	d.OnClose(st.Close)
	if err := st.Recover(context.Background(), log); err != nil {
		t.Fatal(err)
	}
	d.AddService(daemon.NewImagesService(st, log))
	d.AddService(daemon.NewContentService(st))
	d.AddService(daemon.NewRegistryService(st))
	d.AddService(daemon.NewGCService(st, log))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := d.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	var c *client.Client
	for i := 0; ; i++ {
		if c, err = client.New(cfg.Address, ""); err == nil {
			if _, err = c.Version(context.Background()); err == nil {
				break
			}
			c.Close()
		}
		if i > 200 {
			t.Fatalf("daemon did not answer: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(func() { c.Close() })
	return cfg, c
}

func TestServicesAndErrorKinds(t *testing.T) {
	cfg, c := serve(t)
	ctx := c.Context(context.Background())
	v, err := c.Version(context.Background())
	if err != nil || v.Root != cfg.Root {
		t.Fatalf("version: %+v %v", v, err)
	}
	h, err := healthpb.NewHealthClient(c.Conn()).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", h, err)
	}
	if l, err := c.Images().List(ctx, &berthv1.ListImagesRequest{}); err != nil || len(l.Images) != 0 {
		t.Fatalf("list: %v %v", l, err)
	}
	// Kinds survive the trip: not found, invalid argument.
	_, err = c.Images().Get(ctx, &berthv1.GetImageRequest{Name: "busybox"})
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "No such image: busybox") {
		t.Fatalf("get unknown: %v", err)
	}
	_, err = c.Content().Info(ctx, &berthv1.ContentInfoRequest{Digest: "sha256:nothex"})
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "sha256:nothex") {
		t.Fatalf("bad digest: %v", err)
	}
	_, err = c.Content().Info(ctx, &berthv1.ContentInfoRequest{Digest: "sha256:" + strings.Repeat("0", 64)})
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("unknown blob: %v", err)
	}
	// Streams map errors too.
	st, err := c.Content().Read(ctx, &berthv1.ReadContentRequest{Digest: "sha256:" + strings.Repeat("0", 64)})
	if err == nil {
		_, err = st.Recv()
	}
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("read unknown blob: %v", err)
	}
	_, err = c.Pull(context.Background(), &berthv1.PullRequest{Ref: "bad ref!"}, nil)
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("pull of a bad reference: %v", err)
	}
	// A namespace the daemon refuses.
	if _, err := client.New(cfg.Address, "bad/ns"); err == nil {
		t.Fatal("client accepted a bad namespace")
	}
	// Check and collect on an empty root.
	if r, err := c.GC().Check(ctx, &berthv1.CheckRequest{IngestAgeNs: -1}); err != nil || len(r.Blobs)+len(r.Snapshots)+len(r.Ingests) != 0 {
		t.Fatalf("check: %v %v", r, err)
	}
	if _, err := c.GC().Collect(ctx, &berthv1.CollectRequest{}); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Registry().Logout(ctx, &berthv1.LogoutRequest{Server: "example.com"}); err != nil || r.Removed {
		t.Fatalf("logout without login: %v %v", r, err)
	}
	if _, err := c.Registry().Login(ctx, &berthv1.LoginRequest{Server: "example.com"}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("login without a user: %v", err)
	}
}

func TestSecondDaemonOnRootRefused(t *testing.T) {
	cfg, _ := serve(t)
	_, err := daemon.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "in use by another berthd") {
		t.Fatalf("second daemon: %v", err)
	}
}
