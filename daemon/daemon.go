package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/internal/errgrpc"
	"github.com/berth-containers/berth/internal/namespaces"
	"github.com/berth-containers/berth/internal/version"
)

// Service is one part of the API. Register adds it to the server.
type Service interface {
	Register(s *grpc.Server)
}

// Daemon is a running berthd.
type Daemon struct {
	cfg      Config
	log      *slog.Logger
	lock     *os.File
	srv      *grpc.Server
	health   *health.Server
	ln       net.Listener
	closers  []func() error
	services []Service
}

// New takes the root lock, creates the directories and the gRPC server.
// Services are added with AddService before Serve.
func New(cfg Config, log *slog.Logger) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, d := range []string{cfg.Root, cfg.State, filepath.Dir(cfg.Address)} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	lock, err := lockRoot(cfg.Root)
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: log, lock: lock, health: health.NewServer()}
	d.srv = grpc.NewServer(
		grpc.ChainUnaryInterceptor(unaryNamespace, unaryErrors),
		grpc.ChainStreamInterceptor(streamNamespace, streamErrors),
	)
	healthpb.RegisterHealthServer(d.srv, d.health)
	berthv1.RegisterVersionServer(d.srv, &versionService{cfg: cfg})
	return d, nil
}

// Config returns the daemon's configuration.
func (d *Daemon) Config() Config { return d.cfg }

// Logger returns the daemon's logger.
func (d *Daemon) Logger() *slog.Logger { return d.log }

// AddService registers s on the server.
func (d *Daemon) AddService(s Service) {
	s.Register(d.srv)
	d.services = append(d.services, s)
}

// OnClose registers fn to run at shutdown, in reverse order of registration.
func (d *Daemon) OnClose(fn func() error) { d.closers = append(d.closers, fn) }

// Serve listens on the configured socket and serves until ctx is done, then
// shuts down gracefully.
func (d *Daemon) Serve(ctx context.Context) error {
	_ = os.Remove(d.cfg.Address) // we hold the root lock: a socket left here is stale
	ln, err := net.Listen("unix", d.cfg.Address)
	if err != nil {
		return fmt.Errorf("listen %s: %w", d.cfg.Address, err)
	}
	if err := os.Chmod(d.cfg.Address, 0o660); err != nil {
		ln.Close()
		return err
	}
	d.ln = ln
	d.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	d.log.Info("berthd serving", "address", d.cfg.Address, "root", d.cfg.Root, "version", version.Version)
	errc := make(chan error, 1)
	go func() { errc <- d.srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		d.log.Info("berthd shutting down")
		d.health.Shutdown()
		// In-flight calls get a few seconds to finish; then they are
		// cancelled (a pull's lease keeps what it wrote until the next start).
		stopped := make(chan struct{})
		go func() { d.srv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			d.log.Warn("cancelling calls still running at shutdown")
			d.srv.Stop()
			<-stopped
		}
		<-errc
		return nil
	case err := <-errc:
		return err
	}
}

// Close releases everything the daemon holds.
func (d *Daemon) Close() error {
	var errs []error
	for i := len(d.closers) - 1; i >= 0; i-- {
		if err := d.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	if d.ln != nil {
		_ = os.Remove(d.cfg.Address)
	}
	if d.lock != nil {
		d.lock.Close()
	}
	return errors.Join(errs...)
}

// lockRoot takes an exclusive flock on root/berthd.lock, recording our pid.
func lockRoot(root string) (*os.File, error) {
	p := filepath.Join(root, "berthd.lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", p, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		data, _ := os.ReadFile(p)
		f.Close()
		holder := strings.TrimSpace(string(data))
		if holder == "" {
			holder = "unknown"
		}
		return nil, fmt.Errorf("root %s is in use by another berthd (pid %s): %w", root, holder, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

func nsFromIncoming(ctx context.Context) (context.Context, error) {
	ns := namespaces.Default
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(namespaces.GRPCHeader); len(v) > 0 && v[0] != "" {
			ns = v[0]
		}
	}
	if err := namespaces.Validate(ns); err != nil {
		return ctx, errgrpc.ToGRPC(err)
	}
	return namespaces.WithNamespace(ctx, ns), nil
}

func unaryNamespace(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, err := nsFromIncoming(ctx)
	if err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func unaryErrors(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	return resp, errgrpc.ToGRPC(err)
}

type nsStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *nsStream) Context() context.Context { return s.ctx }

func streamNamespace(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, err := nsFromIncoming(ss.Context())
	if err != nil {
		return err
	}
	return h(srv, &nsStream{ServerStream: ss, ctx: ctx})
}

func streamErrors(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return errgrpc.ToGRPC(h(srv, ss))
}

type versionService struct {
	berthv1.UnimplementedVersionServer
	cfg Config
}

func (v *versionService) Version(context.Context, *berthv1.VersionRequest) (*berthv1.VersionResponse, error) {
	return &berthv1.VersionResponse{
		Version: version.Version, GoVersion: runtime.Version(), Os: runtime.GOOS, Arch: runtime.GOARCH,
		Pid: int64(os.Getpid()), Root: v.cfg.Root, State: v.cfg.State,
	}, nil
}
