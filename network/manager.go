package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	cnitypes "github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	cniversion "github.com/containernetworking/cni/pkg/version"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/network/netns"
)

// Config configures a Manager. Zero values take the defaults.
type Config struct {
	Root          string   // persistent: networks in <Root>/networks (or NetworkDir)
	NetworkDir    string   // where the conflists live; default <Root>/networks
	State         string   // runtime: CNI cache, IPAM leases, attachment records
	PluginDirs    []string // default /usr/lib/cni, /opt/cni/bin
	DefaultSubnet string   // default 10.88.0.0/16
	DefaultBridge string   // default berth0
	// SharedIPAMDir holds the default network's IPAM leases, per bridge
	// (<SharedIPAMDir>/<DefaultBridge>), so that several daemons on one host
	// configured with the same default bridge and subnet never hand out the
	// same address. Default /run/berth/ipam. Other networks keep their
	// leases in <State>/cni/networks (their bridges are never shared).
	SharedIPAMDir string
	// MaxParallel bounds the plugin chains run at once (each is several
	// processes); default 16. Calls beyond it wait their turn.
	MaxParallel int
	Logger      *slog.Logger
}

// NetworkSpec asks for a new network.
type NetworkSpec struct {
	Name     string
	Subnet   string // IPv4 CIDR; empty picks a free /24 in 10.89.0.0/16
	Gateway  string // empty: the first address of the subnet
	Driver   string // "bridge" (the only driver) or empty
	Labels   map[string]string
	Internal bool // no masquerade, no default route, no published ports
}

// Network describes a network and the containers attached to it.
type Network struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Driver     string            `json:"driver"`
	Subnet     string            `json:"subnet"`
	Gateway    string            `json:"gateway"`
	Bridge     string            `json:"bridge"`
	Internal   bool              `json:"internal"`
	Labels     map[string]string `json:"labels,omitempty"`
	Created    time.Time         `json:"created"`
	Containers []Endpoint        `json:"containers,omitempty"`
}

// Endpoint is one container's interface on one network.
type Endpoint struct {
	ContainerID string   `json:"containerID"`
	Network     string   `json:"network"`
	IfName      string   `json:"ifName"`
	MAC         string   `json:"mac,omitempty"`
	IPs         []string `json:"ips,omitempty"` // CIDR form, e.g. 10.88.0.2/16
	Gateway     string   `json:"gateway,omitempty"`
}

// AttachOpts are a container's per-attach options.
type AttachOpts struct {
	// PortMappings are published through the portmap plugin of the first
	// network attached in this call. HostPort 0 gets a free host port.
	PortMappings []PortMapping
	Hostname     string
	Aliases      []string
}

// Result is what Attach set up.
type Result struct {
	Endpoints    []Endpoint    `json:"endpoints"`
	PortMappings []PortMapping `json:"portMappings,omitempty"`
}

// attachment is the per-container record in <state>/cni/attachments.
type attachment struct {
	ContainerID  string          `json:"containerID"`
	NetNS        string          `json:"netns"`
	Hostname     string          `json:"hostname,omitempty"`
	Aliases      []string        `json:"aliases,omitempty"`
	PortMappings []PortMapping   `json:"portMappings,omitempty"`
	Networks     []attachedEntry `json:"networks"`
}

type attachedEntry struct {
	Network  string          `json:"network"`
	IfName   string          `json:"ifName"`
	Conflist json.RawMessage `json:"conflist"`
	Ports    bool            `json:"ports,omitempty"` // carries PortMappings
	Done     bool            `json:"done"`            // ADD succeeded
	Endpoint *Endpoint       `json:"endpoint,omitempty"`
}

// Manager runs CNI plugins for Berth's networks. It is safe for concurrent use.
type Manager struct {
	cfg      Config
	cni      *libcni.CNIConfig
	log      *slog.Logger
	netDir   string
	ipamDir  string
	attDir   string
	cacheDir string

	sem    chan struct{}
	mu     sync.RWMutex // networks: Create/Remove exclusive, Attach/Detach shared
	portMu sync.Mutex   // records: port reservations
	ctrMu  sync.Mutex
	ctrs   map[string]*ctrLock
}

type ctrLock struct {
	mu   sync.Mutex
	refs int
}

// New makes a Manager and ensures the default "bridge" network exists.
func New(cfg Config) (*Manager, error) {
	if cfg.Root == "" {
		return nil, fmt.Errorf("network config: Root is empty: %w", errdefs.ErrInvalidArgument)
	}
	if cfg.State == "" {
		return nil, fmt.Errorf("network config: State is empty: %w", errdefs.ErrInvalidArgument)
	}
	if cfg.NetworkDir == "" {
		cfg.NetworkDir = filepath.Join(cfg.Root, "networks")
	}
	if len(cfg.PluginDirs) == 0 {
		cfg.PluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
	}
	if cfg.DefaultSubnet == "" {
		cfg.DefaultSubnet = "10.88.0.0/16"
	}
	if cfg.DefaultBridge == "" {
		cfg.DefaultBridge = "berth0"
	}
	if len(cfg.DefaultBridge) > 15 {
		return nil, fmt.Errorf("network config: DefaultBridge %q: longer than 15 characters: %w", cfg.DefaultBridge, errdefs.ErrInvalidArgument)
	}
	if cfg.SharedIPAMDir == "" {
		cfg.SharedIPAMDir = "/run/berth/ipam"
	}
	if cfg.MaxParallel <= 0 {
		cfg.MaxParallel = 16
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Manager{
		cfg:      cfg,
		log:      cfg.Logger,
		netDir:   cfg.NetworkDir,
		ipamDir:  filepath.Join(cfg.State, "cni", "networks"),
		attDir:   filepath.Join(cfg.State, "cni", "attachments"),
		cacheDir: filepath.Join(cfg.State, "cni", "cache"),
		ctrs:     map[string]*ctrLock{},
		sem:      make(chan struct{}, cfg.MaxParallel),
	}
	found := false
	for _, d := range cfg.PluginDirs {
		if _, err := os.Stat(filepath.Join(d, "bridge")); err == nil {
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("network config: no CNI bridge plugin in %s (install Debian's containernetworking-plugins): %w", strings.Join(cfg.PluginDirs, ", "), errdefs.ErrFailedPrecondition)
	}
	for _, d := range []string{m.netDir, m.ipamDir, m.attDir, m.cacheDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("network dir: %w", err)
		}
	}
	// An explicit exec: libcni would otherwise create its default lazily,
	// racing when several attaches start at once.
	m.cni = libcni.NewCNIConfigWithCacheDir(cfg.PluginDirs, m.cacheDir, &invoke.DefaultExec{
		RawExec:       &invoke.RawExec{Stderr: os.Stderr},
		PluginDecoder: cniversion.PluginDecoder{},
	})
	if _, err := m.load(DefaultNetworkName); isNotExist(err) {
		sub, gw, err := parseSubnet(cfg.DefaultSubnet, "")
		if err != nil {
			return nil, fmt.Errorf("network config: DefaultSubnet: %w", err)
		}
		if r, bad := routeConflict(sub, map[string]bool{cfg.DefaultBridge: true}); bad {
			m.log.Warn("default network subnet overlaps a host route; containers may not reach those addresses",
				"subnet", sub.String(), "route", r.Prefix.String(), "iface", r.Iface)
		}
		md := meta{ID: newID(), Driver: "bridge", Subnet: sub.String(), Gateway: gw.String(), Bridge: cfg.DefaultBridge, Created: time.Now().UTC()}
		if err := m.save(buildConflist(DefaultNetworkName, md, m.ipamDirOf(DefaultNetworkName))); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	} else if def, _ := m.load(DefaultNetworkName); def != nil && (def.Berth.Subnet != cfg.DefaultSubnet || def.Berth.Bridge != cfg.DefaultBridge) {
		m.log.Warn("default network keeps its stored subnet and bridge; remove its conflist (with no containers attached) to apply new ones",
			"stored_subnet", def.Berth.Subnet, "stored_bridge", def.Berth.Bridge, "config_subnet", cfg.DefaultSubnet, "config_bridge", cfg.DefaultBridge)
	}
	return m, nil
}

// ipamDirOf is host-local's dataDir for a network (it keeps leases in
// <dataDir>/<network name>).
func (m *Manager) ipamDirOf(network string) string {
	if network == DefaultNetworkName {
		return filepath.Join(m.cfg.SharedIPAMDir, m.cfg.DefaultBridge)
	}
	return m.ipamDir
}

func (m *Manager) confPath(name string) string { return filepath.Join(m.netDir, name+".conflist") }

func (m *Manager) load(name string) (*conflist, error) {
	var c conflist
	if err := readJSON(m.confPath(name), &c); err != nil {
		return nil, err
	}
	c.setIPAMDir(m.ipamDirOf(c.Name))
	return &c, nil
}

func (m *Manager) save(c conflist) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(m.confPath(c.Name), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("network %q: write %s: %w", c.Name, m.confPath(c.Name), err)
	}
	return nil
}

func (m *Manager) all() ([]*conflist, error) {
	ents, err := os.ReadDir(m.netDir)
	if err != nil {
		return nil, fmt.Errorf("networks dir: %w", err)
	}
	var out []*conflist
	for _, e := range ents {
		name, ok := trimExt(e.Name(), ".conflist")
		if !ok {
			continue
		}
		c, err := m.load(name)
		if err != nil {
			m.log.Warn("skipping unreadable network", "file", e.Name(), "err", err)
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// Create makes a new bridge network.
func (m *Manager) Create(ctx context.Context, spec NetworkSpec) (Network, error) {
	if err := ValidateName(spec.Name); err != nil {
		return Network{}, err
	}
	if spec.Driver != "" && spec.Driver != "bridge" {
		return Network{}, fmt.Errorf("network %q: driver %q: only \"bridge\" is supported: %w", spec.Name, spec.Driver, errdefs.ErrInvalidArgument)
	}
	for k := range spec.Labels {
		if k == "" {
			return Network{}, fmt.Errorf("network %q: label with an empty key: %w", spec.Name, errdefs.ErrInvalidArgument)
		}
	}
	if spec.Subnet == "" && spec.Gateway != "" {
		return Network{}, fmt.Errorf("network %q: gateway %q given without a subnet: %w", spec.Name, spec.Gateway, errdefs.ErrInvalidArgument)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := os.Stat(m.confPath(spec.Name)); err == nil {
		return Network{}, fmt.Errorf("network %q: %w", spec.Name, errdefs.ErrAlreadyExists)
	}
	existing, err := m.all()
	if err != nil {
		return Network{}, err
	}
	var sub netip.Prefix
	var gw netip.Addr
	if spec.Subnet == "" {
		sub, gw, err = pickSubnet(existing, func(p netip.Prefix) bool {
			ours := map[string]bool{}
			for _, c := range existing {
				ours[c.Berth.Bridge] = true
			}
			_, bad := routeConflict(p, ours)
			return bad
		})
		if err != nil {
			return Network{}, fmt.Errorf("network %q: %w", spec.Name, err)
		}
	} else {
		if sub, gw, err = parseSubnet(spec.Subnet, spec.Gateway); err != nil {
			return Network{}, fmt.Errorf("network %q: %w", spec.Name, err)
		}
		for _, c := range existing {
			p, err := netip.ParsePrefix(c.Berth.Subnet)
			if err == nil && overlaps(p, sub) {
				return Network{}, fmt.Errorf("network %q: subnet %s overlaps subnet %s of network %q: %w", spec.Name, sub, p, c.Name, errdefs.ErrAlreadyExists)
			}
		}
	}
	ours := map[string]bool{}
	for _, c := range existing {
		ours[c.Berth.Bridge] = true
	}
	if r, bad := routeConflict(sub, ours); bad {
		return Network{}, fmt.Errorf("network %q: subnet %s overlaps the host's route %s on %s: %w", spec.Name, sub, r.Prefix, r.Iface, errdefs.ErrAlreadyExists)
	}
	id := newID()
	md := meta{ID: id, Driver: "bridge", Subnet: sub.String(), Gateway: gw.String(), Bridge: "br-" + id[:12],
		Internal: spec.Internal, Labels: spec.Labels, Created: time.Now().UTC()}
	c := buildConflist(spec.Name, md, m.ipamDirOf(spec.Name))
	if _, err := libcni.ConfListFromBytes(mustJSON(c)); err != nil {
		return Network{}, fmt.Errorf("network %q: %w", spec.Name, err)
	}
	if err := m.save(c); err != nil {
		return Network{}, err
	}
	return toNetwork(&c), nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// pickSubnet finds a /24 in 10.89.0.0/16 used by no network and no host route.
func pickSubnet(existing []*conflist, onHostRoute func(netip.Prefix) bool) (netip.Prefix, netip.Addr, error) {
	for i := 0; i < 256; i++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 89, byte(i), 0}), 24)
		free := !onHostRoute(p)
		for _, c := range existing {
			if q, err := netip.ParsePrefix(c.Berth.Subnet); err == nil && q.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			return p, p.Addr().Next(), nil
		}
	}
	return netip.Prefix{}, netip.Addr{}, fmt.Errorf("no free /24 left in 10.89.0.0/16: give --subnet: %w", errdefs.ErrUnavailable)
}

func toNetwork(c *conflist) Network {
	return Network{Name: c.Name, ID: c.Berth.ID, Driver: c.Berth.Driver, Subnet: c.Berth.Subnet, Gateway: c.Berth.Gateway,
		Bridge: c.Berth.Bridge, Internal: c.Berth.Internal, Labels: c.Berth.Labels, Created: c.Berth.Created}
}

// List returns all networks, by name, without their containers.
func (m *Manager) List(ctx context.Context) ([]Network, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	cs, err := m.all()
	if err != nil {
		return nil, err
	}
	out := make([]Network, 0, len(cs))
	for _, c := range cs {
		out = append(out, toNetwork(c))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Inspect returns one network with the containers attached to it.
func (m *Manager) Inspect(ctx context.Context, name string) (Network, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, err := m.load(name)
	if isNotExist(err) {
		return Network{}, fmt.Errorf("network %q: %w", name, errdefs.ErrNotFound)
	}
	if err != nil {
		return Network{}, err
	}
	n := toNetwork(c)
	recs, err := m.records()
	if err != nil {
		return Network{}, err
	}
	for _, r := range recs {
		for _, e := range r.Networks {
			if e.Network != name {
				continue
			}
			ep := Endpoint{ContainerID: r.ContainerID, Network: name, IfName: e.IfName}
			if e.Endpoint != nil {
				ep = *e.Endpoint
			}
			n.Containers = append(n.Containers, ep)
		}
	}
	return n, nil
}

// Remove deletes a network that no container is attached to, and its bridge.
func (m *Manager) Remove(ctx context.Context, name string) error {
	if name == DefaultNetworkName {
		return fmt.Errorf("network %q is a pre-defined network and cannot be removed: %w", name, errdefs.ErrFailedPrecondition)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.load(name)
	if isNotExist(err) {
		return fmt.Errorf("network %q: %w", name, errdefs.ErrNotFound)
	}
	if err != nil {
		return err
	}
	recs, err := m.records()
	if err != nil {
		return err
	}
	var users []string
	for _, r := range recs {
		for _, e := range r.Networks {
			if e.Network == name {
				users = append(users, r.ContainerID)
			}
		}
	}
	if len(users) > 0 {
		sort.Strings(users)
		return fmt.Errorf("network %q has active endpoints (containers %s): %w", name, strings.Join(users, ", "), errdefs.ErrFailedPrecondition)
	}
	if err := os.Remove(m.confPath(name)); err != nil {
		return fmt.Errorf("network %q: %w", name, err)
	}
	_ = os.RemoveAll(filepath.Join(m.ipamDir, name))
	if err := deleteLink(c.Berth.Bridge); err != nil {
		m.log.Warn("network removed but its bridge remains", "network", name, "bridge", c.Berth.Bridge, "err", err)
	}
	return nil
}

// deleteLink removes a host interface; a missing one is fine.
func deleteLink(name string) error {
	if name == "" {
		return nil
	}
	if _, err := net.InterfaceByName(name); err != nil {
		return nil
	}
	out, err := exec.Command("ip", "link", "delete", name).CombinedOutput()
	if err != nil {
		if _, e := net.InterfaceByName(name); e != nil {
			return nil
		}
		return fmt.Errorf("ip link delete %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// DeleteDefaultBridge removes the default network's bridge interface if no
// container is attached to it (for tests and uninstall; berthd keeps it).
func (m *Manager) DeleteDefaultBridge(ctx context.Context) error {
	n, err := m.Inspect(ctx, DefaultNetworkName)
	if err != nil {
		return err
	}
	if len(n.Containers) > 0 {
		return fmt.Errorf("network %q has %d active endpoints: %w", DefaultNetworkName, len(n.Containers), errdefs.ErrFailedPrecondition)
	}
	if err := deleteLink(n.Bridge); err != nil {
		return err
	}
	// Drop the shared lease directory if no daemon holds a lease in it.
	dir := filepath.Join(m.ipamDirOf(DefaultNetworkName), DefaultNetworkName)
	ents, err := os.ReadDir(dir)
	if err == nil {
		for _, e := range ents {
			if _, perr := netip.ParseAddr(e.Name()); perr == nil {
				return nil
			}
		}
	}
	_ = os.RemoveAll(m.ipamDirOf(DefaultNetworkName))
	return nil
}

// ---- attachment records ----

func (m *Manager) recPath(id string) string { return filepath.Join(m.attDir, id+".json") }

func (m *Manager) readRecord(id string) (*attachment, error) {
	var a attachment
	if err := readJSON(m.recPath(id), &a); err != nil {
		return nil, err
	}
	return &a, nil
}

func (m *Manager) writeRecord(a *attachment) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(m.recPath(a.ContainerID), b, 0o600); err != nil {
		return fmt.Errorf("container %s: attachment record: %w", a.ContainerID, err)
	}
	return nil
}

func (m *Manager) records() ([]*attachment, error) {
	ents, err := os.ReadDir(m.attDir)
	if err != nil {
		return nil, fmt.Errorf("attachments dir: %w", err)
	}
	var out []*attachment
	for _, e := range ents {
		id, ok := trimExt(e.Name(), ".json")
		if !ok {
			continue
		}
		a, err := m.readRecord(id)
		if err != nil {
			if !isNotExist(err) {
				m.log.Warn("unreadable attachment record", "file", e.Name(), "err", err)
			}
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

// Attachments returns the container IDs that have an attachment record
// (berthd compares them with its containers after a restart and Detaches
// the ones it no longer knows).
func (m *Manager) Attachments(ctx context.Context) ([]string, error) {
	recs, err := m.records()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.ContainerID)
	}
	sort.Strings(out)
	return out, nil
}

func (m *Manager) lockCtr(id string) func() {
	m.ctrMu.Lock()
	l := m.ctrs[id]
	if l == nil {
		l = &ctrLock{}
		m.ctrs[id] = l
	}
	l.refs++
	m.ctrMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		m.ctrMu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(m.ctrs, id)
		}
		m.ctrMu.Unlock()
	}
}

// ---- attach / detach ----

func rtConf(id, netnsPath, ifName string, e *attachedEntry, a *attachment) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: id, NetNS: netnsPath, IfName: ifName,
		Args: [][2]string{{"IgnoreUnknown", "1"}}}
	if e.Ports && len(a.PortMappings) > 0 {
		pm := make([]map[string]any, 0, len(a.PortMappings))
		for _, p := range a.PortMappings {
			x := map[string]any{"hostPort": p.HostPort, "containerPort": p.ContainerPort, "protocol": p.Protocol}
			if p.HostIP != "" {
				x["hostIP"] = p.HostIP
			}
			pm = append(pm, x)
		}
		rt.CapabilityArgs = map[string]any{"portMappings": pm}
	}
	return rt
}

// Attach connects the container whose network namespace is pinned at
// netnsPath to networks (in order: eth0, eth1, … after any interfaces it
// already has). If anything fails, every network added in this call is
// deleted again and the error names the network that failed.
func (m *Manager) Attach(ctx context.Context, containerID, netnsPath string, networks []string, opts AttachOpts) (res Result, retErr error) {
	if err := validateContainerID(containerID); err != nil {
		return Result{}, err
	}
	if netnsPath == "" {
		return Result{}, fmt.Errorf("container %s: netns path is empty: %w", containerID, errdefs.ErrInvalidArgument)
	}
	if len(networks) == 0 {
		return Result{}, fmt.Errorf("container %s: no networks to attach: %w", containerID, errdefs.ErrInvalidArgument)
	}
	seen := map[string]bool{}
	for i, n := range networks {
		if seen[n] {
			return Result{}, fmt.Errorf("container %s: networks[%d]: network %q listed twice: %w", containerID, i, n, errdefs.ErrInvalidArgument)
		}
		seen[n] = true
	}
	if _, err := os.Stat(netnsPath); err != nil {
		return Result{}, fmt.Errorf("container %s: netns %s: %w", containerID, netnsPath, errdefs.ErrInvalidArgument)
	}
	if !netns.IsPinned(netnsPath) {
		return Result{}, fmt.Errorf("container %s: netns %s: not a network namespace: %w", containerID, netnsPath, errdefs.ErrInvalidArgument)
	}
	ports := append([]PortMapping(nil), opts.PortMappings...)
	for i, p := range ports {
		if p.ContainerPort < 1 || p.ContainerPort > 65535 || p.HostPort < 0 || p.HostPort > 65535 || (p.Protocol != "tcp" && p.Protocol != "udp") {
			return Result{}, fmt.Errorf("container %s: portMappings[%d] %s: invalid: %w", containerID, i, p, errdefs.ErrInvalidArgument)
		}
		if p.HostIP != "" {
			if _, err := netip.ParseAddr(p.HostIP); err != nil {
				return Result{}, fmt.Errorf("container %s: portMappings[%d].hostIP %q: not an IP address: %w", containerID, i, p.HostIP, errdefs.ErrInvalidArgument)
			}
		}
	}

	m.mu.RLock()
	defer m.mu.RUnlock()
	unlock := m.lockCtr(containerID)
	defer unlock()

	// Resolve every network first: a bad name changes nothing.
	lists := make([]*conflist, len(networks))
	for i, n := range networks {
		c, err := m.load(n)
		if isNotExist(err) {
			return Result{}, fmt.Errorf("container %s: networks[%d]: network %q: %w", containerID, i, n, errdefs.ErrNotFound)
		}
		if err != nil {
			return Result{}, fmt.Errorf("container %s: network %q: %w", containerID, n, err)
		}
		lists[i] = c
	}
	if len(ports) > 0 && lists[0].Berth.Internal {
		return Result{}, fmt.Errorf("container %s: network %q is internal: ports cannot be published: %w", containerID, networks[0], errdefs.ErrInvalidArgument)
	}

	rec, err := m.readRecord(containerID)
	existed := err == nil
	if isNotExist(err) {
		rec = &attachment{ContainerID: containerID, NetNS: netnsPath}
	} else if err != nil {
		return Result{}, err
	}
	if existed && rec.NetNS != netnsPath {
		return Result{}, fmt.Errorf("container %s: already attached through netns %s, not %s: %w", containerID, rec.NetNS, netnsPath, errdefs.ErrFailedPrecondition)
	}
	used := map[string]bool{}
	for _, e := range rec.Networks {
		if seen[e.Network] {
			return Result{}, fmt.Errorf("container %s: already attached to network %q: %w", containerID, e.Network, errdefs.ErrAlreadyExists)
		}
		used[e.IfName] = true
	}
	if len(ports) > 0 && len(rec.PortMappings) > 0 {
		return Result{}, fmt.Errorf("container %s: ports already published: %w", containerID, errdefs.ErrAlreadyExists)
	}

	// Reserve host ports and write the intent record in one critical section.
	m.portMu.Lock()
	if err := m.reservePorts(containerID, ports); err != nil {
		m.portMu.Unlock()
		return Result{}, err
	}
	prevLen := len(rec.Networks)
	if !existed {
		rec.Hostname, rec.Aliases = opts.Hostname, opts.Aliases
	}
	rec.PortMappings = append(rec.PortMappings, ports...)
	ifIdx := 0
	for i, c := range lists {
		for used["eth"+strconv.Itoa(ifIdx)] {
			ifIdx++
		}
		ifName := "eth" + strconv.Itoa(ifIdx)
		used[ifName] = true
		withPorts := i == 0 && len(ports) > 0
		rec.Networks = append(rec.Networks, attachedEntry{Network: c.Name, IfName: ifName, Conflist: mustJSON(c.forAttach(withPorts)), Ports: withPorts})
	}
	err = m.writeRecord(rec)
	m.portMu.Unlock()
	if err != nil {
		return Result{}, err
	}

	defer func() {
		if retErr == nil {
			return
		}
		// Undo this call: DEL what was added (in reverse), drop the entries.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		var failed []attachedEntry
		for i := len(rec.Networks) - 1; i >= prevLen; i-- {
			if err := m.del(dctx, rec, &rec.Networks[i]); err != nil {
				m.log.Error("attach rollback: CNI DEL failed; the record stays for Detach", "container", containerID, "network", rec.Networks[i].Network, "err", err)
				failed = append(failed, rec.Networks[i])
			}
		}
		rec.Networks = append(rec.Networks[:prevLen], failed...)
		if len(failed) == 0 {
			rec.PortMappings = rec.PortMappings[:len(rec.PortMappings)-len(ports)]
		} else {
			retErr = fmt.Errorf("%w (undoing it failed too: Detach the container to retry)", retErr)
		}
		var err error
		if len(rec.Networks) == 0 {
			err = os.Remove(m.recPath(containerID))
		} else {
			err = m.writeRecord(rec)
		}
		if err != nil && !isNotExist(err) {
			m.log.Error("attach rollback: record", "container", containerID, "err", err)
		}
	}()

	for i := prevLen; i < len(rec.Networks); i++ {
		e := &rec.Networks[i]
		list, err := libcni.ConfListFromBytes(e.Conflist)
		if err != nil {
			return Result{}, fmt.Errorf("container %s: network %q: %w", containerID, e.Network, err)
		}
		if err := m.acquire(ctx); err != nil {
			return Result{}, fmt.Errorf("container %s: attach to network %q: %w", containerID, e.Network, err)
		}
		r, err := m.cni.AddNetworkList(ctx, list, rtConf(containerID, netnsPath, e.IfName, e, rec))
		m.release()
		if err != nil {
			return Result{}, fmt.Errorf("container %s: attach to network %q: %w", containerID, e.Network, err)
		}
		ep, err := endpointFrom(containerID, e.Network, e.IfName, r)
		if err != nil {
			return Result{}, fmt.Errorf("container %s: network %q: %w", containerID, e.Network, err)
		}
		e.Done, e.Endpoint = true, &ep
		if err := m.writeRecord(rec); err != nil {
			return Result{}, err
		}
	}
	for i := prevLen; i < len(rec.Networks); i++ {
		res.Endpoints = append(res.Endpoints, *rec.Networks[i].Endpoint)
	}
	res.PortMappings = ports
	return res, nil
}

// reservePorts rejects host ports another container publishes and picks free
// ones for HostPort 0. Called with portMu held.
func (m *Manager) reservePorts(id string, ports []PortMapping) error {
	if len(ports) == 0 {
		return nil
	}
	recs, err := m.records()
	if err != nil {
		return err
	}
	clash := func(a, b PortMapping) bool {
		if a.HostPort != b.HostPort || a.Protocol != b.Protocol {
			return false
		}
		return a.HostIP == b.HostIP || a.HostIP == "" || b.HostIP == "" || a.HostIP == "0.0.0.0" || b.HostIP == "0.0.0.0"
	}
	for i := range ports {
		if ports[i].HostPort == 0 {
			p, err := freeHostPort(ports[i].HostIP, ports[i].Protocol)
			if err != nil {
				return fmt.Errorf("container %s: portMappings[%d] %s: pick a host port: %w", id, i, ports[i], err)
			}
			ports[i].HostPort = p
		}
		if err := hostPortFree(ports[i]); err != nil {
			return fmt.Errorf("container %s: %w", id, err)
		}
		for _, r := range recs {
			for _, q := range r.PortMappings {
				if clash(ports[i], q) {
					return fmt.Errorf("container %s: host port %s:%d/%s is already published by container %s: %w",
						id, orAll(ports[i].HostIP), ports[i].HostPort, ports[i].Protocol, r.ContainerID, errdefs.ErrAlreadyExists)
				}
			}
		}
	}
	return nil
}

func orAll(ip string) string {
	if ip == "" {
		return "0.0.0.0"
	}
	return ip
}

// hostPortFree fails if a host process already listens on the mapping's
// host address and port (docker's "port is already allocated"): traffic from
// other hosts would silently go to the container instead.
func hostPortFree(p PortMapping) error {
	addr := net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort))
	var err error
	if p.Protocol == "udp" {
		var c net.PacketConn
		if c, err = net.ListenPacket("udp", addr); err == nil {
			c.Close()
		}
	} else {
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			l.Close()
		}
	}
	if err != nil && errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("host port %s:%d/%s is already in use on the host: %w", orAll(p.HostIP), p.HostPort, p.Protocol, errdefs.ErrAlreadyExists)
	}
	if err != nil && errors.Is(err, syscall.EADDRNOTAVAIL) {
		return fmt.Errorf("host address %s of port %d/%s is not an address of this host: %w", p.HostIP, p.HostPort, p.Protocol, errdefs.ErrInvalidArgument)
	}
	return nil
}

func freeHostPort(hostIP, proto string) (int, error) {
	addr := net.JoinHostPort(hostIP, "0")
	if proto == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func endpointFrom(id, network, ifName string, r cnitypes.Result) (Endpoint, error) {
	res, err := types100.NewResultFromResult(r)
	if err != nil {
		return Endpoint{}, fmt.Errorf("CNI result: %w", err)
	}
	ep := Endpoint{ContainerID: id, Network: network, IfName: ifName}
	for _, in := range res.Interfaces {
		if in.Name == ifName && in.Sandbox != "" {
			ep.MAC = in.Mac
		}
	}
	for _, ip := range res.IPs {
		ep.IPs = append(ep.IPs, ip.Address.String())
		if ip.Gateway != nil && ep.Gateway == "" {
			ep.Gateway = ip.Gateway.String()
		}
	}
	if len(ep.IPs) == 0 {
		return ep, fmt.Errorf("CNI result has no IP address")
	}
	return ep, nil
}

// del runs CNI DEL for one entry, tolerating state that is already gone.
func (m *Manager) del(ctx context.Context, a *attachment, e *attachedEntry) error {
	list, err := libcni.ConfListFromBytes(e.Conflist)
	if err != nil {
		return fmt.Errorf("network %q: stored config: %w", e.Network, err)
	}
	nsPath := a.NetNS
	if !netns.IsPinned(nsPath) {
		// Plugins treat an empty netns as "already gone" for the interface
		// and still release IPAM and host-side rules.
		nsPath = ""
	}
	rt := rtConf(a.ContainerID, nsPath, e.IfName, e, a)
	if cached, err := m.cni.GetNetworkListCachedResult(list, rt); err != nil || cached == nil {
		// Without the cached ADD result the firewall plugin cannot find
		// its rules: remove them by address while the lease is still ours.
		var ips []string
		if e.Endpoint != nil {
			ips = e.Endpoint.IPs
		} else {
			ips = m.leasedIPs(e.Network, a.ContainerID, e.IfName)
		}
		if err := purgeForwardRules(ips); err != nil {
			m.log.Warn("detach: removing firewall rules", "container", a.ContainerID, "network", e.Network, "err", err)
		}
	}
	if err := m.acquire(ctx); err != nil {
		return fmt.Errorf("container %s: detach from network %q: %w", a.ContainerID, e.Network, err)
	}
	err = m.cni.DelNetworkList(ctx, list, rt)
	m.release()
	if err != nil {
		return fmt.Errorf("container %s: detach from network %q: %w", a.ContainerID, e.Network, err)
	}
	return nil
}

// Detach removes the container from networks (nil: from all it is attached
// to). Already-detached networks and a missing record are not errors. The
// namespace at netnsPath should still exist (see the package doc); netnsPath
// "" uses the path recorded by Attach.
func (m *Manager) Detach(ctx context.Context, containerID, netnsPath string, networks []string) error {
	if err := validateContainerID(containerID); err != nil {
		return err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	unlock := m.lockCtr(containerID)
	defer unlock()
	rec, err := m.readRecord(containerID)
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if netnsPath != "" {
		rec.NetNS = netnsPath
	}
	_, statErr := os.Stat(rec.NetNS)
	nsGone := statErr != nil || !netns.IsPinned(rec.NetNS)
	want := map[string]bool{}
	for _, n := range networks {
		want[n] = true
	}
	var errs []error
	keep := rec.Networks[:0:0]
	dropPorts := false
	var detached []string
	for i := len(rec.Networks) - 1; i >= 0; i-- {
		e := rec.Networks[i]
		if len(networks) > 0 && !want[e.Network] {
			keep = append([]attachedEntry{e}, keep...)
			continue
		}
		detached = append(detached, e.Network)
		if err := m.del(ctx, rec, &e); err != nil {
			errs = append(errs, err)
			keep = append([]attachedEntry{e}, keep...)
			continue
		}
		if e.Ports {
			dropPorts = true
		}
	}
	rec.Networks = keep
	if nsGone || len(errs) > 0 {
		if err := purgeRules(containerID, detached); err != nil {
			m.log.Warn("detach: removing leftover iptables rules", "container", containerID, "err", err)
		}
	}
	if dropPorts {
		rec.PortMappings = nil
	}
	if len(rec.Networks) == 0 {
		if err := os.Remove(m.recPath(containerID)); err != nil && !isNotExist(err) {
			errs = append(errs, err)
		}
	} else if err := m.writeRecord(rec); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Check runs CNI CHECK for every network the container is attached to.
func (m *Manager) Check(ctx context.Context, containerID string) error {
	if err := validateContainerID(containerID); err != nil {
		return err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	rec, err := m.readRecord(containerID)
	if isNotExist(err) {
		return fmt.Errorf("container %s: no network attachments: %w", containerID, errdefs.ErrNotFound)
	}
	if err != nil {
		return err
	}
	for _, e := range rec.Networks {
		list, err := libcni.ConfListFromBytes(e.Conflist)
		if err != nil {
			return fmt.Errorf("network %q: stored config: %w", e.Network, err)
		}
		// Debian's portmap (1.1.1) fails CHECK for IPv4-only containers
		// (it looks for an IPv6 DNAT chain that was never made): skip it.
		plugins := list.Plugins[:0:0]
		for _, p := range list.Plugins {
			if p.Network.Type != "portmap" {
				plugins = append(plugins, p)
			}
		}
		list.Plugins = plugins
		if err := m.acquire(ctx); err != nil {
			return err
		}
		err = m.cni.CheckNetworkList(ctx, list, rtConf(containerID, rec.NetNS, e.IfName, &e, rec))
		m.release()
		if err != nil {
			return fmt.Errorf("container %s: check network %q: %w", containerID, e.Network, err)
		}
	}
	return nil
}

// Endpoints returns the container's current endpoints (nil if none).
func (m *Manager) Endpoints(ctx context.Context, containerID string) ([]Endpoint, []PortMapping, error) {
	if err := validateContainerID(containerID); err != nil {
		return nil, nil, err
	}
	rec, err := m.readRecord(containerID)
	if isNotExist(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var eps []Endpoint
	for _, e := range rec.Networks {
		if e.Endpoint != nil {
			eps = append(eps, *e.Endpoint)
		}
	}
	return eps, rec.PortMappings, nil
}

// leasedIPs returns the addresses host-local leased to the container's
// interface on network (its lease files hold "ID\r\nIFNAME").
func (m *Manager) leasedIPs(network, containerID, ifName string) []string {
	dir := filepath.Join(m.ipamDirOf(network), network)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var ips []string
	for _, en := range ents {
		if _, err := netip.ParseAddr(en.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, en.Name()))
		if err != nil {
			continue
		}
		lines := strings.Fields(string(b))
		if len(lines) >= 1 && lines[0] == containerID && (len(lines) < 2 || lines[1] == ifName) {
			ips = append(ips, en.Name())
		}
	}
	return ips
}

// Reconcile is for berthd's start: it Detaches every attachment whose
// container live reports as gone, then removes every namespace pinned under
// <State>/netns whose container is gone (namespace names are container IDs).
// It returns the IDs it cleaned up; errors are joined, cleanup goes on.
func (m *Manager) Reconcile(ctx context.Context, live func(containerID string) bool) ([]string, error) {
	var errs []error
	cleaned := map[string]bool{}
	ids, err := m.Attachments(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if live(id) {
			continue
		}
		if err := m.Detach(ctx, id, "", nil); err != nil {
			errs = append(errs, err)
			continue
		}
		cleaned[id] = true
	}
	names, err := netns.List(m.cfg.State)
	if err != nil {
		errs = append(errs, err)
	}
	for _, n := range names {
		if live(n) {
			continue
		}
		if rec, err := m.readRecord(n); err == nil && len(rec.Networks) > 0 {
			continue // its Detach failed above: keep the namespace for a retry
		}
		if err := netns.Remove(filepath.Join(netns.Dir(m.cfg.State), n)); err != nil {
			errs = append(errs, err)
			continue
		}
		cleaned[n] = true
	}
	out := make([]string, 0, len(cleaned))
	for id := range cleaned {
		out = append(out, id)
	}
	sort.Strings(out)
	return out, errors.Join(errs...)
}

func (m *Manager) acquire(ctx context.Context) error {
	select {
	case m.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Manager) release() { <-m.sem }
