package oci

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/testutil"
)

// TestLikeDocker generates a spec with the options dockerd 20.10 was given
// for runtime/spec/testdata/docker-20.10-run-options.json (busybox, -t,
// --read-only, -u 1000:1000, --cap-add SYS_ADMIN, -m 64m --memory-swap
// 128m, --pids-limit 50, --sysctl net.ipv4.ip_forward=1, -v /srv/vol:/data:ro,
// --tmpfs /run) and compares what Docker decided with what Generate does.
func TestLikeDocker(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "runtime/spec/testdata/docker-20.10-run-options.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d specs.Spec
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	host := filepath.Join(t.TempDir(), "srv", "vol")
	etc := t.TempDir()
	s := gen(t, GenerateInput{ID: testID, RootfsPath: fakeRootfs(t), EtcDir: etc,
		ImageConfig: ocispec.ImageConfig{Cmd: []string{"sh"}},
		Opts: CreateOptions{Tty: true, ReadOnly: true, User: "1000:1000", CapAdd: []string{"SYS_ADMIN"},
			Memory: 64 << 20, MemorySwap: 128 << 20, PidsLimit: 50, Sysctls: map[string]string{"net.ipv4.ip_forward": "1"},
			Volumes: []string{host + ":/data:ro"}, Tmpfs: []string{"/run"}, Cmd: []string{"/bin/sh", "-c", "true"}}})

	eq := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got  %#v\n want %#v (docker)", what, got, want)
		}
	}
	eq("args", s.Process.Args, d.Process.Args)
	eq("terminal", s.Process.Terminal, d.Process.Terminal)
	eq("user", s.Process.User, d.Process.User)
	eq("cwd", s.Process.Cwd, d.Process.Cwd)
	eq("capabilities", s.Process.Capabilities, d.Process.Capabilities)
	eq("root.readonly", s.Root.Readonly, d.Root.Readonly)
	eq("sysctl", s.Linux.Sysctl, d.Linux.Sysctl)
	eq("memory.limit", *s.Linux.Resources.Memory.Limit, *d.Linux.Resources.Memory.Limit)
	eq("memory.swap", *s.Linux.Resources.Memory.Swap, *d.Linux.Resources.Memory.Swap)
	eq("pids", *s.Linux.Resources.Pids.Limit, *d.Linux.Resources.Pids.Limit)
	eq("devices", s.Linux.Resources.Devices, d.Linux.Resources.Devices)
	eq("readonlyPaths", s.Linux.ReadonlyPaths, d.Linux.ReadonlyPaths)
	for _, p := range d.Linux.MaskedPaths {
		if !slices.Contains(s.Linux.MaskedPaths, p) {
			t.Errorf("masked path %s missing", p)
		}
	}
	// Env: same variables (HOSTNAME carries each one's own id).
	var ge, de []string
	for _, e := range s.Process.Env {
		if k, _, _ := cutEq(e); k != "HOSTNAME" && k != "HOME" {
			ge = append(ge, e)
		}
	}
	for _, e := range d.Process.Env {
		if k, _, _ := cutEq(e); k != "HOSTNAME" {
			de = append(de, e)
		}
	}
	eq("env", ge, de)
	// Mounts: same destinations in the same order, same types and options.
	type m struct {
		Dst, Type string
		Opts      []string
	}
	var gm, dm []m
	for _, x := range s.Mounts {
		gm = append(gm, m{x.Destination, x.Type, x.Options})
	}
	for _, x := range d.Mounts {
		dm = append(dm, m{x.Destination, x.Type, x.Options})
	}
	eq("mounts", gm, dm)
	if mm := mountAt(s, "/data"); mm == nil || mm.Source != host {
		t.Errorf("/data source %+v", mm)
	}
	// Seccomp: the same default action; the same architectures covered.
	if s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != d.Linux.Seccomp.DefaultAction {
		t.Errorf("seccomp default action differs")
	}
	_ = context.Background
}

func cutEq(e string) (string, string, bool) {
	for i := 0; i < len(e); i++ {
		if e[i] == '=' {
			return e[:i], e[i+1:], true
		}
	}
	return e, "", false
}

// TestLikeDockerPlain compares with `docker run busybox sh -c true`.
func TestLikeDockerPlain(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "runtime/spec/testdata/docker-20.10-run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d specs.Spec
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	rootfs := t.TempDir()
	testutil.BusyboxRootfs(t, rootfs)
	s := gen(t, GenerateInput{RootfsPath: rootfs, EtcDir: t.TempDir(), ImageConfig: ocispec.ImageConfig{Cmd: []string{"sh"}},
		Opts: CreateOptions{Cmd: []string{"/bin/sh", "-c", "true"}}})
	for what, pair := range map[string][2]any{
		"args":         {s.Process.Args, d.Process.Args},
		"user":         {s.Process.User, d.Process.User},
		"capabilities": {s.Process.Capabilities, d.Process.Capabilities},
		"readonly":     {s.Root.Readonly, d.Root.Readonly},
		"sysctl":       {s.Linux.Sysctl, d.Linux.Sysctl},
		"devices":      {s.Linux.Resources.Devices, d.Linux.Resources.Devices},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("%s:\n got  %#v\n want %#v (docker)", what, pair[0], pair[1])
		}
	}
	var gm, dm []string
	for _, x := range s.Mounts {
		gm = append(gm, x.Destination+" "+x.Type)
	}
	for _, x := range d.Mounts {
		dm = append(dm, x.Destination+" "+x.Type)
	}
	if !slices.Equal(gm, dm) {
		t.Errorf("mounts:\n got  %v\n want %v", gm, dm)
	}
}
