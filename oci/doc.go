// Package oci turns an image's config and a user's docker-like create
// options into the OCI runtime spec of a Berth container, with Docker's
// semantics: env merge, entrypoint/cmd resolution, users resolved in the
// container's own /etc/passwd and /etc/group, bind mounts, named and
// anonymous volumes, tmpfs, resource limits, capabilities, the default
// seccomp profile, masked paths and device rules, /etc/hosts, resolv.conf
// and hostname files, network namespace joining and an optional init as
// PID 1. It also holds the parser of every `berth run` option string
// (ParseMemory, ParseCPUs, ParseUlimit, ParseVolumeSpec, ParseMountSpec,
// ParseTmpfs, ParseEnvFile, ParseRestartPolicy, ParseSysctl,
// ParseCapabilities, ParseUser, ParseSecurityOpts), whose errors name the
// flag and the value the way docker's do, so the CLI can validate early
// and the daemon validates again.
//
// Typical use by berthd (after Prepare and mounting the rootfs):
//
//	etc := filepath.Join(containerDir, "etc")
//	oci.WriteEtcFiles(etc, oci.EtcOptions{Hostname: ..., HostNetwork: ...})
//	s, err := oci.Generate(ctx, oci.GenerateInput{ID: id, RootfsPath: rootfs,
//	        ImageConfig: cfg, Opts: opts, EtcDir: etc, NetNSPath: nsPath,
//	        Volumes: volumeStore, InitPath: cfg.InitBinary})
//	vols := oci.VolumesOf(s) // the named and anonymous volumes it uses
//
// Where Berth differs from dockerd 20.10 on purpose: the container gets a
// private cgroup namespace; HOME is put in the spec's env from passwd;
// /sys/devices/virtual/powercap is masked too; z and Z on -v are accepted
// and ignored (there is no SELinux here), while apparmor= and label=
// security options are refused; a seccomp= profile is a runtime-spec
// LinuxSeccomp document (Docker's own profile files read the same when
// they use no includes/excludes). As in Docker, a non-root --user keeps
// the bounding capability set only.
//
// Generate validates every option before it changes anything; the only
// things it writes are a missing working directory inside the rootfs and
// volumes it creates (which it removes again when it fails). It never
// mounts, starts processes, touches cgroups or network namespaces, and it
// does not know where images or containers are stored.
package oci
