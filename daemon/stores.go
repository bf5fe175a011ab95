package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/content/local"
	"github.com/berth-containers/berth/image"
	"github.com/berth-containers/berth/internal/namespaces"
	"github.com/berth-containers/berth/internal/version"
	"github.com/berth-containers/berth/metadata"
	"github.com/berth-containers/berth/registry"
	"github.com/berth-containers/berth/registry/auth"
	"github.com/berth-containers/berth/registry/hosts"
	"github.com/berth-containers/berth/snapshot"
	"github.com/berth-containers/berth/snapshot/native"
	"github.com/berth-containers/berth/snapshot/overlay"
	"github.com/berth-containers/berth/unpack"
)

// Snapshotter names as metadata knows them (and as the GC labels carry them).
const (
	SnapshotterOverlay = "overlayfs"
	SnapshotterNative  = "native"
)

// Stores are the daemon's persistent stores under --root:
//
//	<root>/content            blobs and ingests (content/local)
//	<root>/snapshots/<name>   the snapshotter's directories
//	<root>/metadata.db        bbolt: images, records, leases
//	<root>/auth/config.json   credentials (unless registry.auth_file is set)
type Stores struct {
	DB              *metadata.DB
	Content         content.Store // the shared backend (not namespaced)
	SnapshotterName string
	Backend         snapshot.Snapshotter
	Hosts           hosts.Config
	Credentials     *auth.ConfigStore
	RegistryOptions registry.Options
	Image           *image.Deps
}

// OpenStores opens (creating) the stores of cfg.Root and picks the
// snapshotter. Close releases them.
func OpenStores(cfg Config, log *slog.Logger) (*Stores, error) {
	cs, err := local.NewStore(filepath.Join(cfg.Root, "content"))
	if err != nil {
		return nil, fmt.Errorf("content store: %w", err)
	}
	name := cfg.Snapshotter
	if name == "auto" {
		dir := filepath.Join(cfg.Root, "snapshots")
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return nil, err
		}
		if err := overlay.Supported(dir); err != nil {
			log.Warn("overlayfs cannot be used on the root's filesystem; using the native (copying) snapshotter", "root", cfg.Root, "err", err)
			name = SnapshotterNative
		} else {
			name = SnapshotterOverlay
		}
	}
	sdir := filepath.Join(cfg.Root, "snapshots", name)
	var sn snapshot.Snapshotter
	switch name {
	case SnapshotterOverlay:
		sn, err = overlay.NewWithLogger(sdir, log)
	default:
		sn, err = native.NewWithLogger(sdir, log)
	}
	if err != nil {
		return nil, fmt.Errorf("snapshotter %s: %w", name, err)
	}
	db, err := metadata.NewDB(filepath.Join(cfg.Root, "metadata.db"), cs, map[string]snapshot.Snapshotter{name: sn}, metadata.WithLogger(log))
	if err != nil {
		sn.Close()
		return nil, fmt.Errorf("metadata: %w", err)
	}
	s := &Stores{DB: db, Content: cs, SnapshotterName: name, Backend: sn}
	s.Hosts = hosts.Config{Dir: cfg.Registry.ConfigPath, Mirrors: cfg.Registry.Mirrors, PlainHTTP: cfg.Registry.PlainHTTP, SkipVerify: cfg.Registry.SkipVerify}
	s.Credentials = auth.NewConfigStore(cfg.AuthFile())
	s.RegistryOptions = registry.Options{
		Hosts: s.Hosts, Credentials: s.Credentials, Logger: log,
		Concurrency:    cfg.MaxConcurrentDownloads + 2,
		UserAgent:      "berth/" + version.Version,
		SkipBlobDigest: true, // the content store verifies every blob it commits
	}
	nsn := db.Snapshotter(name)
	s.Image = &image.Deps{
		Content: db.ContentStore(), Images: db.Images(), Leases: db.Leases(),
		Snapshotter: nsn, SnapshotterName: name,
		Unpacker:    &unpack.Unpacker{Content: db.ContentStore(), Snapshotter: nsn, Log: log},
		Resolver:    registry.NewResolver(s.RegistryOptions),
		Concurrency: cfg.MaxConcurrentDownloads,
		Log:         log,
	}
	return s, nil
}

// Recover ends what a previous daemon on this root left in flight: the
// leases of its transfers (pulls, imports, unpacks) are deleted, garbage is
// collected and orphans (backend data without a record, crash debris) are
// removed. Ingests younger than a day are kept so a pull can resume them.
func (s *Stores) Recover(ctx context.Context, log *slog.Logger) error {
	nss, err := s.DB.Namespaces(ctx)
	if err != nil {
		return err
	}
	dead := 0
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		ls, err := s.DB.Leases().List(nctx)
		if err != nil {
			return err
		}
		for _, l := range ls {
			if _, ok := l.Labels[image.LabelPullLease]; !ok {
				continue
			}
			if err := s.DB.Leases().Delete(nctx, l); err != nil {
				return fmt.Errorf("delete stale lease %s/%s: %w", ns, l.ID, err)
			}
			dead++
		}
	}
	st, err := s.DB.GarbageCollect(ctx)
	if err != nil {
		return fmt.Errorf("garbage collection: %w", err)
	}
	orph, err := s.DB.RemoveOrphans(ctx, metadata.CheckOptions{})
	if err != nil {
		log.Warn("removing orphans", "err", err)
	}
	log.Info("recovered root", "stale_leases", dead, "content_deleted", st.ContentDeleted, "snapshots_deleted", st.SnapshotsDeleted,
		"orphan_blobs", len(orph.Blobs), "orphan_snapshots", countSnaps(orph.Snapshots), "orphan_files", len(orph.Files))
	return nil
}

func countSnaps(m map[string][]string) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}

// Close closes the metadata and the snapshotter.
func (s *Stores) Close() error {
	err := s.DB.Close()
	if cerr := s.Backend.Close(); err == nil {
		err = cerr
	}
	return err
}
