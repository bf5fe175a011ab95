package initproc

import (
	"encoding/json"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestConfigRoundTrip: what the parent encodes is what init decodes, whether
// the configuration travels as the caller's JSON or is encoded, and whether
// the process is the configuration's own (create) or another (exec).
func TestConfigRoundTrip(t *testing.T) {
	umask := uint32(0o22)
	s := &specs.Spec{
		Version:  specs.Version,
		Process:  &specs.Process{Args: []string{"/bin/true"}, Cwd: "/", User: specs.User{UID: 1, GID: 2, Umask: &umask}},
		Root:     &specs.Root{Path: "rootfs", Readonly: true},
		Hostname: "h",
		Mounts:   []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		Hooks:    &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/hook"}}},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}},
			Seccomp:    &specs.LinuxSeccomp{DefaultAction: specs.ActAllow},
			Resources:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0"}},
		},
	}
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	base := Config{Kind: KindCreate, ID: "c", Bundle: "/b", Spec: s, Process: s.Process, NoPivot: true, NoNewKeyring: true,
		FifoFD: 5, ConsoleFD: -1, PreserveFDs: 2, CgroupPaths: map[string]string{"pids": "/x"}, Rootless: true, HostPid: 42}
	// Every field of Config is set above (but the wire-only ones): a field
	// added to Config and forgotten by EncodeConfig fails here.
	v := reflect.ValueOf(base)
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Name
		if v.Field(i).IsZero() && name != "SpecJSON" && name != "ProcessFromSpec" {
			t.Fatalf("the test leaves Config.%s unset", name)
		}
	}
	exec := base
	exec.Kind = KindExec
	exec.Process = &specs.Process{Args: []string{"/bin/sh"}, Cwd: "/tmp"}
	withRaw := base
	withRaw.SpecJSON = raw
	for name, in := range map[string]Config{"create": base, "create from config.json": withRaw, "exec": exec} {
		b, err := EncodeConfig(&in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := DecodeConfig(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(out.Spec, s) {
			t.Errorf("%s: spec after the trip:\n got %+v\nwant %+v", name, out.Spec, s)
		}
		if !reflect.DeepEqual(out.Process, in.Process) {
			t.Errorf("%s: process after the trip: got %+v want %+v", name, out.Process, in.Process)
		}
		got, want := *out, in
		got.Spec, got.Process, got.ProcessFromSpec = nil, nil, false
		want.Spec, want.Process, want.SpecJSON = nil, nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: config after the trip:\n got %+v\nwant %+v", name, got, want)
		}
	}
	// No configuration at all (exec of a container recorded without one).
	out, err := DecodeConfig([]byte(`{"kind":"exec","process":{"args":["a"]}}`))
	if err != nil || out.Spec != nil || out.Process == nil || out.Process.Args[0] != "a" {
		t.Errorf("config without spec: %+v, %v", out, err)
	}
}
