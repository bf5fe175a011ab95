package oci

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/berth-containers/berth/internal/errdefs"
)

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error containing %q, got nil", parts)
	}
	if !errdefs.IsInvalidArgument(err) {
		t.Errorf("error %v: not an invalid argument", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func TestParseMemory(t *testing.T) {
	for in, want := range map[string]int64{"64m": 64 << 20, "64M": 64 << 20, "1g": 1 << 30, "1.5g": 3 << 29, "10485760": 10 << 20, "8MiB": 8 << 20, "7mb": 7 << 20, "0": 0} {
		got, err := ParseMemory(in)
		if err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	_, err := ParseMemory("-1")
	wantErr(t, err, `invalid argument "-1" for "-m, --memory" flag`, "invalid size")
	_, err = ParseMemory("4m")
	wantErr(t, err, "minimum memory limit allowed is 6MB")
	for _, bad := range []string{"", "m", "1x", "1.2.3m", ".5m", "1mm", "99999999999p"} {
		if _, err := ParseMemory(bad); err == nil {
			t.Errorf("ParseMemory(%q): no error", bad)
		}
	}
	if v, err := ParseMemorySwap("-1"); err != nil || v != -1 {
		t.Errorf("swap -1: %d %v", v, err)
	}
}

func TestParseCPUs(t *testing.T) {
	v, err := ParseCPUs("1.5")
	if runtime.NumCPU() >= 2 && (err != nil || v != 1_500_000_000) {
		t.Errorf("1.5 → %d %v", v, err)
	}
	v, err = ParseCPUs("0.5")
	if err != nil || v != 500_000_000 {
		t.Errorf("0.5 → %d %v", v, err)
	}
	_, err = ParseCPUs("abc")
	wantErr(t, err, `"--cpus" flag`, "rational number")
	_, err = ParseCPUs("1000")
	wantErr(t, err, "range of CPUs")
	_, err = ParseCPUs("-1")
	wantErr(t, err, "-1")
	_, err = ParseCPUs("1/2")
	wantErr(t, err)
}

func TestParseUlimit(t *testing.T) {
	u, err := ParseUlimit("nofile=1024:2048")
	if err != nil || u != (Ulimit{"nofile", 1024, 2048}) {
		t.Fatalf("%+v %v", u, err)
	}
	u, err = ParseUlimit("nproc=50")
	if err != nil || u != (Ulimit{"nproc", 50, 50}) {
		t.Fatalf("%+v %v", u, err)
	}
	_, err = ParseUlimit("nofile=2048:1024")
	wantErr(t, err, "soft limit must be less than or equal to hard limit")
	_, err = ParseUlimit("foo=1")
	wantErr(t, err, `"--ulimit" flag`, "invalid ulimit type: foo")
	for _, bad := range []string{"nofile", "nofile=", "=1", "nofile=a", "nofile=1:b", "nofile=-2"} {
		if _, err := ParseUlimit(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseRestartPolicy(t *testing.T) {
	for in, want := range map[string]RestartPolicy{"": {Name: "no"}, "no": {Name: "no"}, "always": {Name: "always"},
		"unless-stopped": {Name: "unless-stopped"}, "on-failure": {Name: "on-failure"}, "on-failure:3": {Name: "on-failure", MaxRetries: 3}} {
		got, err := ParseRestartPolicy(in)
		if err != nil || got != want {
			t.Errorf("%q → %+v %v", in, got, err)
		}
	}
	_, err := ParseRestartPolicy("always:3")
	wantErr(t, err, "maximum retry count cannot be used with restart policy 'always'")
	_, err = ParseRestartPolicy("sometimes")
	wantErr(t, err, `"--restart" flag`, "invalid restart policy 'sometimes'")
	_, err = ParseRestartPolicy("on-failure:-1")
	wantErr(t, err, "cannot be negative")
	_, err = ParseRestartPolicy("on-failure:x")
	wantErr(t, err, "integer")
}

func TestParseSysctl(t *testing.T) {
	for _, ok := range []string{"net.ipv4.ip_forward=1", "kernel.shmmax=1000", "fs.mqueue.msg_max=20"} {
		if _, _, err := ParseSysctl(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	_, _, err := ParseSysctl("kernel.hostname=x")
	wantErr(t, err, "not whitelisted")
	_, _, err = ParseSysctl("vm.swappiness=1")
	wantErr(t, err, "not whitelisted")
	_, _, err = ParseSysctl("net.ipv4.ip_forward")
	wantErr(t, err, "key=value")
	_, _, err = ParseSysctl("net/../../x=1")
	wantErr(t, err)
	if err := checkSysctl("net.ipv4.ip_forward", "1", true); err == nil || !strings.Contains(err.Error(), "host network") {
		t.Errorf("net.* with host network: %v", err)
	}
}

func TestParseCapabilities(t *testing.T) {
	got, err := ParseCapabilities(FlagCapAdd, []string{"net_admin", "CAP_SYS_TIME", "ALL", "sys_admin,kill"})
	if err != nil || strings.Join(got, " ") != "CAP_NET_ADMIN CAP_SYS_TIME ALL CAP_SYS_ADMIN CAP_KILL" {
		t.Fatalf("%v %v", got, err)
	}
	_, err = ParseCapabilities(FlagCapDrop, []string{"FOO"})
	wantErr(t, err, `"--cap-drop" flag`, `unknown capability: "FOO"`)
}

func TestParseUser(t *testing.T) {
	for in, want := range map[string]UserSpec{"1000": {"1000", ""}, "1000:100": {"1000", "100"}, "nobody": {"nobody", ""}, "app:staff": {"app", "staff"}} {
		got, err := ParseUser(in)
		if err != nil || got != want {
			t.Errorf("%q → %+v %v", in, got, err)
		}
	}
	for _, bad := range []string{":1", "1:", "a:b:c", "99999999999", "a b"} {
		_, err := ParseUser(bad)
		wantErr(t, err, `"-u, --user" flag`)
	}
}

func TestParseVolumeSpec(t *testing.T) {
	v, err := ParseVolumeSpec("/srv/data:/data:ro")
	if err != nil || v.Type != "bind" || v.Source != "/srv/data" || v.Destination != "/data" || !v.ReadOnly || v.Propagation != "rprivate" || !v.CreateSource {
		t.Fatalf("%+v %v", v, err)
	}
	v, err = ParseVolumeSpec("myvol:/data")
	if err != nil || v.Type != "volume" || v.Source != "myvol" {
		t.Fatalf("%+v %v", v, err)
	}
	v, err = ParseVolumeSpec("/anon")
	if err != nil || v.Type != "volume" || v.Source != "" || v.Destination != "/anon" {
		t.Fatalf("%+v %v", v, err)
	}
	v, err = ParseVolumeSpec("/h:/c:rw,rshared,z")
	if err != nil || v.Propagation != "rshared" || v.ReadOnly {
		t.Fatalf("%+v %v", v, err)
	}
	v, err = ParseVolumeSpec("/c:ro")
	if err != nil || v.Destination != "/c" || !v.ReadOnly || v.Source != "" {
		t.Fatalf("%+v %v", v, err)
	}
	for bad, msg := range map[string]string{
		"/a:b":           "must be absolute",
		"/a:/":           "'/' cannot be a mount destination",
		"/a:/b:ro,rw":    "more than one",
		"/a:/b:foo":      "unknown option",
		"x:/b":           "invalid characters",
		"a:b:c:d":        "too many colons",
		"vol:/b:rshared": "bind mounts only",
		"":               "empty",
	} {
		_, err := ParseVolumeSpec(bad)
		wantErr(t, err, `"-v, --volume" flag`, "invalid volume specification", msg)
	}
}

func TestParseMountSpec(t *testing.T) {
	v, err := ParseMountSpec("type=bind,src=/srv,dst=/data,readonly,bind-propagation=rslave")
	if err != nil || v.Type != "bind" || v.Source != "/srv" || v.Destination != "/data" || !v.ReadOnly || v.Propagation != "rslave" || v.CreateSource {
		t.Fatalf("%+v %v", v, err)
	}
	v, err = ParseMountSpec("type=tmpfs,target=/run,tmpfs-size=64m,tmpfs-mode=1770")
	if err != nil || v.Type != "tmpfs" || strings.Join(v.TmpfsOptions, ",") != "size=67108864,mode=1770" {
		t.Fatalf("%+v %v", v, err)
	}
	v, err = ParseMountSpec("source=vol1,target=/v,volume-nocopy,volume-label=a=b")
	if err != nil || v.Type != "volume" || !v.NoCopy || v.Labels["a"] != "b" {
		t.Fatalf("%+v %v", v, err)
	}
	for bad, msg := range map[string]string{
		"type=bind,dst=/x":                               "field Source must not be empty",
		"type=bind,src=rel,dst=/x":                       "must be absolute",
		"type=tmpfs,src=/a,dst=/x":                       "must not be specified",
		"src=/a":                                         "target is required",
		"type=foo,dst=/x":                                "invalid mount type",
		"type=volume,dst=/x,tmpfs-size=1m":               "cannot use tmpfs options",
		"type=bind,src=/a,dst=/x,bogus=1":                "unexpected key",
		"type=bind,src=/a,dst=/x,readonly=maybe":         "invalid value",
		"type=tmpfs,dst=/x,tmpfs-mode=999":               "invalid tmpfs-mode",
		"type=bind,src=/a,dst=/x,bind-propagation=weird": "invalid propagation",
		"dst": "must be a key=value pair",
	} {
		_, err := ParseMountSpec(bad)
		wantErr(t, err, `"--mount" flag`, msg)
	}
}

func TestParseTmpfs(t *testing.T) {
	dst, opts, err := ParseTmpfs("/run:size=64m,mode=1777,exec")
	if err != nil || dst != "/run" || strings.Join(opts, ",") != "nosuid,nodev,size=67108864,mode=1777,exec" {
		t.Fatalf("%s %v %v", dst, opts, err)
	}
	_, opts, _ = ParseTmpfs("/x")
	if strings.Join(opts, ",") != "noexec,nosuid,nodev" {
		t.Fatalf("defaults: %v", opts)
	}
	for _, bad := range []string{"run", "/run:size=abc", "/run:mode=9", "/run:bogus", "/"} {
		_, _, err := ParseTmpfs(bad)
		wantErr(t, err, `"--tmpfs" flag`)
	}
}

func TestParseEnvFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "env")
	os.WriteFile(f, []byte("\xef\xbb\xbf# comment\n\nA=1\n  B=two words \nFROMHOST\nMISSING\nC=\nD=x=y\r\n"), 0o644)
	env, err := ParseEnvFile(f, func(k string) (string, bool) {
		if k == "FROMHOST" {
			return "h", true
		}
		return "", false
	})
	if err != nil || strings.Join(env, "|") != "A=1|B=two words |FROMHOST=h|C=|D=x=y" {
		t.Fatalf("%q %v", env, err)
	}
	os.WriteFile(f, []byte("BAD NAME=1\n"), 0o644)
	_, err = ParseEnvFile(f, nil)
	wantErr(t, err, `"--env-file" flag`, "contains whitespaces")
	os.WriteFile(f, []byte("=1\n"), 0o644)
	_, err = ParseEnvFile(f, nil)
	wantErr(t, err, "no variable name")
	os.WriteFile(f, []byte("A=\xff\n"), 0o644)
	_, err = ParseEnvFile(f, nil)
	wantErr(t, err, "invalid utf8")
	_, err = ParseEnvFile(filepath.Join(dir, "nope"), nil)
	wantErr(t, err, "no such file")
}

func TestParseSecurityOpts(t *testing.T) {
	so, err := ParseSecurityOpts([]string{"no-new-privileges", "seccomp=unconfined"})
	if err != nil || so.NoNewPrivileges == nil || !*so.NoNewPrivileges || !so.SeccompUnconfined {
		t.Fatalf("%+v %v", so, err)
	}
	so, err = ParseSecurityOpts([]string{"no-new-privileges:false"})
	if err != nil || *so.NoNewPrivileges {
		t.Fatalf("%+v %v", so, err)
	}
	_, err = ParseSecurityOpts([]string{"apparmor=docker-default"})
	wantErr(t, err, "apparmor is not supported")
	_, err = ParseSecurityOpts([]string{"label=disable"})
	wantErr(t, err, "SELinux")
	_, err = ParseSecurityOpts([]string{"seccomp=/nonexistent.json"})
	wantErr(t, err, "opening seccomp profile")
	_, err = ParseSecurityOpts([]string{"weird"})
	wantErr(t, err, "invalid --security-opt")
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatal("kind")
	}
}

func FuzzParsers(f *testing.F) {
	for _, s := range []string{"64m", "1.5", "nofile=1:2", "/a:/b:ro", "type=bind,src=/a,dst=/b", "/run:size=1m", "on-failure:3", "net.x=1", "1000:1000", "A=1\n#x\nB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ParseMemory(s)
		ParseMemorySwap(s)
		ParseCPUs(s)
		ParseCPUShares(s)
		ParseCpuset(s)
		ParsePidsLimit(s)
		if u, err := ParseUlimit(s); err == nil && checkUlimit(u) != nil {
			t.Fatalf("ParseUlimit(%q) accepted an invalid ulimit", s)
		}
		if v, err := ParseVolumeSpec(s); err == nil && (checkDestination(v.Destination) != nil) {
			t.Fatalf("ParseVolumeSpec(%q) accepted destination %q", s, v.Destination)
		}
		if v, err := ParseMountSpec(s); err == nil && checkDestination(v.Destination) != nil {
			t.Fatalf("ParseMountSpec(%q) accepted destination %q", s, v.Destination)
		}
		ParseTmpfs(s)
		ParseRestartPolicy(s)
		ParseSysctl(s)
		ParseCapabilities(FlagCapAdd, []string{s})
		ParseUser(s)
		ParseSecurityOpts([]string{"no-new-privileges:" + s})
		ParseEnv(strings.NewReader(s), nil)
		ParseSignal(s)
		checkHostname(s)
		parseExtraHosts([]string{s})
	})
}

func TestInlineSecurityOpts(t *testing.T) {
	f := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(f, []byte(`{"defaultAction":"SCMP_ACT_ALLOW"}`), 0o644)
	got, err := InlineSecurityOpts([]string{"no-new-privileges", "seccomp=" + f})
	if err != nil || len(got) != 2 || got[1] != `seccomp={"defaultAction":"SCMP_ACT_ALLOW"}` {
		t.Fatalf("%q %v", got, err)
	}
	so, err := ParseSecurityOpts(got)
	if err != nil || string(so.SeccompProfile) != `{"defaultAction":"SCMP_ACT_ALLOW"}` {
		t.Fatalf("%+v %v", so, err)
	}
	os.WriteFile(f, []byte(`not json`), 0o644)
	_, err = InlineSecurityOpts([]string{"seccomp=" + f})
	wantErr(t, err, "decoding seccomp profile")
	if v, err := ParseShmSize("128m"); err != nil || v != 128<<20 {
		t.Fatalf("%d %v", v, err)
	}
	_, err = ParseShmSize("0")
	wantErr(t, err, "--shm-size")
}
