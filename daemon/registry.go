package daemon

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/registry"
	"github.com/berth-containers/berth/registry/auth"
	"github.com/berth-containers/berth/registry/reference"
)

// RegistryService serves berth.v1.Registry: endpoint resolution and the
// daemon's credentials (a docker-style config.json, see Config.AuthFile).
type RegistryService struct {
	berthv1.UnimplementedRegistryServer
	st *Stores
}

// NewRegistryService returns the Registry service.
func NewRegistryService(s *Stores) *RegistryService { return &RegistryService{st: s} }

// Register implements Service.
func (s *RegistryService) Register(g *grpc.Server) { berthv1.RegisterRegistryServer(g, s) }

// Resolve implements berth.v1.Registry.
func (s *RegistryService) Resolve(ctx context.Context, req *berthv1.ResolveRequest) (*berthv1.ResolveResponse, error) {
	n, err := reference.ParseNormalized(req.Ref)
	if err != nil {
		return nil, fmt.Errorf("reference %q: %w", req.Ref, err)
	}
	eps, err := registry.Endpoints(n.String(), s.st.Hosts)
	if err != nil {
		return nil, err
	}
	out := &berthv1.ResolveResponse{Name: n.String()}
	for _, e := range eps {
		out.Endpoints = append(out.Endpoints, &berthv1.RegistryEndpoint{Url: e.URL(), Capabilities: e.Capabilities.String(),
			Mirror: e.Mirror, Source: e.Source, SkipVerify: e.SkipVerify, CaFiles: e.CAFiles, Description: e.String()})
	}
	return out, nil
}

func serverHost(s string) (string, error) {
	if s == "" {
		return "docker.io", nil
	}
	// Accept what users paste: "https://host/", "host/v2/".
	n, err := reference.ParseNormalizedName(trimURL(s) + "/x")
	if err != nil {
		return "", fmt.Errorf("server %q: not a registry host: %w", s, errdefs.ErrInvalidArgument)
	}
	return n.Domain, nil
}

func trimURL(s string) string {
	for _, p := range []string{"https://", "http://"} {
		if len(s) > len(p) && s[:len(p)] == p {
			s = s[len(p):]
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i]
		}
	}
	return s
}

// Login implements berth.v1.Registry: the credentials are checked against
// the registry, then stored.
func (s *RegistryService) Login(ctx context.Context, req *berthv1.LoginRequest) (*berthv1.LoginResponse, error) {
	host, err := serverHost(req.Server)
	if err != nil {
		return nil, err
	}
	if req.Username == "" {
		return nil, fmt.Errorf("login %s: username: empty: %w", host, errdefs.ErrInvalidArgument)
	}
	c := auth.Credentials{Username: req.Username, Password: req.Password}
	if err := registry.Login(ctx, s.st.RegistryOptions, host, c); err != nil {
		return nil, fmt.Errorf("login %s: %w", host, err)
	}
	if err := s.st.Credentials.Store(host, c); err != nil {
		return nil, fmt.Errorf("login %s: store credentials: %w", host, err)
	}
	return &berthv1.LoginResponse{Server: host, ConfigPath: s.st.Credentials.Path()}, nil
}

// Logout implements berth.v1.Registry.
func (s *RegistryService) Logout(ctx context.Context, req *berthv1.LogoutRequest) (*berthv1.LogoutResponse, error) {
	host, err := serverHost(req.Server)
	if err != nil {
		return nil, err
	}
	if err := s.st.Credentials.Erase(host); err != nil {
		if errdefs.IsNotFound(err) {
			return &berthv1.LogoutResponse{}, nil
		}
		return nil, err
	}
	return &berthv1.LogoutResponse{Removed: true}, nil
}
