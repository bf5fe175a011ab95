package initproc

import (
	"encoding/json"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The configuration reaches init as JSON. Decoding into specs.Spec makes
// encoding/json build codecs for the whole runtime-spec type tree (cgroup
// resources, Intel RDT, Windows, VMs, ...) on every container start, a cost
// larger than the decoding itself. Init decodes into wireSpec instead: the
// parts of the configuration that init acts on. Cgroup resources, Intel RDT,
// network devices and memory policy are the parent's business and the other
// platforms are refused at validation; TestWireSpecCoversSpec keeps this list
// in step with runtime-spec.

type wireSpec struct {
	Version     string            `json:"ociVersion"`
	Process     *specs.Process    `json:"process,omitempty"`
	Root        *specs.Root       `json:"root,omitempty"`
	Hostname    string            `json:"hostname,omitempty"`
	Domainname  string            `json:"domainname,omitempty"`
	Mounts      []specs.Mount     `json:"mounts,omitempty"`
	Hooks       *specs.Hooks      `json:"hooks,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Linux       *wireLinux        `json:"linux,omitempty"`
}

type wireLinux struct {
	UIDMappings       []specs.LinuxIDMapping           `json:"uidMappings,omitempty"`
	GIDMappings       []specs.LinuxIDMapping           `json:"gidMappings,omitempty"`
	Sysctl            map[string]string                `json:"sysctl,omitempty"`
	CgroupsPath       string                           `json:"cgroupsPath,omitempty"`
	Namespaces        []specs.LinuxNamespace           `json:"namespaces,omitempty"`
	Devices           []specs.LinuxDevice              `json:"devices,omitempty"`
	Seccomp           *specs.LinuxSeccomp              `json:"seccomp,omitempty"`
	RootfsPropagation string                           `json:"rootfsPropagation,omitempty"`
	MaskedPaths       []string                         `json:"maskedPaths,omitempty"`
	ReadonlyPaths     []string                         `json:"readonlyPaths,omitempty"`
	MountLabel        string                           `json:"mountLabel,omitempty"`
	Personality       *specs.LinuxPersonality          `json:"personality,omitempty"`
	TimeOffsets       map[string]specs.LinuxTimeOffset `json:"timeOffsets,omitempty"`
}

// parentOnly are the fields of specs.Spec and specs.Linux that init never
// receives.
var parentOnly = map[string]bool{
	"Spec.Solaris": true, "Spec.Windows": true, "Spec.VM": true, "Spec.ZOS": true, "Spec.FreeBSD": true,
	"Linux.Resources": true, "Linux.IntelRdt": true, "Linux.NetDevices": true, "Linux.MemoryPolicy": true,
}

func toWire(s *specs.Spec) *wireSpec {
	if s == nil {
		return nil
	}
	w := &wireSpec{
		Version: s.Version, Process: s.Process, Root: s.Root, Hostname: s.Hostname, Domainname: s.Domainname,
		Mounts: s.Mounts, Hooks: s.Hooks, Annotations: s.Annotations,
	}
	if l := s.Linux; l != nil {
		w.Linux = &wireLinux{
			UIDMappings: l.UIDMappings, GIDMappings: l.GIDMappings, Sysctl: l.Sysctl, CgroupsPath: l.CgroupsPath,
			Namespaces: l.Namespaces, Devices: l.Devices, Seccomp: l.Seccomp, RootfsPropagation: l.RootfsPropagation,
			MaskedPaths: l.MaskedPaths, ReadonlyPaths: l.ReadonlyPaths, MountLabel: l.MountLabel,
			Personality: l.Personality, TimeOffsets: l.TimeOffsets,
		}
	}
	return w
}

func (w *wireSpec) spec() *specs.Spec {
	if w == nil {
		return nil
	}
	s := &specs.Spec{
		Version: w.Version, Process: w.Process, Root: w.Root, Hostname: w.Hostname, Domainname: w.Domainname,
		Mounts: w.Mounts, Hooks: w.Hooks, Annotations: w.Annotations,
	}
	if l := w.Linux; l != nil {
		s.Linux = &specs.Linux{
			UIDMappings: l.UIDMappings, GIDMappings: l.GIDMappings, Sysctl: l.Sysctl, CgroupsPath: l.CgroupsPath,
			Namespaces: l.Namespaces, Devices: l.Devices, Seccomp: l.Seccomp, RootfsPropagation: l.RootfsPropagation,
			MaskedPaths: l.MaskedPaths, ReadonlyPaths: l.ReadonlyPaths, MountLabel: l.MountLabel,
			Personality: l.Personality, TimeOffsets: l.TimeOffsets,
		}
	}
	return s
}

// plainConfig is Config without its JSON methods.
type plainConfig Config

// MarshalJSON sends the configuration as wireSpec.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		plainConfig
		Spec *wireSpec `json:"spec"`
	}{plainConfig(c), toWire(c.Spec)})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (c *Config) UnmarshalJSON(b []byte) error {
	var w struct {
		plainConfig
		Spec *wireSpec `json:"spec"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = Config(w.plainConfig)
	c.Spec = w.Spec.spec()
	return nil
}
