package oci

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/volume"
)

const testID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// fakeRootfs makes a tiny rootfs with passwd, group and an image volume dir.
func fakeRootfs(t *testing.T) string {
	t.Helper()
	r := t.TempDir()
	os.MkdirAll(filepath.Join(r, "etc"), 0o755)
	os.WriteFile(filepath.Join(r, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n"), 0o644)
	os.WriteFile(filepath.Join(r, "etc/group"), []byte("root:x:0:\nwheel:x:10:app,root\napp:x:1000:\nstaff:x:50:\n"), 0o644)
	os.MkdirAll(filepath.Join(r, "data/sub"), 0o750)
	os.WriteFile(filepath.Join(r, "data/sub/file"), []byte("image content"), 0o640)
	os.Symlink("sub/file", filepath.Join(r, "data/link"))
	return r
}

func gen(t *testing.T, in GenerateInput) *specs.Spec {
	t.Helper()
	if in.ID == "" {
		in.ID = testID
	}
	s, err := Generate(context.Background(), in)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return s
}

func env(s *specs.Spec, k string) (string, bool) {
	for _, e := range s.Process.Env {
		if kk, v, _ := strings.Cut(e, "="); kk == k {
			return v, true
		}
	}
	return "", false
}

func mountAt(s *specs.Spec, dst string) *specs.Mount {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dst {
			return &s.Mounts[i]
		}
	}
	return nil
}

func TestGenerateDefaults(t *testing.T) {
	rootfs := fakeRootfs(t)
	s := gen(t, GenerateInput{RootfsPath: rootfs, ImageName: "busybox:latest", ImageDigest: "sha256:abc",
		ImageConfig: ocispec.ImageConfig{Cmd: []string{"sh"}, Env: []string{"PATH=/img/bin", "FOO=img"}},
		Opts:        CreateOptions{Name: "web", Env: []string{"FOO=user", "BAR=1"}}})
	if strings.Join(s.Process.Args, " ") != "sh" || s.Process.Cwd != "/" || s.Process.Terminal {
		t.Errorf("process: %+v", s.Process)
	}
	if v, _ := env(s, "PATH"); v != "/img/bin" {
		t.Errorf("PATH %q", v)
	}
	if v, _ := env(s, "FOO"); v != "user" {
		t.Errorf("FOO %q", v)
	}
	if v, _ := env(s, "HOSTNAME"); v != testID[:12] || s.Hostname != testID[:12] {
		t.Errorf("hostname %q %q", v, s.Hostname)
	}
	if v, _ := env(s, "HOME"); v != "/root" {
		t.Errorf("HOME %q", v)
	}
	if !slices.Equal(s.Process.Capabilities.Bounding, DefaultCapabilities) {
		t.Errorf("caps %v", s.Process.Capabilities.Bounding)
	}
	if s.Linux.Seccomp == nil || len(s.Linux.MaskedPaths) == 0 || len(s.Linux.ReadonlyPaths) == 0 {
		t.Errorf("seccomp/masked paths missing")
	}
	if s.Process.User.UID != 0 || !slices.Equal(s.Process.User.AdditionalGids, []uint32{0, 10}) {
		t.Errorf("user %+v", s.Process.User)
	}
	if s.Annotations[AnnotationName] != "web" || s.Annotations[AnnotationImageName] != "busybox:latest" {
		t.Errorf("annotations %v", s.Annotations)
	}
	if s.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] != "0" {
		t.Errorf("sysctl %v", s.Linux.Sysctl)
	}
	if m := mountAt(s, "/dev/shm"); m == nil || !slices.Contains(m.Options, "size=67108864") {
		t.Errorf("/dev/shm %+v", m)
	}
	if m := mountAt(s, "/sys"); m == nil || !slices.Contains(m.Options, "ro") {
		t.Errorf("/sys %+v", m)
	}
	var hasNet bool
	for _, ns := range s.Linux.Namespaces {
		hasNet = hasNet || ns.Type == specs.NetworkNamespace
	}
	if !hasNet {
		t.Error("no network namespace")
	}
}

func TestGenerateEntrypointCmd(t *testing.T) {
	img := ocispec.ImageConfig{Entrypoint: []string{"/entry"}, Cmd: []string{"default"}}
	for _, c := range []struct {
		opts CreateOptions
		want string
	}{
		{CreateOptions{}, "/entry default"},
		{CreateOptions{Cmd: []string{"x", "y"}}, "/entry x y"},
		{CreateOptions{Entrypoint: []string{"/other"}}, "/other"},
		{CreateOptions{Entrypoint: []string{"/other"}, Cmd: []string{"a"}}, "/other a"},
		{CreateOptions{EntrypointSet: true, Entrypoint: []string{""}, Cmd: []string{"ls"}}, "ls"},
	} {
		s := gen(t, GenerateInput{ImageConfig: img, Opts: c.opts})
		if got := strings.Join(s.Process.Args, " "); got != c.want {
			t.Errorf("%+v: args %q, want %q", c.opts, got, c.want)
		}
	}
	_, err := Generate(context.Background(), GenerateInput{ID: testID, ImageConfig: img, Opts: CreateOptions{EntrypointSet: true, Entrypoint: []string{""}}})
	wantErr(t, err, "no command specified")
}

func TestGenerateUser(t *testing.T) {
	rootfs := fakeRootfs(t)
	cfg := ocispec.ImageConfig{Cmd: []string{"id"}}
	for user, want := range map[string]specs.User{
		"app":       {UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 10}},
		"1000":      {UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 10}},
		"1000:50":   {UID: 1000, GID: 50, AdditionalGids: []uint32{50}},
		"app:staff": {UID: 1000, GID: 50, AdditionalGids: []uint32{50}},
		"4242":      {UID: 4242, GID: 0, AdditionalGids: []uint32{0}},
		"4242:4243": {UID: 4242, GID: 4243, AdditionalGids: []uint32{4243}},
	} {
		s := gen(t, GenerateInput{RootfsPath: rootfs, ImageConfig: cfg, Opts: CreateOptions{User: user}})
		got := s.Process.User
		if got.UID != want.UID || got.GID != want.GID || !slices.Equal(got.AdditionalGids, want.AdditionalGids) {
			t.Errorf("user %q: %+v, want %+v", user, got, want)
		}
	}
	// The image's USER applies unless --user overrides it.
	s := gen(t, GenerateInput{RootfsPath: rootfs, ImageConfig: ocispec.ImageConfig{Cmd: []string{"id"}, User: "app"}})
	if s.Process.User.UID != 1000 {
		t.Errorf("image user: %+v", s.Process.User)
	}
	s = gen(t, GenerateInput{RootfsPath: rootfs, ImageConfig: ocispec.ImageConfig{Cmd: []string{"id"}, User: "app"}, Opts: CreateOptions{User: "0"}})
	if s.Process.User.UID != 0 {
		t.Errorf("--user over image user: %+v", s.Process.User)
	}
	_, err := Generate(context.Background(), GenerateInput{ID: testID, RootfsPath: rootfs, ImageConfig: cfg, Opts: CreateOptions{User: "foo"}})
	wantErr(t, err, "unable to find user foo: no matching entries in passwd file")
	_, err = Generate(context.Background(), GenerateInput{ID: testID, RootfsPath: rootfs, ImageConfig: cfg, Opts: CreateOptions{User: "app:nogroup"}})
	wantErr(t, err, "unable to find group nogroup")
	// A passwd that is a symlink out of the root is read inside the root.
	evil := t.TempDir()
	os.MkdirAll(filepath.Join(evil, "etc"), 0o755)
	os.Symlink("/etc/passwd", filepath.Join(evil, "etc/passwd"))
	_, err = Generate(context.Background(), GenerateInput{ID: testID, RootfsPath: evil, ImageConfig: cfg, Opts: CreateOptions{User: "root"}})
	if err == nil {
		t.Error("a passwd symlink leaving the root was followed to the host's")
	}
}

func TestGenerateResourcesAndSecurity(t *testing.T) {
	rootfs := fakeRootfs(t)
	s := gen(t, GenerateInput{RootfsPath: rootfs, ImageConfig: ocispec.ImageConfig{Cmd: []string{"sh"}, WorkingDir: "/made/here"},
		Opts: CreateOptions{Memory: 64 << 20, MemorySwap: 128 << 20, NanoCPUs: 500_000_000, CPUShares: 512, PidsLimit: 50,
			Ulimits: []Ulimit{{"nofile", 1024, 2048}}, Sysctls: map[string]string{"net.ipv4.ip_forward": "1"},
			CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"chown"}, ReadOnly: true, Tty: true,
			SecurityOpt: []string{"no-new-privileges"}, Hostname: "box", StopSignal: "SIGQUIT"}})
	r := s.Linux.Resources
	if *r.Memory.Limit != 64<<20 || *r.Memory.Swap != 128<<20 || *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 || *r.CPU.Shares != 512 || *r.Pids.Limit != 50 {
		t.Errorf("resources %+v %+v %+v", r.Memory, r.CPU, r.Pids)
	}
	if len(s.Process.Rlimits) != 1 || s.Process.Rlimits[0] != (specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 2048}) {
		t.Errorf("rlimits %+v", s.Process.Rlimits)
	}
	c := s.Process.Capabilities.Bounding
	if !slices.Contains(c, "CAP_NET_ADMIN") || slices.Contains(c, "CAP_CHOWN") {
		t.Errorf("caps %v", c)
	}
	if !s.Root.Readonly || !s.Process.NoNewPrivileges || !s.Process.Terminal || s.Hostname != "box" {
		t.Errorf("root %+v nnp %v tty %v host %q", s.Root, s.Process.NoNewPrivileges, s.Process.Terminal, s.Hostname)
	}
	if v, _ := env(s, "TERM"); v != "xterm" {
		t.Errorf("TERM %q", v)
	}
	if st, err := os.Stat(filepath.Join(rootfs, "made/here")); err != nil || !st.IsDir() || s.Process.Cwd != "/made/here" {
		t.Errorf("workdir not created: %v", err)
	}
	if s.Annotations[AnnotationStopSignal] != "SIGQUIT" {
		t.Errorf("stop signal %v", s.Annotations)
	}

	// cap-drop ALL + cap-add; privileged; unconfined.
	s = gen(t, GenerateInput{ImageConfig: ocispec.ImageConfig{Cmd: []string{"sh"}}, Opts: CreateOptions{CapDrop: []string{"ALL"}, CapAdd: []string{"NET_BIND_SERVICE"}}})
	if !slices.Equal(s.Process.Capabilities.Bounding, []string{"CAP_NET_BIND_SERVICE"}) {
		t.Errorf("drop ALL: %v", s.Process.Capabilities.Bounding)
	}
	s = gen(t, GenerateInput{ImageConfig: ocispec.ImageConfig{Cmd: []string{"sh"}}, Opts: CreateOptions{Privileged: true}})
	if s.Linux.Seccomp != nil || len(s.Linux.MaskedPaths) != 0 || !slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN") || len(s.Linux.Devices) == 0 {
		t.Errorf("privileged: seccomp %v masked %v devices %d", s.Linux.Seccomp != nil, s.Linux.MaskedPaths, len(s.Linux.Devices))
	}
	if m := mountAt(s, "/sys"); m == nil || !slices.Contains(m.Options, "rw") {
		t.Errorf("privileged /sys %+v", m)
	}
	s = gen(t, GenerateInput{ImageConfig: ocispec.ImageConfig{Cmd: []string{"sh"}}, Opts: CreateOptions{SecurityOpt: []string{"seccomp=unconfined"}}})
	if s.Linux.Seccomp != nil {
		t.Error("seccomp=unconfined kept a profile")
	}
	// Host network: no netns, no uts ns, no net sysctl defaults.
	s = gen(t, GenerateInput{ImageConfig: ocispec.ImageConfig{Cmd: []string{"sh"}}, Opts: CreateOptions{NetworkMode: "host"}})
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace || ns.Type == specs.UTSNamespace {
			t.Errorf("host network keeps %s namespace", ns.Type)
		}
	}
	// The network namespace may not exist yet when the spec is made.
	s = gen(t, GenerateInput{RootfsPath: rootfs, ImageConfig: ocispec.ImageConfig{Cmd: []string{"sh"}}, NetNSPath: "/run/netns/x"})
	if s.Linux.Namespaces[1].Path != "/run/netns/x" {
		t.Errorf("netns %+v", s.Linux.Namespaces)
	}
}

func TestGenerateBadInputChangesNothing(t *testing.T) {
	rootfs := fakeRootfs(t)
	vols, err := volume.New(filepath.Join(t.TempDir(), "volumes"))
	if err != nil {
		t.Fatal(err)
	}
	hostDir := filepath.Join(t.TempDir(), "bind")
	cfg := ocispec.ImageConfig{Cmd: []string{"sh"}, Volumes: map[string]struct{}{"/data": {}}}
	for name, c := range map[string]struct {
		o   CreateOptions
		msg string
	}{
		"memory":      {CreateOptions{Memory: -1}, `"-m, --memory" flag`},
		"memsmall":    {CreateOptions{Memory: 1 << 20}, "minimum memory"},
		"swap":        {CreateOptions{MemorySwap: 1 << 30}, "always set the memory limit"},
		"swapsmall":   {CreateOptions{Memory: 64 << 20, MemorySwap: 32 << 20}, "larger than memory limit"},
		"cpus":        {CreateOptions{NanoCPUs: 1000e9}, "range of CPUs"},
		"cap":         {CreateOptions{CapAdd: []string{"BOGUS"}}, "unknown capability"},
		"sysctl":      {CreateOptions{Sysctls: map[string]string{"vm.swappiness": "1"}}, "not whitelisted"},
		"hostsysctl":  {CreateOptions{NetworkMode: "host", Sysctls: map[string]string{"net.ipv4.ip_forward": "1"}}, "host network mode"},
		"ulimit":      {CreateOptions{Ulimits: []Ulimit{{"nofile", 10, 5}}}, "soft limit"},
		"user":        {CreateOptions{User: "ghost"}, "unable to find user ghost"},
		"apparmor":    {CreateOptions{SecurityOpt: []string{"apparmor=x"}}, "apparmor"},
		"mount":       {CreateOptions{Mounts: []string{"type=bind,src=/does/not/exist,dst=/x"}}, "bind source path does not exist"},
		"dup":         {CreateOptions{Volumes: []string{hostDir + ":/x"}, Tmpfs: []string{"/x"}}, "duplicate mount point"},
		"workdir":     {CreateOptions{WorkingDir: "rel"}, "needs to be an absolute path"},
		"hostname":    {CreateOptions{Hostname: "bad_name!"}, "invalid hostname"},
		"restart":     {CreateOptions{RestartPolicy: RestartPolicy{Name: "always", MaxRetries: 2}}, "maximum retry count"},
		"init":        {CreateOptions{Init: true}, "--init"},
		"env":         {CreateOptions{Env: []string{"=x"}}, "invalid environment variable"},
		"seccompfile": {CreateOptions{SecurityOpt: []string{"seccomp=/no/such.json"}}, "seccomp profile"},
		"late":        {CreateOptions{Volumes: []string{"named:/n", hostDir + "/deep:/b"}, User: "ghost"}, "unable to find user"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Generate(context.Background(), GenerateInput{ID: testID, RootfsPath: rootfs, ImageConfig: cfg, Opts: c.o, Volumes: vols})
			wantErr(t, err, c.msg)
			if list, _ := vols.List(context.Background(), volume.Filter{}); len(list) != 0 {
				t.Errorf("volumes left behind: %v", list)
			}
			if _, err := os.Stat(hostDir); !os.IsNotExist(err) {
				t.Errorf("bind source left behind: %v", err)
			}
		})
	}
}

// A failure after volumes and bind sources were made removes them again.
func TestGenerateRollback(t *testing.T) {
	rootfs := fakeRootfs(t)
	vols, err := volume.New(filepath.Join(t.TempDir(), "volumes"))
	if err != nil {
		t.Fatal(err)
	}
	existing, _ := vols.Create(context.Background(), "existing", nil)
	hostDir := filepath.Join(t.TempDir(), "bind")
	_, err = Generate(context.Background(), GenerateInput{ID: testID, RootfsPath: rootfs, Volumes: vols,
		ImageConfig: ocispec.ImageConfig{Cmd: []string{"sh"}, Volumes: map[string]struct{}{"/data": {}}},
		Opts:        CreateOptions{Volumes: []string{"named:/n", "existing:/e", hostDir + "/deep/er:/b"}},
		Extra:       []SpecOpt{func(*specs.Spec) error { return invalid("late failure") }}})
	wantErr(t, err, "late failure")
	list, _ := vols.List(context.Background(), volume.Filter{})
	if len(list) != 1 || list[0].Name != existing.Name {
		t.Errorf("volumes after a failed Generate: %+v", list)
	}
	if _, err := os.Stat(hostDir); !os.IsNotExist(err) {
		t.Errorf("bind source left behind: %v", err)
	}
}

func TestGenerateVolumesAndMounts(t *testing.T) {
	rootfs := fakeRootfs(t)
	vols, err := volume.New(filepath.Join(t.TempDir(), "volumes"))
	if err != nil {
		t.Fatal(err)
	}
	hostDir := filepath.Join(t.TempDir(), "made", "by", "v")
	etc := t.TempDir()
	if err := WriteEtcFiles(etc, EtcOptions{Hostname: "box", IPs: []string{"10.88.0.5/16"}, ExtraHosts: []string{"db:10.0.0.9"}}); err != nil {
		t.Fatal(err)
	}
	s := gen(t, GenerateInput{RootfsPath: rootfs, EtcDir: etc, Volumes: vols,
		ImageConfig: ocispec.ImageConfig{Cmd: []string{"sh"}, Volumes: map[string]struct{}{"/data": {}, "/covered": {}}},
		Opts: CreateOptions{ReadOnly: true,
			Volumes: []string{hostDir + ":/host:ro", "named:/covered"},
			Mounts:  []string{"type=tmpfs,dst=/scratch,tmpfs-size=1m"},
			Tmpfs:   []string{"/run:size=2m"}}})
	if st, err := os.Stat(hostDir); err != nil || !st.IsDir() {
		t.Errorf("-v did not create the host dir: %v", err)
	}
	if m := mountAt(s, "/host"); m == nil || m.Source != hostDir || !slices.Contains(m.Options, "ro") || !slices.Contains(m.Options, "rbind") {
		t.Errorf("/host %+v", m)
	}
	if m := mountAt(s, "/run"); m == nil || m.Type != "tmpfs" || !slices.Contains(m.Options, "size=2097152") {
		t.Errorf("/run %+v", m)
	}
	if m := mountAt(s, "/scratch"); m == nil || !slices.Contains(m.Options, "size=1048576") {
		t.Errorf("/scratch %+v", m)
	}
	if m := mountAt(s, "/etc/hosts"); m == nil || m.Source != filepath.Join(etc, "hosts") || !slices.Contains(m.Options, "ro") {
		t.Errorf("/etc/hosts %+v", m)
	}
	refs := VolumesOf(s)
	if len(refs) != 2 {
		t.Fatalf("volumes %+v", refs)
	}
	var anon VolumeRef
	for _, r := range refs {
		if r.Anonymous {
			anon = r
		}
	}
	if anon.Destination != "/data" || len(anon.Name) != 64 {
		t.Fatalf("anonymous volume %+v", anon)
	}
	v, err := vols.Inspect(context.Background(), anon.Name)
	if err != nil || v.Labels[LabelAnonymousVolume] != "true" {
		t.Fatalf("inspect %+v %v", v, err)
	}
	// The image's content was copied in, symlink kept as a symlink.
	if data, err := os.ReadFile(filepath.Join(v.Mountpoint, "sub/file")); err != nil || string(data) != "image content" {
		t.Errorf("copy-up: %q %v", data, err)
	}
	if l, err := os.Readlink(filepath.Join(v.Mountpoint, "link")); err != nil || l != "sub/file" {
		t.Errorf("copy-up symlink: %q %v", l, err)
	}
	if st, _ := os.Stat(v.Mountpoint); st == nil || st.Mode().Perm() != 0o750 {
		t.Errorf("volume root mode %v", st)
	}
	if m := mountAt(s, "/data"); m == nil || m.Source != v.Mountpoint {
		t.Errorf("/data %+v", m)
	}
	// WithInit.
	bin := filepath.Join(t.TempDir(), "init")
	os.WriteFile(bin, []byte("x"), 0o755)
	s = gen(t, GenerateInput{ImageConfig: ocispec.ImageConfig{Cmd: []string{"sh"}}, Opts: CreateOptions{Init: true}, InitBinary: bin})
	if strings.Join(s.Process.Args, " ") != InitPath+" -- sh" || mountAt(s, InitPath) == nil {
		t.Errorf("init: %v", s.Process.Args)
	}
}

func TestWriteEtcFiles(t *testing.T) {
	dir := t.TempDir()
	host := filepath.Join(dir, "host-resolv")
	os.WriteFile(host, []byte("# x\nnameserver 127.0.0.53\nnameserver ::1\nsearch example.com\noptions ndots:2\n"), 0o644)
	etc := filepath.Join(dir, "etc")
	if err := WriteEtcFiles(etc, EtcOptions{Hostname: "h1", HostResolvConf: host, IPs: []string{"10.1.2.3"}}); err != nil {
		t.Fatal(err)
	}
	r, _ := os.ReadFile(filepath.Join(etc, "resolv.conf"))
	if string(r) != "nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch example.com\noptions ndots:2\n" {
		t.Errorf("resolv.conf %q", r)
	}
	h, _ := os.ReadFile(filepath.Join(etc, "hosts"))
	if !strings.Contains(string(h), "127.0.0.1\tlocalhost") || !strings.Contains(string(h), "10.1.2.3\th1\n") {
		t.Errorf("hosts %q", h)
	}
	hn, _ := os.ReadFile(filepath.Join(etc, "hostname"))
	if string(hn) != "h1\n" {
		t.Errorf("hostname %q", hn)
	}
	if err := WriteEtcFiles(etc, EtcOptions{Hostname: "h1", HostResolvConf: host, HostNetwork: true}); err != nil {
		t.Fatal(err)
	}
	r, _ = os.ReadFile(filepath.Join(etc, "resolv.conf"))
	if !strings.Contains(string(r), "nameserver 127.0.0.53") {
		t.Errorf("host network resolv.conf %q", r)
	}
	err := WriteEtcFiles(filepath.Join(dir, "bad"), EtcOptions{Hostname: "h", DNS: []string{"nope"}})
	wantErr(t, err, "--dns")
	if _, err := os.Stat(filepath.Join(dir, "bad")); !os.IsNotExist(err) {
		t.Error("bad input left a directory")
	}
}

func FuzzResolveUser(f *testing.F) {
	f.Add("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n", "wheel:x:10:app\n", "app")
	f.Add("::::\n:x:a:b\n", "x:y:z:a,b,c\n", "1000:10")
	f.Fuzz(func(t *testing.T, passwd, group, user string) {
		if len(passwd) > 1<<16 || len(group) > 1<<16 {
			return
		}
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
		os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte(passwd), 0o644)
		os.WriteFile(filepath.Join(dir, "etc/group"), []byte(group), 0o644)
		u, err := ResolveUser(dir, user, nil)
		if err == nil && (len(u.AdditionalGids) == 0 || u.AdditionalGids[0] != u.GID) {
			t.Fatalf("ResolveUser(%q): additional gids %v do not start with gid %d", user, u.AdditionalGids, u.GID)
		}
	})
}
