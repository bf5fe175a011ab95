package daemon

import (
	"context"
	"log/slog"
	"sort"
	"time"

	"google.golang.org/grpc"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/metadata"
)

// GCService serves berth.v1.GC: garbage collection and the orphan check.
type GCService struct {
	berthv1.UnimplementedGCServer
	db  *metadata.DB
	log *slog.Logger
}

// NewGCService returns the GC service.
func NewGCService(s *Stores, log *slog.Logger) *GCService { return &GCService{db: s.DB, log: log} }

// Register implements Service.
func (s *GCService) Register(g *grpc.Server) { berthv1.RegisterGCServer(g, s) }

// Collect implements berth.v1.GC.
func (s *GCService) Collect(ctx context.Context, _ *berthv1.CollectRequest) (*berthv1.CollectResponse, error) {
	st, err := s.db.GarbageCollect(ctx)
	if err != nil {
		return nil, err
	}
	s.log.Info("garbage collected", "content", st.ContentDeleted, "snapshots", st.SnapshotsDeleted, "bytes", st.BytesFreed, "duration", st.Duration)
	return &berthv1.CollectResponse{ContentDeleted: int64(st.ContentDeleted), SnapshotsDeleted: int64(st.SnapshotsDeleted),
		LeasesDeleted: int64(st.LeasesDeleted), BytesFreed: st.BytesFreed, DurationNs: int64(st.Duration)}, nil
}

// Check implements berth.v1.GC.
func (s *GCService) Check(ctx context.Context, req *berthv1.CheckRequest) (*berthv1.CheckResponse, error) {
	opts := metadata.CheckOptions{IngestAge: time.Duration(req.IngestAgeNs)}
	var o metadata.Orphans
	var err error
	if req.Remove {
		o, err = s.db.RemoveOrphans(ctx, opts)
	} else {
		o, err = s.db.Check(ctx, opts)
	}
	out := &berthv1.CheckResponse{Removed: req.Remove, Files: o.Files, Dangling: o.Dangling}
	for _, b := range o.Blobs {
		out.Blobs = append(out.Blobs, b.Digest.String())
	}
	for sn, keys := range o.Snapshots {
		for _, k := range keys {
			out.Snapshots = append(out.Snapshots, sn+"/"+k)
		}
	}
	sort.Strings(out.Snapshots)
	for _, i := range o.Ingests {
		out.Ingests = append(out.Ingests, i.Ref)
	}
	return out, err
}
