package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
)

func validBundle(t *testing.T) (string, *specs.Spec) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := Default(false, 0, 0)
	s.Process.Terminal = false
	return dir, s
}

func intp(i int) *int { return &i }

func TestValidate(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(s *specs.Spec)
		field string // "" = valid
	}{
		{"default", func(s *specs.Spec) {}, ""},
		{"no version", func(s *specs.Spec) { s.Version = "" }, "ociVersion: missing"},
		{"version 2", func(s *specs.Spec) { s.Version = "2.0.0" }, "ociVersion"},
		{"version junk", func(s *specs.Spec) { s.Version = "1.x" }, "ociVersion"},
		{"version dev", func(s *specs.Spec) { s.Version = "1.0.2-dev" }, ""},
		{"no root", func(s *specs.Spec) { s.Root = nil }, "root: missing"},
		{"absent rootfs", func(s *specs.Spec) { s.Root.Path = "nope" }, "root.path"},
		{"rootfs is file", func(s *specs.Spec) { s.Root.Path = "config.json" }, "root.path"},
		{"no process", func(s *specs.Spec) { s.Process = nil }, "process: missing"},
		{"no args", func(s *specs.Spec) { s.Process.Args = nil }, "process.args"},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "tmp" }, "process.cwd"},
		{"bad env", func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "NOVALUE") }, "process.env[2]"},
		{"empty env key", func(s *specs.Spec) { s.Process.Env = []string{"=x"} }, "process.env[0]"},
		{"hostname too long", func(s *specs.Spec) { s.Hostname = strings.Repeat("h", 65) }, "hostname"},
		{"umask", func(s *specs.Spec) { m := uint32(0o1000); s.Process.User.Umask = &m }, "process.user.umask"},
		{"unknown cap", func(s *specs.Spec) { s.Process.Capabilities.Bounding = []string{"CAP_BOGUS"} }, "process.capabilities"},
		{"unknown rlimit", func(s *specs.Spec) { s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_BOGUS"}} }, "process.rlimits[0].type"},
		{"soft above hard", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 5}}
		}, "process.rlimits[0]"},
		{"oom range", func(s *specs.Spec) { s.Process.OOMScoreAdj = intp(1001) }, "process.oomScoreAdj"},
		{"sched policy", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: "SCHED_BOGUS"} }, "process.scheduler.policy"},
		{"sched fifo prio", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedFIFO} }, "process.scheduler.priority"},
		{"sched ok", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch, Nice: 5} }, ""},
		{"ioprio class", func(s *specs.Spec) { s.Process.IOPriority = &specs.LinuxIOPriority{Class: "X"} }, "process.ioPriority.class"},
		{"ioprio prio", func(s *specs.Spec) {
			s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 8}
		}, "process.ioPriority.priority"},
		{"apparmor", func(s *specs.Spec) { s.Process.ApparmorProfile = "docker-default" }, "process.apparmorProfile"},
		{"selinux", func(s *specs.Spec) { s.Process.SelinuxLabel = "system_u:system_r:container_t:s0" }, "process.selinuxLabel"},
		{"no linux", func(s *specs.Spec) { s.Linux = nil }, "linux: missing"},
		{"unknown ns", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
		}, "linux.namespaces[6].type"},
		{"dup ns", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "pid"})
		}, "linux.namespaces[6].type"},
		{"relative ns path", func(s *specs.Spec) { s.Linux.Namespaces[0].Path = "proc/1/ns/pid" }, "linux.namespaces[0].path"},
		{"ns path wrong type", func(s *specs.Spec) { s.Linux.Namespaces[0].Path = "/proc/self/ns/net" }, "linux.namespaces[0].path"},
		{"ns path not nsfs", func(s *specs.Spec) { s.Linux.Namespaces[0].Path = "/etc/passwd" }, "linux.namespaces[0].path"},
		{"ns path absent", func(s *specs.Spec) { s.Linux.Namespaces[0].Path = "/nonexistent/ns" }, "linux.namespaces[0].path"},
		{"ns path ok", func(s *specs.Spec) { s.Linux.Namespaces[0].Path = "/proc/self/ns/pid" }, ""},
		{"no mount ns", func(s *specs.Spec) { s.Linux.Namespaces = []specs.LinuxNamespace{{Type: "pid"}}; s.Hostname = "" }, ""},
		{"mountLabel without SELinux ignored", func(s *specs.Spec) { s.Linux.MountLabel = "system_u:object_r:container_file_t:s0" }, ""},
		{"hostname no uts", func(s *specs.Spec) { s.Linux.Namespaces = []specs.LinuxNamespace{{Type: "mount"}} }, "hostname"},
		{"domainname no uts", func(s *specs.Spec) {
			s.Hostname = ""
			s.Domainname = "x"
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: "mount"}}
		}, "domainname"},
		{"mappings no userns", func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
		}, "linux.uidMappings"},
		{"userns no mappings", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
		}, "linux.uidMappings"},
		{"mapping size 0", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 2000, Size: 0}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
		}, "linux.uidMappings[1]: size must be > 0"},
		{"mapping overlap", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 10}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 10}, {ContainerID: 5, HostID: 5000, Size: 10}}
		}, "linux.gidMappings[1]"},
		{"mapping overflow", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 4294967295, Size: 10}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 10}}
		}, "linux.uidMappings[0]"},
		{"userns ok", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		}, ""},
		{"user not mapped", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1000}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1000}}
			s.Process.User.UID = 1000
		}, "process.user.uid"},
		{"additional gid not mapped", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1000}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1000}}
			s.Process.User.AdditionalGids = []uint32{5, 5000}
		}, "process.user.additionalGids[1]"},
		{"root is /", func(s *specs.Spec) { s.Root.Path = "/" }, "root.path"},
		{"time offsets no timens", func(s *specs.Spec) {
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 10}}
		}, "linux.timeOffsets"},
		{"time offsets bad clock", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "time"})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"realtime": {Secs: 10}}
		}, `linux.timeOffsets["realtime"]`},
		{"sysctl net no netns", func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: "mount"}, {Type: "uts"}}
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, `linux.sysctl["net.ipv4.ip_forward"]`},
		{"sysctl ipc no ipcns", func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: "mount"}, {Type: "uts"}}
			s.Linux.Sysctl = map[string]string{"kernel.shmmax": "1"}
		}, `linux.sysctl["kernel.shmmax"]`},
		{"sysctl host-wide", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.panic": "1"} }, `linux.sysctl["kernel.panic"]`},
		{"sysctl dotdot", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net.ipv4.././x": "1"} }, `linux.sysctl`},
		{"sysctl ok", func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "fs.mqueue.msg_max": "10", "kernel.shmmni": "10", "net.ipv4.conf.eth0/100.rp_filter": "1"}
		}, ""},
		{"device type", func(s *specs.Spec) { s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "z"}} }, "linux.devices[0].type"},
		{"device relative", func(s *specs.Spec) { s.Linux.Devices = []specs.LinuxDevice{{Path: "dev/x", Type: "c"}} }, "linux.devices[0].path"},
		{"device fifo major ignored", func(s *specs.Spec) { s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/f", Type: "p", Major: 1}} }, ""},
		{"device dup", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/a", Type: "c", Major: 1, Minor: 3}, {Path: "/dev/./a", Type: "c", Major: 1, Minor: 3}}
		}, "linux.devices[1].path"},
		{"cgroupsPath dotdot", func(s *specs.Spec) { s.Linux.CgroupsPath = "/a/../../b" }, "linux.cgroupsPath"},
		{"cgroupsPath systemd", func(s *specs.Spec) { s.Linux.CgroupsPath = "system.slice:berth:abc" }, ""},
		{"propagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "weird" }, "linux.rootfsPropagation"},
		{"masked relative", func(s *specs.Spec) { s.Linux.MaskedPaths = []string{"proc/kcore"} }, "linux.maskedPaths[0]"},
		{"readonly relative", func(s *specs.Spec) { s.Linux.ReadonlyPaths = []string{"proc"} }, "linux.readonlyPaths[0]"},
		{"seccomp action", func(s *specs.Spec) { s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_NOPE"} }, "linux.seccomp.defaultAction"},
		{"seccomp arch", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_Z80"}}
		}, "linux.seccomp.architectures[0]"},
		{"seccomp op", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_XX"}}}}}
		}, "linux.seccomp.syscalls[0].args[0].op"},
		{"seccomp notify no listener", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActNotify}}}
		}, "linux.seccomp.listenerPath"},
		{"personality", func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: "LINUX64"} }, "linux.personality.domain"},
		{"intelRdt", func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "x"} }, "linux.intelRdt"},
		{"mount no destination", func(s *specs.Spec) { s.Mounts = append(s.Mounts, specs.Mount{Type: "tmpfs", Source: "tmpfs"}) }, "mounts[7].destination"},
		{"bind no source", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Options: []string{"rbind"}})
		}, "mounts[7].source"},
		{"mount no type", func(s *specs.Spec) { s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Source: "x"}) }, "mounts[7].type"},
		{"relative destination ok", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "x", Type: "tmpfs", Source: "tmpfs"})
		}, ""},
		{"mount over root", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/", Type: "tmpfs", Source: "tmpfs"})
		}, "mounts[7].destination"},
		{"idmap no mappings no userns", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Source: "/tmp", Type: "bind", Options: []string{"rbind", "idmap"}})
		}, "mounts[7].options"},
		{"idmap uid only", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Source: "/tmp", Type: "bind", Options: []string{"bind"}, UIDMappings: []specs.LinuxIDMapping{{Size: 1}}})
		}, "mounts[7]"},
		{"idmap tmpfs", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Source: "tmpfs", Type: "tmpfs", Options: []string{"idmap"}, UIDMappings: []specs.LinuxIDMapping{{Size: 1}}, GIDMappings: []specs.LinuxIDMapping{{Size: 1}}})
		}, "mounts[7]"},
		{"idmap ok", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Source: "/tmp", Type: "bind", Options: []string{"bind", "idmap"}, UIDMappings: []specs.LinuxIDMapping{{HostID: 1000, Size: 1}}, GIDMappings: []specs.LinuxIDMapping{{HostID: 1000, Size: 1}}})
		}, ""},
		{"hook relative", func(s *specs.Spec) { s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "bin/true"}}} }, "hooks.poststop[0].path"},
		{"hook timeout", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/true", Timeout: intp(0)}}}
		}, "hooks.createRuntime[0].timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, s := validBundle(t)
			if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}"), 0o644); err != nil {
				t.Fatal(err)
			}
			c.edit(s)
			err := Validate(s, dir)
			if c.field == "" {
				if err != nil {
					t.Fatalf("valid spec rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want error naming %q", c.field)
			}
			if !strings.HasPrefix(err.Error(), c.field) {
				t.Errorf("error %q does not start with the field %q", err, c.field)
			}
			if !errdefs.IsInvalidArgument(err) && !errdefs.IsFailedPrecondition(err) {
				t.Errorf("error has no kind: %v", err)
			}
		})
	}
}

func TestSysctlPath(t *testing.T) {
	for key, want := range map[string]string{
		"net.ipv4.ip_forward":              "/proc/sys/net/ipv4/ip_forward",
		"net.ipv4.conf.eth0/100.rp_filter": "/proc/sys/net/ipv4/conf/eth0.100/rp_filter",
		"net/ipv4/ip_forward":              "/proc/sys/net/ipv4/ip_forward",
	} {
		got, err := SysctlPath(key)
		if err != nil || got != want {
			t.Errorf("SysctlPath(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
	for _, key := range []string{"", "net..x", "net.ipv4/../../x", "../etc", "net.ipv4.ip_forward.", "a\x00b"} {
		if p, err := SysctlPath(key); err == nil {
			t.Errorf("SysctlPath(%q) = %q, want error", key, p)
		}
	}
}

func TestParseMountOptions(t *testing.T) {
	o := ParseMountOptions([]string{"rbind", "ro", "nosuid", "rw", "rslave", "rro", "idmap", "mode=755", "size=1m", "noexec", "exec"})
	if !o.Bind || !o.Recursive || !o.IDMap || o.RecursiveIDMap {
		t.Errorf("bind/idmap: %+v", o)
	}
	if o.Flags != 0x2 /* MS_NOSUID */ {
		t.Errorf("flags %#x: rw must cancel ro, exec cancel noexec", o.Flags)
	}
	if len(o.Propagation) != 1 || o.DataString() != "mode=755,size=1m" {
		t.Errorf("propagation %v data %q", o.Propagation, o.DataString())
	}
	if o.RecAttrSet != 1 /* MOUNT_ATTR_RDONLY */ {
		t.Errorf("rro: %#x", o.RecAttrSet)
	}
}

func FuzzSysctlPath(f *testing.F) {
	for _, k := range []string{"net.ipv4.ip_forward", "net.ipv4.conf.eth0/100.rp_filter", "net/ipv4/ip_forward", "../x", "a..b"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		p, err := SysctlPath(key)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, "/proc/sys/") || filepath.Clean(p) != p || strings.Contains(p, "\x00") {
			t.Fatalf("SysctlPath(%q) = %q escapes or is not clean", key, p)
		}
	})
}

func FuzzParseMountOptions(f *testing.F) {
	f.Add("rbind,ro,nosuid,rslave,rro,idmap,mode=755")
	f.Add("bind,,remount,tmpcopyup,ridmap,rnoatime")
	f.Fuzz(func(t *testing.T, opts string) {
		o := ParseMountOptions(strings.Split(opts, ","))
		if o.Flags&o.ClearFlags != 0 {
			t.Fatalf("flag both set and cleared: %#x %#x", o.Flags, o.ClearFlags)
		}
		if o.RecAttrSet&o.RecAttrClr != 0 {
			t.Fatalf("attr both set and cleared")
		}
		if o.RecursiveIDMap && !o.IDMap {
			t.Fatal("ridmap without idmap")
		}
	})
}
