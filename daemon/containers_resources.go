package daemon

import (
	"context"
	"encoding/json"
	"fmt"

	"google.golang.org/grpc"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/network"
	"github.com/berth-containers/berth/volume"
)

// NetworkManager is what the Networks API needs (network.Manager is one).
type NetworkManager interface {
	Create(ctx context.Context, spec network.NetworkSpec) (network.Network, error)
	List(ctx context.Context) ([]network.Network, error)
	Inspect(ctx context.Context, name string) (network.Network, error)
	Remove(ctx context.Context, name string) error
}

// NetworksService is the Networks API.
type NetworksService struct {
	berthv1.UnimplementedNetworksServer
	m NetworkManager
}

// NewNetworksService serves m (nil: every call says networking is unavailable).
func NewNetworksService(m NetworkManager) *NetworksService { return &NetworksService{m: m} }

// Register adds the service to g.
func (s *NetworksService) Register(g *grpc.Server) { berthv1.RegisterNetworksServer(g, s) }

func (s *NetworksService) ready() error {
	if s.m == nil {
		return fmt.Errorf("networking is not available on this daemon (no CNI plugins): %w", errdefs.ErrFailedPrecondition)
	}
	return nil
}

func netResp(n network.Network) (*berthv1.NetworkResponse, error) {
	b, err := json.Marshal(n)
	return &berthv1.NetworkResponse{Network: b}, err
}

// Create makes a network.
func (s *NetworksService) Create(ctx context.Context, req *berthv1.CreateNetworkRequest) (*berthv1.NetworkResponse, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	n, err := s.m.Create(ctx, network.NetworkSpec{Name: req.Name, Subnet: req.Subnet, Gateway: req.Gateway, Driver: req.Driver, Internal: req.Internal, Labels: req.Labels})
	if err != nil {
		return nil, err
	}
	return netResp(n)
}

// List lists the networks.
func (s *NetworksService) List(ctx context.Context, _ *berthv1.ListNetworksRequest) (*berthv1.ListNetworksResponse, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	ns, err := s.m.List(ctx)
	if err != nil {
		return nil, err
	}
	out := &berthv1.ListNetworksResponse{}
	for _, n := range ns {
		b, err := json.Marshal(n)
		if err != nil {
			return nil, err
		}
		out.Networks = append(out.Networks, b)
	}
	return out, nil
}

// Inspect describes a network.
func (s *NetworksService) Inspect(ctx context.Context, req *berthv1.NetworkRef) (*berthv1.NetworkResponse, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	n, err := s.m.Inspect(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	return netResp(n)
}

// Remove deletes a network no container uses.
func (s *NetworksService) Remove(ctx context.Context, req *berthv1.NetworkRef) (*berthv1.NetworkResponse, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	n, err := s.m.Inspect(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	if err := s.m.Remove(ctx, req.Name); err != nil {
		return nil, err
	}
	return netResp(n)
}

// VolumesService is the Volumes API over a volume store.
type VolumesService struct {
	berthv1.UnimplementedVolumesServer
	v *volume.Store
}

// NewVolumesService serves v.
func NewVolumesService(v *volume.Store) *VolumesService { return &VolumesService{v: v} }

// Register adds the service to g.
func (s *VolumesService) Register(g *grpc.Server) { berthv1.RegisterVolumesServer(g, s) }

func volResp(v volume.Volume) (*berthv1.VolumeResponse, error) {
	b, err := json.Marshal(v)
	return &berthv1.VolumeResponse{Volume: b}, err
}

// Create makes a named volume (a random name when empty).
func (s *VolumesService) Create(ctx context.Context, req *berthv1.CreateVolumeRequest) (*berthv1.VolumeResponse, error) {
	name := req.Name
	if name == "" {
		name = volume.NewName()
	}
	v, err := s.v.Create(ctx, name, req.Labels)
	if err != nil {
		return nil, err
	}
	return volResp(v)
}

// List lists volumes (filters: name=SUBSTRING, label=KEY[=VALUE], dangling=true|false).
func (s *VolumesService) List(ctx context.Context, req *berthv1.ListVolumesRequest) (*berthv1.ListVolumesResponse, error) {
	var f volume.Filter
	for _, kv := range req.Filters {
		k, v, ok := cutKV(kv)
		switch {
		case ok && k == "name":
			f.Name = v
		case ok && k == "label":
			lk, lv, _ := cutKV(v)
			if lk == "" {
				lk = v
			}
			if f.Labels == nil {
				f.Labels = map[string]string{}
			}
			f.Labels[lk] = lv
		case ok && k == "dangling" && (v == "true" || v == "false"):
			b := v == "true"
			f.Dangling = &b
		default:
			return nil, fmt.Errorf("invalid filter %q (want name=, label= or dangling=true|false): %w", kv, errdefs.ErrInvalidArgument)
		}
	}
	vs, err := s.v.List(ctx, f)
	if err != nil {
		return nil, err
	}
	out := &berthv1.ListVolumesResponse{}
	for _, v := range vs {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		out.Volumes = append(out.Volumes, b)
	}
	return out, nil
}

// Inspect describes a volume.
func (s *VolumesService) Inspect(ctx context.Context, req *berthv1.VolumeRef) (*berthv1.VolumeResponse, error) {
	v, err := s.v.Inspect(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	return volResp(v)
}

// Remove deletes a volume no container uses (force: even then).
func (s *VolumesService) Remove(ctx context.Context, req *berthv1.RemoveVolumeRequest) (*berthv1.VolumeResponse, error) {
	v, err := s.v.Inspect(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	if err := s.v.Remove(ctx, req.Name, req.Force); err != nil {
		return nil, err
	}
	return volResp(v)
}

func cutKV(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '=' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}
