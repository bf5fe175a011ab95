package spec

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/version"
)

// DefaultCaps is the capability set a default container keeps: the same
// short list that Docker, runc and containerd have used for years.
var DefaultCaps = []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}

// Default returns the configuration `berth-runtime spec` writes: a shell in a
// busybox-like rootfs named "rootfs", with the namespaces, mounts, masked paths
// and capabilities a safe default container has. With rootless set, it adds a
// user namespace mapping the caller's uid/gid to root and drops what an
// unprivileged user cannot set up.
func Default(rootless bool, uid, gid uint32) *specs.Spec {
	s := &specs.Spec{
		Version: version.RuntimeSpec,
		Root:    &specs.Root{Path: "rootfs", Readonly: true},
		Process: &specs.Process{
			Terminal: true,
			User:     specs.User{UID: 0, GID: 0},
			Args:     []string{"sh"},
			Env:      []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"},
			Cwd:      "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  append([]string(nil), DefaultCaps...),
				Effective: append([]string(nil), DefaultCaps...),
				Permitted: append([]string(nil), DefaultCaps...),
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Hostname: "berth",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &specs.Linux{
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.NetworkNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
				{Type: specs.CgroupNamespace},
			},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
				"/proc/scsi", "/sys/devices/virtual/powercap",
			},
			ReadonlyPaths: []string{
				"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
			},
		},
	}
	if rootless {
		s.Linux.Resources = nil
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: uid, ContainerID: 0, Size: 1}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{HostID: gid, ContainerID: 0, Size: 1}}
		s.Linux.Namespaces = []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
			{Type: specs.MountNamespace}, {Type: specs.CgroupNamespace}, {Type: specs.UserNamespace},
		}
		// Without real root, sysfs cannot be mounted in a new network namespace we do
		// not own, and devpts cannot take gid=5: bind the host's sysfs, drop the gid.
		for i, m := range s.Mounts {
			switch m.Destination {
			case "/sys":
				s.Mounts[i] = specs.Mount{Destination: "/sys", Type: "none", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
			case "/dev/pts":
				s.Mounts[i].Options = []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}
			}
		}
		var ms []specs.Mount
		for _, m := range s.Mounts {
			if m.Destination != "/sys/fs/cgroup" {
				ms = append(ms, m)
			}
		}
		s.Mounts = ms
	}
	return s
}
