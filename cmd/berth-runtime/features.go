package main

import (
	"encoding/json"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/berth-containers/berth/runtime/caps"
	"github.com/berth-containers/berth/runtime/seccomp"
)

// mountOptions are the mounts[].options berth-runtime understands.
var mountOptions = []string{
	"async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "idmap", "iversion",
	"lazytime", "loud", "mand", "noatime", "nodev", "nodiratime", "noexec", "noiversion", "nolazytime",
	"nomand", "norelatime", "nostrictatime", "nosuid", "nosymfollow", "private", "ratime", "rbind",
	"rdev", "rdiratime", "relatime", "remount", "rexec", "rnoatime", "rnodev", "rnodiratime", "rnoexec",
	"rnorelatime", "rnostrictatime", "rnosuid", "rnosymfollow", "ro", "rprivate", "rrelatime", "rro",
	"rrw", "rshared", "rslave", "rstrictatime", "rsuid", "rsymfollow", "runbindable", "rw", "shared",
	"silent", "slave", "strictatime", "suid", "symfollow", "sync", "unbindable",
}

func cmdFeatures(g *globals, args []string) (int, error) {
	fs := newFlags("features")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 1, err
	}
	if err := needArgs("features", pos, 0, 0, ""); err != nil {
		return 1, err
	}
	t, f := true, false
	_, apparmorErr := os.Stat("/sys/kernel/security/apparmor")
	_ = apparmorErr
	doc := features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions:  mountOptions,
		Linux: &features.Linux{
			Namespaces:   []string{"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"},
			Capabilities: caps.Known(),
			Cgroup:       &features.Cgroup{V1: &t, V2: &t, Systemd: &f, SystemdUser: &f, Rdma: &t},
			Seccomp: &features.Seccomp{
				Enabled:        &t,
				Actions:        seccomp.KnownActions(),
				Operators:      seccomp.KnownOperators(),
				Archs:          seccomp.KnownArchs(),
				KnownFlags:     seccomp.KnownFlags(),
				SupportedFlags: seccomp.KnownFlags(),
			},
			Apparmor:        &features.Apparmor{Enabled: &f},
			Selinux:         &features.Selinux{Enabled: &f},
			IntelRdt:        &features.IntelRdt{Enabled: &f},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &t}},
		},
		Annotations: map[string]string{
			"io.github.berth-containers.berth.version": versionString(),
		},
	}
	b, err := json.MarshalIndent(doc, "", "    ")
	if err != nil {
		return 1, err
	}
	os.Stdout.Write(append(b, '\n'))
	return 0, nil
}
