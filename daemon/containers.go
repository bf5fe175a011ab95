package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/container"
	"github.com/berth-containers/berth/image"
	"github.com/berth-containers/berth/images"
	"github.com/berth-containers/berth/internal/atomicfile"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/namespaces"
	"github.com/berth-containers/berth/leases"
	"github.com/berth-containers/berth/mount"
	"github.com/berth-containers/berth/network"
	"github.com/berth-containers/berth/network/netns"
	"github.com/berth-containers/berth/oci"
	"github.com/berth-containers/berth/registry/reference"
	"github.com/berth-containers/berth/shim"
	"github.com/berth-containers/berth/volume"
)

// Networker is what the containers service needs of the network package
// (network.Manager is one). Nil: only --network none and host work.
type Networker interface {
	Attach(ctx context.Context, containerID, netnsPath string, networks []string, opts network.AttachOpts) (network.Result, error)
	Detach(ctx context.Context, containerID, netnsPath string, networks []string) error
}

// Container directories:
//
//	<state>/containers/<ns>/<id>/            the OCI bundle: config.json, rootfs (mounted), etc/
//	<state>/shims/<ns>/<id>/                 the shim's own state directory
//	<state>/runtime/<handler>/               each runtime handler's --root
//	<state>/netns/<id>                       the pinned network namespace
//	<root>/containers/<ns>/<id>/json.log     stdout and stderr, JSON lines
const (
	logMaxSize  = 10 << 20
	logMaxFiles = 3
)

// ContainersService is the Containers API: container records, their
// bundles and their tasks (one berth-shim each).
type ContainersService struct {
	berthv1.UnimplementedContainersServer
	st    *Stores
	cfg   Config
	log   *slog.Logger
	store *container.Store
	vols  *volume.Store
	net   Networker
	ev    *Events

	shimBin string
	initBin string

	mu    sync.Mutex
	locks map[string]*sync.Mutex
	tasks map[string]*task // by container ID
}

// task is a container's running process as the daemon follows it.
type task struct {
	ns   string
	id   string
	shim shimAPI
	done chan struct{} // closed once the exit has been handled
	exit *shim.ExitStatus
}

// NewContainersService makes the service. net may be nil (no CNI).
func NewContainersService(st *Stores, cfg Config, log *slog.Logger, vols *volume.Store, net Networker, ev *Events) *ContainersService {
	s := &ContainersService{st: st, cfg: cfg, log: log, store: container.NewStore(st.DB), vols: vols, net: net, ev: ev,
		locks: map[string]*sync.Mutex{}, tasks: map[string]*task{}}
	s.shimBin = siblingBinary("berth-shim")
	s.initBin = siblingBinary("berth-init")
	if vols != nil {
		vols.SetUsage(s.store.VolumeUsage)
	}
	return s
}

// Register adds the service to g.
func (s *ContainersService) Register(g *grpc.Server) { berthv1.RegisterContainersServer(g, s) }

// Store is the container record store.
func (s *ContainersService) Store() *container.Store { return s.store }

// siblingBinary finds name next to berthd's own executable, else on PATH,
// else returns name unchanged (the error comes when it is used).
func siblingBinary(name string) string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return name
}

// runtimeRoot is a handler's --root.
func (s *ContainersService) runtimeRoot(handler string) string {
	if r, ok := s.cfg.Runtimes[handler]; ok && r.Root != "" {
		return r.Root
	}
	return filepath.Join(s.cfg.State, "runtime", handler)
}

// runtimeHandler resolves a runtime handler name to its binary.
func (s *ContainersService) runtimeHandler(name string) (string, string, error) {
	if r, ok := s.cfg.Runtimes[name]; ok {
		if st, err := os.Stat(r.Path); err != nil || st.IsDir() {
			return "", "", fmt.Errorf("runtime %q: binary %s not found: %w", name, r.Path, errdefs.ErrFailedPrecondition)
		}
		return name, r.Path, nil
	}
	switch name {
	case "", "berth", container.RuntimeBerth:
		p := siblingBinary("berth-runtime")
		if !filepath.IsAbs(p) {
			return "", "", fmt.Errorf("runtime %q: berth-runtime not found next to berthd or on PATH: %w", container.RuntimeBerth, errdefs.ErrFailedPrecondition)
		}
		return container.RuntimeBerth, p, nil
	case container.RuntimeRunc, container.RuntimeCrun:
		p, err := exec.LookPath(name)
		if err != nil {
			return "", "", fmt.Errorf("runtime %q: binary not found on PATH: %w", name, errdefs.ErrFailedPrecondition)
		}
		return name, p, nil
	}
	return "", "", fmt.Errorf("unknown or invalid runtime name: %s: %w", name, errdefs.ErrInvalidArgument)
}

func (s *ContainersService) lock(id string) func() {
	s.mu.Lock()
	l := s.locks[id]
	if l == nil {
		l = &sync.Mutex{}
		s.locks[id] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (s *ContainersService) bundleDir(ns, id string) string {
	return filepath.Join(s.cfg.State, "containers", ns, id)
}
func (s *ContainersService) shimDir(ns, id string) string {
	return filepath.Join(s.cfg.State, "shims", ns, id)
}
func (s *ContainersService) logDir(ns, id string) string {
	return filepath.Join(s.cfg.Root, "containers", ns, id)
}
func (s *ContainersService) logPath(ns, id string) string {
	return filepath.Join(s.logDir(ns, id), "json.log")
}
func (s *ContainersService) netnsPath(id string) string {
	return filepath.Join(netns.Dir(s.cfg.State), id)
}

func (s *ContainersService) getTask(id string) *task {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tasks[id]
}

func marshalContainer(c container.Container) (*berthv1.ContainerResponse, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return &berthv1.ContainerResponse{Container: b}, nil
}

// lookupImage finds an image by the name the user gave (normalised as
// docker does) or by a stored name.
func (s *ContainersService) lookupImage(ctx context.Context, name string) (images.Image, error) {
	if name == "" {
		return images.Image{}, fmt.Errorf("image name: empty: %w", errdefs.ErrInvalidArgument)
	}
	if img, err := s.st.Image.Images.Get(ctx, name); err == nil {
		return img, nil
	}
	if n, err := reference.ParseNormalized(name); err == nil {
		if img, err := s.st.Image.Images.Get(ctx, n.String()); err == nil {
			return img, nil
		}
	}
	return images.Image{}, fmt.Errorf("No such image: %s: %w", name, errdefs.ErrNotFound)
}

// imageSnapshot returns the image's config and its top snapshot, unpacking
// the image first when needed.
func (s *ContainersService) imageSnapshot(ctx context.Context, img images.Image) (ocispec.Image, string, string, error) {
	d := s.st.Image
	var cfg ocispec.Image
	r, err := image.ResolveManifest(ctx, d.Content, img.Target, "")
	if err != nil {
		return cfg, "", "", fmt.Errorf("image %s: %w", img.Name, err)
	}
	if err := json.Unmarshal(r.ConfigData, &cfg); err != nil {
		return cfg, "", "", fmt.Errorf("image %s: config %s: %w", img.Name, r.Config.Digest, err)
	}
	if !image.Unpacked(ctx, d, r.Config.Digest) {
		if err := image.Unpack(ctx, d, img, ""); err != nil {
			return cfg, "", "", err
		}
	}
	info, err := d.Content.Info(ctx, r.Config.Digest)
	if err != nil {
		return cfg, "", "", err
	}
	parent := info.Labels[d.SnapshotLabel()]
	if parent == "" {
		return cfg, "", "", fmt.Errorf("image %s: not unpacked: %w", img.Name, errdefs.ErrFailedPrecondition)
	}
	return cfg, parent, img.Target.Digest.String(), nil
}

// Create makes a container: its snapshot, mounted rootfs, spec and
// record. On any error nothing is left.
func (s *ContainersService) Create(ctx context.Context, req *berthv1.CreateContainerRequest) (*berthv1.ContainerResponse, error) {
	var opts oci.CreateOptions
	if len(req.Options) > 0 {
		if err := json.Unmarshal(req.Options, &opts); err != nil {
			return nil, fmt.Errorf("create options: %v: %w", err, errdefs.ErrInvalidArgument)
		}
	}
	c, err := s.create(ctx, req.Image, opts)
	if err != nil {
		return nil, err
	}
	return marshalContainer(c)
}

func (s *ContainersService) create(ctx context.Context, imageName string, opts oci.CreateOptions) (_ container.Container, retErr error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return container.Container{}, err
	}
	// Validate what is cheap before anything is made.
	if opts.Name != "" {
		if err := container.ValidateName(opts.Name); err != nil {
			return container.Container{}, err
		}
		if other, err := s.store.Get(ctx, opts.Name); err == nil && other.Name == strings.TrimPrefix(opts.Name, "/") {
			return container.Container{}, fmt.Errorf("Conflict. The container name \"/%s\" is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name: %w", other.Name, other.ID, errdefs.ErrAlreadyExists)
		}
	}
	handler, rtPath, err := s.runtimeHandler(opts.Runtime)
	if err != nil {
		return container.Container{}, err
	}
	mode, err := network.ParseNetworkMode(opts.NetworkMode)
	if err != nil {
		return container.Container{}, err
	}
	if _, err := network.ParsePortSpecs(opts.Ports); err != nil {
		return container.Container{}, err
	}
	if len(opts.Ports) > 0 && (mode.Kind == network.ModeNone || mode.Kind == network.ModeHost) {
		return container.Container{}, fmt.Errorf("published ports need a network: --network %s has none (use bridge or a network name): %w", mode.String(), errdefs.ErrInvalidArgument)
	}
	if len(mode.Networks()) > 0 && s.net == nil {
		return container.Container{}, fmt.Errorf("--network %s: networking is not available on this daemon (no CNI plugins): %w", mode.String(), errdefs.ErrFailedPrecondition)
	}
	if mode.Kind == network.ModeNamed {
		if in, ok := s.net.(interface {
			Inspect(ctx context.Context, name string) (network.Network, error)
		}); ok {
			if _, err := in.Inspect(ctx, mode.Network); err != nil {
				return container.Container{}, fmt.Errorf("network %s not found: %w", mode.Network, errdefs.ErrNotFound)
			}
		}
	}
	joinNS := ""
	if mode.Kind == network.ModeContainer {
		other, err := s.store.Get(ctx, mode.Container)
		if err != nil {
			return container.Container{}, fmt.Errorf("--network %s: %w", mode.String(), err)
		}
		om, _ := network.ParseNetworkMode(other.Options.NetworkMode)
		if !om.NeedsNetNS() {
			return container.Container{}, fmt.Errorf("--network %s: container %s has no network namespace of its own (--network %s): %w", mode.String(), other.Name, om.String(), errdefs.ErrInvalidArgument)
		}
		joinNS = s.netnsPath(other.ID)
		opts.NetworkMode = "container:" + other.ID // the record names the container by id
	}
	if opts.Init && !filepath.IsAbs(s.initBin) {
		return container.Container{}, fmt.Errorf("--init: berth-init not found next to berthd or on PATH: %w", errdefs.ErrFailedPrecondition)
	}
	img, err := s.lookupImage(ctx, imageName)
	if err != nil {
		return container.Container{}, err
	}
	imgCfg, parent, imgDigest, err := s.imageSnapshot(ctx, img)
	if err != nil {
		return container.Container{}, err
	}

	t0 := time.Now()
	id := container.NewID()
	bundle := s.bundleDir(ns, id)
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(rootfs, 0o711); err != nil {
		return container.Container{}, err
	}
	sn := s.st.Image.Snapshotter
	cleanups := []func(){func() { os.RemoveAll(bundle) }}
	defer func() {
		if retErr != nil {
			for i := len(cleanups) - 1; i >= 0; i-- {
				cleanups[i]()
			}
		}
	}()
	// Until the record holds the snapshot (a GC root), a transfer lease
	// does: a collection in between cannot take it, and a crash leaves a
	// lease that the next start deletes.
	l, err := s.st.Image.Leases.Create(ctx, leases.WithExpiration(time.Hour), leases.WithLabels(map[string]string{image.LabelPullLease: "create container " + id}))
	if err != nil {
		return container.Container{}, fmt.Errorf("create lease: %w", err)
	}
	defer func() {
		if err := s.st.Image.Leases.Delete(context.WithoutCancel(ctx), l); err != nil {
			s.log.Warn("delete create lease", "lease", l.ID, "err", err)
		}
	}()
	mounts, err := sn.Prepare(leases.WithLease(ctx, l.ID), id, parent)
	if err != nil {
		return container.Container{}, fmt.Errorf("prepare snapshot for container %s: %w", container.ShortID(id), err)
	}
	cleanups = append(cleanups, func() { _ = sn.Remove(context.WithoutCancel(ctx), id) })
	if err := mount.All(mounts, rootfs); err != nil {
		return container.Container{}, fmt.Errorf("mount rootfs of container %s: %w", container.ShortID(id), err)
	}
	cleanups = append(cleanups, func() { _ = mount.UnmountAll(rootfs, 0) })

	hostname := opts.Hostname
	if hostname == "" {
		hostname = id[:12]
		if mode.Kind == network.ModeHost {
			hostname, _ = os.Hostname()
		}
	}
	etc := filepath.Join(bundle, "etc")
	if err := oci.WriteEtcFiles(etc, oci.EtcOptions{Hostname: hostname, Domainname: opts.Domainname, ExtraHosts: opts.ExtraHosts,
		DNS: opts.DNS, DNSSearch: opts.DNSSearch, DNSOptions: opts.DNSOptions, HostNetwork: mode.Kind == network.ModeHost}); err != nil {
		return container.Container{}, err
	}
	nsPath := joinNS
	if mode.NeedsNetNS() {
		nsPath = s.netnsPath(id)
	}
	in := oci.GenerateInput{ID: id, ImageName: img.Name, ImageDigest: imgDigest, ImageConfig: imgCfg.Config,
		RootfsPath: rootfs, Opts: opts, EtcDir: etc, NetNSPath: nsPath, InitBinary: s.initBin}
	if s.vols != nil {
		in.Volumes = s.vols
	}
	spec, err := oci.Generate(ctx, in)
	if err != nil {
		return container.Container{}, err
	}
	if filepath.Base(rtPath) == container.RuntimeCrun {
		// crun 1.8 (Debian 12) refuses specs newer than the 1.0 series it
		// knows ("unknown version specified"); nothing Berth generates needs more.
		spec.Version = "1.0.2-dev"
	}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return container.Container{}, err
	}
	if err := atomicfile.Write(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
		return container.Container{}, fmt.Errorf("write bundle of container %s: %w", container.ShortID(id), err)
	}
	if err := os.MkdirAll(s.logDir(ns, id), 0o700); err != nil {
		return container.Container{}, err
	}
	cleanups = append(cleanups, func() { os.RemoveAll(s.logDir(ns, id)) })
	rec := container.Container{ID: id, Name: strings.TrimPrefix(opts.Name, "/"), Image: imageName, ImageDigest: imgDigest,
		Snapshotter: s.st.SnapshotterName, SnapshotKey: id, Runtime: handler, Spec: spec, Labels: oci.MergeLabels(imgCfg.Config.Labels, opts.Labels),
		Options: opts, RestartPolicy: opts.RestartPolicy, Volumes: oci.VolumesOf(spec),
		Status: container.Status{State: container.StateCreated}}
	if rec.Name == "" {
		for i := 0; i < 10; i++ {
			rec.Name = container.GenerateName(i)
			if _, err := s.store.Get(ctx, rec.Name); errdefs.IsNotFound(err) {
				break
			}
		}
	}
	out, err := s.store.Create(ctx, rec)
	if err != nil {
		s.removeAnonymousVolumes(ctx, rec)
		return container.Container{}, err
	}
	s.log.Debug("container created", "id", id, "took", time.Since(t0))
	s.ev.Publish(ns, "container", "create", out.ID, map[string]string{"name": out.Name, "image": out.Image})
	return out, nil
}

func (s *ContainersService) removeAnonymousVolumes(ctx context.Context, c container.Container) {
	if s.vols == nil {
		return
	}
	for _, v := range c.Volumes {
		if v.Anonymous {
			_ = s.vols.Remove(context.WithoutCancel(ctx), v.Name, true)
		}
	}
}

// Inspect returns a container record.
func (s *ContainersService) Inspect(ctx context.Context, req *berthv1.ContainerRef) (*berthv1.ContainerResponse, error) {
	c, err := s.store.Get(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	return marshalContainer(c)
}

// List returns the containers matching the filters (running ones only
// unless all).
func (s *ContainersService) List(ctx context.Context, req *berthv1.ListContainersRequest) (*berthv1.ListContainersResponse, error) {
	f, err := container.ParseFilters(req.Filters)
	if err != nil {
		return nil, err
	}
	cs, err := s.store.List(ctx, f)
	if err != nil {
		return nil, err
	}
	out := &berthv1.ListContainersResponse{}
	for _, c := range cs {
		if !req.All && len(f.Status) == 0 && c.Status.State != container.StateRunning && c.Status.State != container.StatePaused && c.Status.State != container.StateRestarting {
			continue
		}
		b, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		out.Containers = append(out.Containers, b)
	}
	return out, nil
}

func notRunning(c container.Container) error {
	return fmt.Errorf("Container %s is not running: %w", c.ID, errdefs.ErrFailedPrecondition)
}

// Remove deletes a container: its task (force), bundle, snapshot, logs,
// record and, with volumes, its anonymous volumes.
func (s *ContainersService) Remove(ctx context.Context, req *berthv1.RemoveRequest) (*berthv1.ContainerResponse, error) {
	c, err := s.store.Get(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	unlock := s.lock(c.ID)
	t := s.getTask(c.ID)
	if t == nil && c.Status.State == container.StateRestarting && !req.Force {
		unlock()
		return nil, fmt.Errorf("You cannot remove a restarting container %s. Stop the container before attempting removal or force remove: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	if t != nil && !req.Force {
		unlock()
		return nil, fmt.Errorf("You cannot remove a running container %s. Stop the container before attempting removal or force remove: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	// A pending restart sees this under the same lock and gives up.
	_, err = s.store.Update(ctx, c.ID, func(c *container.Container) error { c.Status.ManuallyStopped = true; return nil })
	unlock()
	if err != nil {
		return nil, err
	}
	if t != nil {
		if c.Status.State == container.StatePaused {
			_ = t.shim.Resume(ctx)
		}
		if err := s.killAndWait(ctx, t, 0, 0); err != nil {
			return nil, err
		}
	}
	if err := s.remove(ctx, c.ID, req.Volumes); err != nil {
		return nil, err
	}
	return marshalContainer(c)
}

// remove tears down a container without a task.
func (s *ContainersService) remove(ctx context.Context, id string, volumes bool) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	t0 := time.Now()
	unlock := s.lock(id)
	defer unlock()
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return err
	}
	if s.getTask(c.ID) != nil {
		return fmt.Errorf("container %s: started again while being removed: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	bundle := s.bundleDir(ns, c.ID)
	if err := mount.UnmountAll(filepath.Join(bundle, "rootfs"), 0); err != nil {
		if err := mount.UnmountAll(filepath.Join(bundle, "rootfs"), 0x2 /* MNT_DETACH */); err != nil {
			return fmt.Errorf("remove container %s: %w", c.ID, err)
		}
	}
	// Leftovers of a task the daemon lost track of.
	s.teardownNetwork(ctx, c)
	if _, err := os.Stat(s.shimDir(ns, c.ID)); err == nil {
		s.dropShim(ctx, s.shimDir(ns, c.ID))
	}
	if err := os.RemoveAll(bundle); err != nil {
		return fmt.Errorf("remove container %s: %w", c.ID, err)
	}
	if err := s.store.Delete(ctx, c.ID); err != nil {
		return err
	}
	if err := s.st.Image.Snapshotter.Remove(ctx, c.SnapshotKey); err != nil && !errdefs.IsNotFound(err) {
		s.log.Warn("remove container snapshot", "id", c.ID, "err", err)
	}
	os.RemoveAll(s.logDir(ns, c.ID))
	if volumes {
		s.removeAnonymousVolumes(ctx, c)
	}
	s.mu.Lock()
	delete(s.locks, c.ID)
	s.mu.Unlock()
	s.log.Debug("container removed", "id", c.ID, "took", time.Since(t0))
	s.ev.Publish(ns, "container", "destroy", c.ID, map[string]string{"name": c.Name, "image": c.Image})
	return nil
}

// teardownNetwork detaches the container and removes its namespace; what
// is already gone is not an error.
func (s *ContainersService) teardownNetwork(ctx context.Context, c container.Container) {
	p := s.netnsPath(c.ID)
	mode, _ := network.ParseNetworkMode(c.Options.NetworkMode)
	if s.net != nil && len(mode.Networks()) > 0 {
		if err := s.net.Detach(context.WithoutCancel(ctx), c.ID, p, mode.Networks()); err != nil {
			s.log.Warn("network detach", "id", c.ID, "err", err)
		}
	}
	if _, err := os.Lstat(p); err == nil {
		if err := netns.Remove(p); err != nil {
			s.log.Warn("remove netns", "id", c.ID, "err", err)
		}
	}
}

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// waitTimeout waits for ch for at most d (d <= 0: forever, bounded by ctx).
func waitTimeout(ctx context.Context, ch <-chan struct{}, d time.Duration) bool {
	var tc <-chan time.Time
	if d > 0 {
		tm := time.NewTimer(d)
		defer tm.Stop()
		tc = tm.C
	}
	select {
	case <-ch:
		return true
	case <-tc:
		return false
	case <-ctx.Done():
		return false
	}
}
