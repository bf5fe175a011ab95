package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/version"
	"github.com/berth-containers/berth/runtime/caps"
	"github.com/berth-containers/berth/runtime/seccomp"
	rspec "github.com/berth-containers/berth/runtime/spec"
	"github.com/berth-containers/berth/volume"
)

// DefaultPath is the PATH a container gets unless its image or user sets one.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// DefaultCapabilities are Docker's 14 default capabilities.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// InitPath is where WithInit mounts the init binary in the container.
const InitPath = "/sbin/berth-init"

// defaultShmSize is /dev/shm's size unless --shm-size says otherwise.
const defaultShmSize = 64 << 20

// VolumeProvider creates and removes named volumes (volume.Store is one).
type VolumeProvider interface {
	Ensure(ctx context.Context, name string, labels map[string]string) (volume.Volume, bool, error)
	Remove(ctx context.Context, name string, force bool) error
}

// SpecOpt edits a generated spec (WithInit is one).
type SpecOpt func(*specs.Spec) error

// GenerateInput is what Generate builds a spec from.
type GenerateInput struct {
	// ID is the container's ID (the default hostname is its first 12
	// characters).
	ID string
	// ImageName and ImageDigest go into annotations.
	ImageName   string
	ImageDigest string
	ImageConfig ocispec.ImageConfig
	// RootfsPath is the container's root filesystem, mounted on the host
	// (the snapshot's mounts, mounted by the daemon). Users are resolved,
	// the working directory created and image content copied into new
	// volumes from here. Empty: names in --user fail, nothing is created
	// and volumes start empty.
	RootfsPath string
	// RootPath is the spec's root.path (default RootfsPath; "rootfs" for a
	// bundle-relative root).
	RootPath string
	Opts     CreateOptions
	// EtcDir holds hosts, resolv.conf and hostname written by WriteEtcFiles;
	// empty: the container keeps the image's own files.
	EtcDir string
	// NetNSPath is the network namespace to join: the one the daemon made
	// for bridge/NAME/none, or another container's for container:ID.
	// Ignored for host networking (no network namespace at all).
	NetNSPath string
	// CgroupsPath defaults to /berth/<ID>.
	CgroupsPath string
	// Volumes creates named and anonymous volumes; needed when the options
	// or the image ask for any.
	Volumes VolumeProvider
	// InitBinary is the host path of the init --init runs as PID 1.
	InitBinary string
	// HostDevDir is where --privileged finds the host's devices (default /dev).
	HostDevDir string
	// Extra edits run last.
	Extra []SpecOpt
}

// VolumeRef is one volume a container uses (from AnnotationVolumes).
type VolumeRef struct {
	Name        string `json:"name"`
	Destination string `json:"destination"`
	Anonymous   bool   `json:"anonymous,omitempty"`
}

// VolumesOf returns the volumes a generated spec uses.
func VolumesOf(s *specs.Spec) []VolumeRef {
	if s == nil || s.Annotations[AnnotationVolumes] == "" {
		return nil
	}
	var out []VolumeRef
	if err := json.Unmarshal([]byte(s.Annotations[AnnotationVolumes]), &out); err != nil {
		return nil
	}
	return out
}

func invalid(format string, a ...any) error {
	return fmt.Errorf(format+": %w", append(a, errdefs.ErrInvalidArgument)...)
}

// userMount is a validated -v/--mount/--tmpfs before anything is created.
type userMount struct {
	VolumeSpec
	tmpfs bool
	flag  string
	value string
}

// Generate builds the OCI spec of a container from its image config and
// the user's options with Docker's semantics (see the package doc). Every
// option is validated before anything is created; on error, volumes and
// bind sources it created are removed again.
func Generate(ctx context.Context, in GenerateInput) (_ *specs.Spec, retErr error) {
	o := in.Opts
	img := in.ImageConfig
	if in.ID == "" {
		return nil, invalid("container id is empty")
	}
	if err := rspec.ValidateID(in.ID); err != nil {
		return nil, invalid("container id %q: %v", in.ID, err)
	}
	if in.RootfsPath != "" && !filepath.IsAbs(in.RootfsPath) {
		return nil, invalid("rootfs path %q: must be absolute", in.RootfsPath)
	}

	// ---- validation: nothing is created in this part ----
	so, err := ParseSecurityOpts(o.SecurityOpt)
	if err != nil {
		return nil, err
	}
	var custom *specs.LinuxSeccomp
	if len(so.SeccompProfile) > 0 {
		custom = new(specs.LinuxSeccomp)
		if err := json.Unmarshal(so.SeccompProfile, custom); err != nil {
			return nil, flagErr(FlagSecurityOpt, "seccomp=...", "decoding seccomp profile failed: %v", err)
		}
	}
	netMode := o.NetworkMode
	hostNet := netMode == "host"
	if strings.HasPrefix(netMode, "container:") && in.NetNSPath == "" {
		return nil, invalid("--network %s: the other container's network namespace path is not known", netMode)
	}
	hostname := o.Hostname
	if hostname == "" {
		if hostNet {
			hostname, _ = os.Hostname()
		} else {
			hostname = in.ID
			if len(hostname) > 12 {
				hostname = hostname[:12]
			}
		}
	} else if hostNet {
		return nil, flagErr(FlagHostname, hostname, "conflicting options: hostname and the network mode host")
	}
	if err := checkHostname(hostname); err != nil {
		return nil, err
	}
	// The image's USER applies unless --user is given.
	userArg := o.User
	if userArg == "" {
		userArg = img.User
	}
	if _, err := ParseUser(userArg); err != nil {
		if o.User == "" {
			return nil, fmt.Errorf("image config user %q: %w", img.User, err)
		}
		return nil, err
	}
	if hostNet && o.Domainname != "" {
		return nil, invalid("--domainname: conflicting options: domainname and the network mode host")
	}
	if err := checkMemory(o.Memory); err != nil {
		return nil, flagErr(FlagMemory, strconv.FormatInt(o.Memory, 10), "%v", err)
	}
	if o.MemorySwap != 0 {
		switch {
		case o.Memory == 0:
			return nil, flagErr(FlagMemorySwap, strconv.FormatInt(o.MemorySwap, 10), "you should always set the memory limit when using memoryswap limit, see usage")
		case o.MemorySwap < -1:
			return nil, flagErr(FlagMemorySwap, strconv.FormatInt(o.MemorySwap, 10), "invalid size: must be -1 or a size")
		case o.MemorySwap > 0 && o.MemorySwap < o.Memory:
			return nil, flagErr(FlagMemorySwap, strconv.FormatInt(o.MemorySwap, 10), "minimum memoryswap limit should be larger than memory limit, see usage")
		}
	}
	if o.MemoryReservation < 0 || (o.Memory > 0 && o.MemoryReservation > o.Memory) {
		return nil, flagErr(FlagMemoryRes, strconv.FormatInt(o.MemoryReservation, 10), "minimum memory limit can not be less than memory reservation limit, see usage")
	}
	if o.ShmSize < 0 {
		return nil, flagErr(FlagShmSize, strconv.FormatInt(o.ShmSize, 10), "invalid size: must not be negative")
	}
	if err := checkNanoCPUs(o.NanoCPUs); err != nil {
		return nil, flagErr(FlagCPUs, strconv.FormatFloat(float64(o.NanoCPUs)/1e9, 'f', -1, 64), "%v", err)
	}
	if o.CPUShares != 0 {
		if _, err := ParseCPUShares(strconv.FormatInt(o.CPUShares, 10)); err != nil {
			return nil, err
		}
	}
	if _, err := ParseCpuset(o.CpusetCpus); err != nil {
		return nil, err
	}
	if o.PidsLimit < -1 {
		return nil, flagErr(FlagPidsLimit, strconv.FormatInt(o.PidsLimit, 10), "must be -1 (unlimited) or positive")
	}
	seenUlimit := map[string]bool{}
	for _, u := range o.Ulimits {
		if err := checkUlimit(u); err != nil {
			return nil, flagErr(FlagUlimit, fmt.Sprintf("%s=%d:%d", u.Name, u.Soft, u.Hard), "%v", err)
		}
		if seenUlimit[u.Name] {
			return nil, flagErr(FlagUlimit, u.Name, "ulimit %s given twice", u.Name)
		}
		seenUlimit[u.Name] = true
	}
	for k, v := range o.Sysctls {
		if err := checkSysctl(k, v, hostNet); err != nil {
			return nil, flagErr(FlagSysctl, k+"="+v, "%v", err)
		}
	}
	capAdd, err := ParseCapabilities(FlagCapAdd, o.CapAdd)
	if err != nil {
		return nil, err
	}
	capDrop, err := ParseCapabilities(FlagCapDrop, o.CapDrop)
	if err != nil {
		return nil, err
	}
	if err := CheckRestartPolicy(o.RestartPolicy, false); err != nil {
		return nil, flagErr(FlagRestart, o.RestartPolicy.Name, "%v", err)
	}
	if o.StopSignal != "" {
		if _, err := ParseSignal(o.StopSignal); err != nil {
			return nil, flagErr(FlagStopSignal, o.StopSignal, "%v", err)
		}
	}
	if o.Init && in.InitBinary == "" {
		return nil, invalid("--init: no init binary is configured")
	}
	for i, e := range o.Env {
		k, _, _ := strings.Cut(e, "=")
		if k == "" || strings.ContainsRune(e, 0) {
			return nil, flagErr(FlagEnv, e, "invalid environment variable: %s (env[%d])", e, i)
		}
	}
	for k := range o.Labels {
		if k == "" {
			return nil, invalid("--label: empty key")
		}
	}

	// Arguments: Docker's entrypoint/cmd rules.
	var entry, cmd []string
	if o.EntrypointSet || len(o.Entrypoint) > 0 {
		entry = o.Entrypoint
		if len(entry) == 1 && entry[0] == "" {
			entry = nil
		}
		cmd = o.Cmd
	} else {
		entry = img.Entrypoint
		cmd = o.Cmd
		if len(cmd) == 0 {
			cmd = img.Cmd
		}
	}
	args := append(append([]string(nil), entry...), cmd...)
	if len(args) == 0 || args[0] == "" {
		return nil, invalid("no command specified")
	}

	// Working directory.
	cwd := o.WorkingDir
	if cwd == "" {
		cwd = img.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) || strings.ContainsRune(cwd, 0) {
		return nil, flagErr(FlagWorkdir, cwd, "the working directory '%s' is invalid, it needs to be an absolute path", cwd)
	}
	cwd = path.Clean(cwd)

	// Mounts given by the user.
	var ums []userMount
	for _, v := range o.Volumes {
		vs, err := ParseVolumeSpec(v)
		if err != nil {
			return nil, err
		}
		ums = append(ums, userMount{VolumeSpec: vs, flag: FlagVolume, value: v})
	}
	for _, v := range o.Mounts {
		vs, err := ParseMountSpec(v)
		if err != nil {
			return nil, err
		}
		if vs.Type == "bind" {
			if _, err := os.Stat(vs.Source); err != nil {
				return nil, flagErr(FlagMount, v, "invalid mount config for type \"bind\": bind source path does not exist: %s", vs.Source)
			}
		}
		ums = append(ums, userMount{VolumeSpec: vs, tmpfs: vs.Type == "tmpfs", flag: FlagMount, value: v})
	}
	for _, v := range o.Tmpfs {
		dst, topts, err := ParseTmpfs(v)
		if err != nil {
			return nil, err
		}
		ums = append(ums, userMount{VolumeSpec: VolumeSpec{Type: "tmpfs", Destination: dst, TmpfsOptions: topts}, tmpfs: true, flag: FlagTmpfs, value: v})
	}
	dests := map[string]bool{}
	for _, m := range ums {
		if dests[m.Destination] {
			return nil, flagErr(m.flag, m.value, "duplicate mount point: %s", m.Destination)
		}
		dests[m.Destination] = true
	}
	// Image VOLUMEs not covered by a user mount become anonymous volumes.
	var imgVols []string
	for v := range img.Volumes {
		d := path.Clean(v)
		if !path.IsAbs(d) || d == "/" {
			continue // Docker ignores such image volumes too
		}
		if !dests[d] {
			imgVols = append(imgVols, d)
			dests[d] = true
		}
	}
	sort.Strings(imgVols)
	needVolumes := len(imgVols) > 0
	for _, m := range ums {
		needVolumes = needVolumes || m.Type == "volume"
	}
	if needVolumes && in.Volumes == nil {
		return nil, invalid("volumes requested but no volume store given")
	}

	// Capabilities.
	capList := capsFor(o.Privileged, capAdd, capDrop)

	// ---- from here on things are created; undo them on failure ----
	var undo []func()
	defer func() {
		if retErr != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	var rootDir *os.Root
	if in.RootfsPath != "" {
		if rootDir, err = os.OpenRoot(in.RootfsPath); err != nil {
			return nil, fmt.Errorf("rootfs %s: %w", in.RootfsPath, err)
		}
		defer rootDir.Close()
	}

	user, err := ResolveUser(in.RootfsPath, userArg, o.GroupAdd)
	if err != nil {
		return nil, err
	}

	if rootDir != nil && cwd != "/" {
		if err := rootDir.MkdirAll(strings.TrimPrefix(cwd, "/"), 0o755); err != nil {
			return nil, flagErr(FlagWorkdir, cwd, "cannot create the working directory: %v", err)
		}
	}

	var mounts []specs.Mount
	var vrefs []VolumeRef
	propOpt := func(p string) string {
		if p == "" {
			return "rprivate"
		}
		return p
	}
	makeVolume := func(name, dst string, labels map[string]string, anon, nocopy bool) (string, error) {
		v, created, err := in.Volumes.Ensure(ctx, name, labels)
		if err != nil {
			return "", err
		}
		if created {
			undo = append(undo, func() { in.Volumes.Remove(context.WithoutCancel(ctx), v.Name, true) })
			if !nocopy && rootDir != nil {
				if err := copyUp(rootDir, strings.TrimPrefix(dst, "/"), v.Mountpoint); err != nil {
					return "", fmt.Errorf("volume %s: copy image content at %s: %w", v.Name, dst, err)
				}
			}
		}
		vrefs = append(vrefs, VolumeRef{Name: v.Name, Destination: dst, Anonymous: anon})
		return v.Mountpoint, nil
	}
	anonLabels := func(extra map[string]string) map[string]string {
		l := map[string]string{LabelAnonymousVolume: "true"}
		for k, v := range extra {
			l[k] = v
		}
		return l
	}
	for _, m := range ums {
		switch {
		case m.tmpfs:
			opts := m.TmpfsOptions
			if m.flag == FlagMount {
				opts = withTmpfsDefaults(opts)
				if m.ReadOnly {
					opts = append(opts, "ro")
				}
			}
			mounts = append(mounts, specs.Mount{Destination: m.Destination, Type: "tmpfs", Source: "tmpfs", Options: append(slices.Clone(opts), "rprivate")})
		case m.Type == "bind":
			if m.CreateSource {
				if _, err := os.Lstat(m.Source); errors.Is(err, os.ErrNotExist) {
					top := firstMissing(m.Source)
					if err := os.MkdirAll(m.Source, 0o755); err != nil {
						return nil, flagErr(m.flag, m.value, "create bind source %s: %v", m.Source, err)
					}
					undo = append(undo, func() { os.RemoveAll(top) })
				}
			}
			opts := []string{"rbind"}
			if m.NonRecursive {
				opts = []string{"bind"}
			}
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			mounts = append(mounts, specs.Mount{Destination: m.Destination, Type: "bind", Source: m.Source, Options: append(opts, propOpt(m.Propagation))})
		default: // volume
			labels := m.Labels
			anon := m.Source == ""
			if anon {
				labels = anonLabels(labels)
			}
			src, err := makeVolume(m.Source, m.Destination, labels, anon, m.NoCopy)
			if err != nil {
				return nil, flagErr(m.flag, m.value, "%v", err)
			}
			opts := []string{"rbind"}
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			mounts = append(mounts, specs.Mount{Destination: m.Destination, Type: "bind", Source: src, Options: append(opts, "rprivate")})
		}
	}
	for _, d := range imgVols {
		src, err := makeVolume("", d, anonLabels(nil), true, false)
		if err != nil {
			return nil, fmt.Errorf("image volume %s: %w", d, err)
		}
		mounts = append(mounts, specs.Mount{Destination: d, Type: "bind", Source: src, Options: []string{"rbind", "rprivate"}})
	}
	// Parents before children, as Docker orders them.
	sort.SliceStable(mounts, func(i, j int) bool {
		return strings.Count(mounts[i].Destination, "/") < strings.Count(mounts[j].Destination, "/")
	})

	// ---- the spec ----
	s := &specs.Spec{
		Version:  version.RuntimeSpec,
		Root:     &specs.Root{Path: in.RootPath, Readonly: o.ReadOnly},
		Hostname: hostname,
		Process: &specs.Process{
			Terminal: o.Tty,
			User:     user.User,
			Args:     args,
			Env:      mergeEnv(img.Env, o.Env, hostname, o.Tty, user.Home),
			Cwd:      cwd,
			Capabilities: &specs.LinuxCapabilities{
				Bounding: slices.Clone(capList), Effective: slices.Clone(capList), Permitted: slices.Clone(capList),
			},
			NoNewPrivileges: so.NoNewPrivileges != nil && *so.NoNewPrivileges,
		},
		Annotations: map[string]string{},
	}
	if s.Root.Path == "" {
		s.Root.Path = in.RootfsPath
	}
	if user.UID != 0 {
		// Like Docker: a non-root user keeps the bounding set only and
		// gets no effective or permitted capabilities.
		s.Process.Capabilities.Effective = nil
		s.Process.Capabilities.Permitted = nil
	}
	if o.Domainname != "" {
		s.Domainname = o.Domainname
	}
	for _, u := range o.Ulimits {
		s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: ulimitNames[u.Name], Soft: rlimitValue(u.Soft), Hard: rlimitValue(u.Hard)})
	}
	sort.Slice(s.Process.Rlimits, func(i, j int) bool { return s.Process.Rlimits[i].Type < s.Process.Rlimits[j].Type })

	shm := o.ShmSize
	if shm == 0 {
		shm = defaultShmSize
	}
	sysRO := "ro"
	if o.Privileged {
		sysRO = "rw"
	}
	base := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", sysRO}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{sysRO, "nosuid", "noexec", "nodev"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + strconv.FormatInt(shm, 10)}},
	}
	for _, m := range base {
		if !dests[m.Destination] {
			s.Mounts = append(s.Mounts, m)
		}
	}
	s.Mounts = append(s.Mounts, mounts...)
	if in.EtcDir != "" {
		for _, f := range []string{EtcResolvConf, EtcHostname, EtcHosts} {
			dst := "/etc/" + f
			if dests[dst] {
				continue
			}
			opts := []string{"rbind"}
			if o.ReadOnly {
				opts = append(opts, "ro")
			}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: dst, Type: "bind", Source: filepath.Join(in.EtcDir, f), Options: append(opts, "rprivate")})
		}
	}

	// Linux.
	cg := in.CgroupsPath
	if cg == "" {
		cg = "/berth/" + in.ID
	}
	lx := &specs.Linux{
		CgroupsPath: cg,
		Resources:   &specs.LinuxResources{},
		Sysctl:      map[string]string{},
	}
	s.Linux = lx
	lx.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	if !hostNet {
		lx.Namespaces = append(lx.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: in.NetNSPath},
			specs.LinuxNamespace{Type: specs.UTSNamespace})
		lx.Sysctl["net.ipv4.ip_unprivileged_port_start"] = "0"
		lx.Sysctl["net.ipv4.ping_group_range"] = "0 2147483647"
	} else {
		s.Hostname = ""
	}
	lx.Namespaces = append(lx.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace}, specs.LinuxNamespace{Type: specs.IPCNamespace},
		specs.LinuxNamespace{Type: specs.CgroupNamespace})
	for k, v := range o.Sysctls {
		lx.Sysctl[k] = v
	}
	if len(lx.Sysctl) == 0 {
		lx.Sysctl = nil
	}

	r := lx.Resources
	if o.Privileged {
		r.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		devs, err := hostDevices(in.HostDevDir)
		if err != nil {
			return nil, fmt.Errorf("--privileged: %w", err)
		}
		lx.Devices = devs
	} else {
		c := func(maj, min int64) specs.LinuxDeviceCgroup {
			return specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &maj, Minor: &min, Access: "rwm"}
		}
		fuseMaj, fuseMin := int64(10), int64(229)
		r.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"},
			c(1, 5), c(1, 3), c(1, 9), c(1, 8), c(5, 0), c(5, 1),
			{Allow: false, Type: "c", Major: &fuseMaj, Minor: &fuseMin, Access: "rwm"}}
		if !so.SystemPathsUnconfined {
			lx.MaskedPaths = []string{"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"}
			lx.ReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
		}
	}
	if o.Memory > 0 || o.MemoryReservation > 0 || o.OomKillDisable {
		r.Memory = &specs.LinuxMemory{}
		if o.Memory > 0 {
			r.Memory.Limit = ptr(o.Memory)
			swap := o.MemorySwap
			if swap == 0 {
				swap = 2 * o.Memory // Docker: swap as large as memory
			}
			r.Memory.Swap = ptr(swap)
		}
		if o.MemoryReservation > 0 {
			r.Memory.Reservation = ptr(o.MemoryReservation)
		}
		if o.OomKillDisable {
			r.Memory.DisableOOMKiller = ptr(true)
		}
	}
	if o.NanoCPUs > 0 || o.CPUShares > 0 || o.CpusetCpus != "" || o.CpusetMems != "" {
		r.CPU = &specs.LinuxCPU{Cpus: o.CpusetCpus, Mems: o.CpusetMems}
		if o.NanoCPUs > 0 {
			period := uint64(100000)
			r.CPU.Period = &period
			r.CPU.Quota = ptr(o.NanoCPUs * int64(period) / 1e9)
		}
		if o.CPUShares > 0 {
			r.CPU.Shares = ptr(uint64(o.CPUShares))
		}
	}
	if o.PidsLimit > 0 {
		r.Pids = &specs.LinuxPids{Limit: ptr(o.PidsLimit)}
	}

	// Security.
	switch {
	case o.Privileged || so.SeccompUnconfined:
	case custom != nil:
		lx.Seccomp = custom
	default:
		lx.Seccomp = seccomp.DefaultProfileFor(capList)
	}

	// Annotations.
	if o.Name != "" {
		s.Annotations[AnnotationName] = o.Name
	}
	if in.ImageName != "" {
		s.Annotations[AnnotationImageName] = in.ImageName
	}
	if in.ImageDigest != "" {
		s.Annotations[AnnotationImageDigest] = in.ImageDigest
	}
	stopSig := o.StopSignal
	if stopSig == "" {
		stopSig = img.StopSignal
	}
	if stopSig != "" {
		if _, err := ParseSignal(stopSig); err == nil {
			s.Annotations[AnnotationStopSignal] = stopSig
		}
	}
	if o.StopTimeout != nil {
		s.Annotations[AnnotationStopTimeout] = strconv.Itoa(*o.StopTimeout)
	}
	if len(vrefs) > 0 {
		data, _ := json.Marshal(vrefs)
		s.Annotations[AnnotationVolumes] = string(data)
	}

	if o.Init {
		if err := WithInit(in.InitBinary)(s); err != nil {
			return nil, err
		}
	}
	for _, opt := range in.Extra {
		if err := opt(s); err != nil {
			return nil, err
		}
	}
	if in.RootfsPath != "" {
		// Check the result as berth-runtime will, against the real rootfs.
		// Namespace paths are left out: the daemon may make the network
		// namespace only when the task starts, and the runtime checks it then.
		check := *s
		check.Root = &specs.Root{Path: in.RootfsPath, Readonly: s.Root.Readonly}
		lx := *s.Linux
		lx.Namespaces = nil
		for _, ns := range s.Linux.Namespaces {
			lx.Namespaces = append(lx.Namespaces, specs.LinuxNamespace{Type: ns.Type})
		}
		check.Linux = &lx
		if err := rspec.Validate(&check, filepath.Dir(in.RootfsPath)); err != nil {
			return nil, fmt.Errorf("generated spec: %w", err)
		}
	}
	return s, nil
}

func ptr[T any](v T) *T { return &v }

// capsFor applies --privileged, --cap-add and --cap-drop to Docker's
// default set, with Docker's precedence: add ALL keeps everything not
// dropped; drop ALL keeps only what is added; otherwise drop, then add.
func capsFor(privileged bool, add, drop []string) []string {
	all := allCaps()
	if privileged {
		return all
	}
	in := func(list []string, c string) bool { return slices.Contains(list, c) }
	var out []string
	switch {
	case in(add, "ALL"):
		for _, c := range all {
			if !in(drop, c) {
				out = append(out, c)
			}
		}
	case in(drop, "ALL"):
		out = append(out, add...)
	default:
		for _, c := range DefaultCapabilities {
			if !in(drop, c) {
				out = append(out, c)
			}
		}
		for _, c := range add {
			if !in(out, c) {
				out = append(out, c)
			}
		}
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// PrivilegedExec gives a process exec'd into a container what docker's `exec
// --privileged` gives: every capability the running kernel knows, in the
// bounding, permitted and effective sets.
func PrivilegedExec(p *specs.Process) {
	all := allCaps()
	p.Capabilities = &specs.LinuxCapabilities{Bounding: all, Permitted: all, Effective: all}
}

// allCaps lists every capability the running kernel knows, by number.
func allCaps() []string {
	var out []string
	for n := 0; n <= caps.Last(); n++ {
		if name := caps.Name(n); name != "" {
			out = append(out, name)
		}
	}
	return out
}

// mergeEnv builds the process environment like Docker: PATH default and
// HOSTNAME first, TERM=xterm with a tty, then the image's variables, then
// the user's (a bare KEY removes it), and HOME from passwd if still unset.
func mergeEnv(image, user []string, hostname string, tty bool, home string) []string {
	var env []string
	idx := map[string]int{}
	set := func(kv string) {
		k, _, hasEq := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			if !hasEq {
				env[i] = ""
				delete(idx, k)
				return
			}
			env[i] = kv
			return
		}
		if !hasEq {
			return
		}
		idx[k] = len(env)
		env = append(env, kv)
	}
	set("PATH=" + DefaultPath)
	set("HOSTNAME=" + hostname)
	if tty {
		set("TERM=xterm")
	}
	for _, e := range image {
		set(e)
	}
	for _, e := range user {
		set(e)
	}
	if _, ok := idx["HOME"]; !ok && home != "" {
		set("HOME=" + home)
	}
	out := env[:0]
	for _, e := range env {
		if e != "" {
			out = append(out, e)
		}
	}
	return out
}

// MergeLabels returns the container's labels as Docker makes them: the
// image's labels, overridden by the user's.
func MergeLabels(image, user map[string]string) map[string]string {
	if len(image) == 0 && len(user) == 0 {
		return nil
	}
	out := make(map[string]string, len(image)+len(user))
	for k, v := range image {
		out[k] = v
	}
	for k, v := range user {
		out[k] = v
	}
	return out
}

// WithInit runs the process under a tiny init as PID 1: the binary at
// hostPath is bind-mounted read-only at /sbin/berth-init and the process
// becomes `/sbin/berth-init -- <args>`.
func WithInit(hostPath string) SpecOpt {
	return func(s *specs.Spec) error {
		if hostPath == "" || !filepath.IsAbs(hostPath) {
			return invalid("--init: init binary path %q must be absolute", hostPath)
		}
		st, err := os.Stat(hostPath)
		if err != nil || !st.Mode().IsRegular() {
			return invalid("--init: init binary %s: not a regular file", hostPath)
		}
		if s.Process == nil {
			return invalid("--init: spec has no process")
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: InitPath, Type: "bind", Source: hostPath, Options: []string{"bind", "ro", "rprivate"}})
		s.Process.Args = append([]string{InitPath, "--"}, s.Process.Args...)
		return nil
	}
}

// ParseSignal parses a stop signal: a name with or without SIG ("TERM",
// "SIGKILL") or a number.
func ParseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal: %s", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal: %s", s)
}

// firstMissing returns the top-most missing directory on the way to p.
func firstMissing(p string) string {
	top := p
	for d := p; d != "/" && d != "."; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		top = d
	}
	return top
}

// hostDevices lists the host's device nodes for --privileged (skipping
// pts, shm, mqueue and the console, as Docker does).
func hostDevices(dir string) ([]specs.LinuxDevice, error) {
	if dir == "" {
		dir = "/dev"
	}
	var out []specs.LinuxDevice
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil
		}
		if d.IsDir() {
			switch d.Name() {
			case "pts", "shm", "mqueue", "fd", ".lxc", ".lxd-mounts":
				if p != dir {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if d.Type()&os.ModeDevice == 0 || d.Name() == "console" {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return nil
		}
		typ := "c"
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFBLK:
			typ = "b"
		case unix.S_IFCHR:
		default:
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		mode := os.FileMode(st.Mode & 0o777)
		out = append(out, specs.LinuxDevice{Path: "/dev/" + rel, Type: typ, Major: int64(unix.Major(uint64(st.Rdev))),
			Minor: int64(unix.Minor(uint64(st.Rdev))), FileMode: &mode, UID: ptr(st.Uid), GID: ptr(st.Gid)})
		return nil
	})
	return out, err
}
