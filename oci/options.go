package oci

// CreateOptions is everything a user asks of a container at create time
// (`berth run` / `berth create` flags and their API equivalents). Option
// strings are kept as the user wrote them (Volumes, Mounts, Tmpfs,
// SecurityOpt, Ports, ...) so `inspect` can show them and a restart can
// re-create the container; sizes and counts are kept parsed. Generate
// validates all of it again: the daemon never trusts the client's parse.
type CreateOptions struct {
	Name       string   `json:"name,omitempty"`
	Hostname   string   `json:"hostname,omitempty"`
	Domainname string   `json:"domainname,omitempty"`
	Env        []string `json:"env,omitempty"` // KEY=VALUE; a bare KEY unsets it
	Entrypoint []string `json:"entrypoint,omitempty"`
	// EntrypointSet tells `--entrypoint ""` (clear the image's entrypoint and
	// ignore its cmd) from no --entrypoint at all.
	EntrypointSet bool              `json:"entrypointSet,omitempty"`
	Cmd           []string          `json:"cmd,omitempty"`
	User          string            `json:"user,omitempty"` // uid, uid:gid, name, name:group
	GroupAdd      []string          `json:"groupAdd,omitempty"`
	WorkingDir    string            `json:"workingDir,omitempty"`
	Tty           bool              `json:"tty,omitempty"`
	OpenStdin     bool              `json:"openStdin,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`

	Volumes  []string `json:"volumes,omitempty"` // -v [src:]dst[:opts]
	Mounts   []string `json:"mounts,omitempty"`  // --mount type=...,src=...,dst=...
	Tmpfs    []string `json:"tmpfs,omitempty"`   // --tmpfs /dst[:opts]
	ReadOnly bool     `json:"readOnly,omitempty"`

	// Resources (0 = unset).
	Memory            int64  `json:"memory,omitempty"`            // bytes
	MemorySwap        int64  `json:"memorySwap,omitempty"`        // bytes, memory+swap; -1 unlimited
	MemoryReservation int64  `json:"memoryReservation,omitempty"` // bytes
	NanoCPUs          int64  `json:"nanoCPUs,omitempty"`          // --cpus × 1e9
	CPUShares         int64  `json:"cpuShares,omitempty"`
	CpusetCpus        string `json:"cpusetCpus,omitempty"`
	CpusetMems        string `json:"cpusetMems,omitempty"`
	PidsLimit         int64  `json:"pidsLimit,omitempty"` // <= 0: unlimited
	OomKillDisable    bool   `json:"oomKillDisable,omitempty"`
	ShmSize           int64  `json:"shmSize,omitempty"` // bytes; default 64 MiB

	Ulimits     []Ulimit          `json:"ulimits,omitempty"`
	Sysctls     map[string]string `json:"sysctls,omitempty"`
	CapAdd      []string          `json:"capAdd,omitempty"`
	CapDrop     []string          `json:"capDrop,omitempty"`
	Privileged  bool              `json:"privileged,omitempty"`
	SecurityOpt []string          `json:"securityOpt,omitempty"`
	Init        bool              `json:"init,omitempty"`

	NetworkMode string   `json:"networkMode,omitempty"` // "", bridge, none, host, NAME, container:ID
	Ports       []string `json:"ports,omitempty"`       // -p specs, for the daemon's network setup
	DNS         []string `json:"dns,omitempty"`
	DNSSearch   []string `json:"dnsSearch,omitempty"`
	DNSOptions  []string `json:"dnsOptions,omitempty"`
	ExtraHosts  []string `json:"extraHosts,omitempty"` // --add-host name:ip

	StopSignal    string        `json:"stopSignal,omitempty"`
	StopTimeout   *int          `json:"stopTimeout,omitempty"` // seconds
	RestartPolicy RestartPolicy `json:"restartPolicy"`
	AutoRemove    bool          `json:"autoRemove,omitempty"` // --rm
	Runtime       string        `json:"runtime,omitempty"`    // runtime handler name
}

// Ulimit is one --ulimit: an RLIMIT_* by its docker name ("nofile"), with
// soft and hard values (-1 = unlimited).
type Ulimit struct {
	Name string `json:"name"`
	Soft int64  `json:"soft"`
	Hard int64  `json:"hard"`
}

// RestartPolicy is --restart: Name is "no", "on-failure", "always" or
// "unless-stopped"; MaxRetries only goes with on-failure (0 = unlimited).
type RestartPolicy struct {
	Name       string `json:"name"`
	MaxRetries int    `json:"maxRetries,omitempty"`
}

// Restart policy names.
const (
	RestartNo            = "no"
	RestartOnFailure     = "on-failure"
	RestartAlways        = "always"
	RestartUnlessStopped = "unless-stopped"
)

// Annotations Generate puts on the spec.
const (
	AnnotationName        = "berth.io/container.name"
	AnnotationImageName   = "berth.io/image.name"
	AnnotationImageDigest = "berth.io/image.digest"
	AnnotationStopSignal  = "berth.io/stop-signal"
	AnnotationStopTimeout = "berth.io/stop-timeout"
	// AnnotationVolumes is the JSON list of volumes the container uses
	// ([]VolumeRef); read it with VolumesOf.
	AnnotationVolumes = "berth.io/volumes"
)

// LabelAnonymousVolume marks a volume Generate made for an image VOLUME
// (or a `-v /path` without a source); `rm -v` removes those.
const LabelAnonymousVolume = "berth.io/volume.anonymous"
