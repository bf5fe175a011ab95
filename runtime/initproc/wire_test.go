package initproc

import (
	"encoding/json"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestWireSpecCoversSpec: every field of specs.Spec and specs.Linux reaches
// init, or is listed as the parent's alone; a field runtime-spec adds fails
// here until it is placed.
func TestWireSpecCoversSpec(t *testing.T) {
	check := func(name string, full, wire reflect.Type) {
		for i := 0; i < full.NumField(); i++ {
			f := full.Field(i)
			key := name + "." + f.Name
			wf, ok := wire.FieldByName(f.Name)
			switch {
			case parentOnly[key] && ok:
				t.Errorf("%s is both sent to init and listed as the parent's", key)
			case parentOnly[key]:
			case !ok:
				t.Errorf("%s does not reach init: add it to the wire type or to parentOnly", key)
			case f.Tag.Get("json") != wf.Tag.Get("json"):
				t.Errorf("%s: json tag %q, wire type has %q", key, f.Tag.Get("json"), wf.Tag.Get("json"))
			}
		}
	}
	check("Spec", reflect.TypeOf(specs.Spec{}), reflect.TypeOf(wireSpec{}))
	check("Linux", reflect.TypeOf(specs.Linux{}), reflect.TypeOf(wireLinux{}))
}

// TestConfigRoundTrip: what the parent sends is what init reads, apart from
// the parent-only parts.
func TestConfigRoundTrip(t *testing.T) {
	umask := uint32(0o22)
	s := &specs.Spec{
		Version:  specs.Version,
		Process:  &specs.Process{Args: []string{"/bin/true"}, Cwd: "/", User: specs.User{UID: 1, GID: 2, Umask: &umask}},
		Root:     &specs.Root{Path: "rootfs", Readonly: true},
		Hostname: "h", Domainname: "d",
		Mounts:      []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		Hooks:       &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/hook"}}},
		Annotations: map[string]string{"a": "b"},
		Linux: &specs.Linux{
			Namespaces:  []specs.LinuxNamespace{{Type: specs.PIDNamespace}},
			Devices:     []specs.LinuxDevice{{Path: "/dev/x", Type: "c", Major: 1, Minor: 3}},
			Seccomp:     &specs.LinuxSeccomp{DefaultAction: specs.ActAllow},
			MaskedPaths: []string{"/proc/kcore"}, ReadonlyPaths: []string{"/proc/sys"},
			Sysctl: map[string]string{"kernel.domainname": "d"}, RootfsPropagation: "slave",
			Resources: &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0"}},
		},
	}
	in := Config{Kind: KindCreate, ID: "c", Bundle: "/b", Spec: s, Process: s.Process, FifoFD: 5, ConsoleFD: -1, HostPid: 42,
		CgroupPaths: map[string]string{"pids": "/x"}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Config
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	want := *s
	wl := *s.Linux
	wl.Resources = nil
	want.Linux = &wl
	if !reflect.DeepEqual(out.Spec, &want) {
		t.Errorf("spec after the trip:\n got %+v\nwant %+v", out.Spec, &want)
	}
	out.Spec, in.Spec = nil, nil
	if !reflect.DeepEqual(out, in) {
		t.Errorf("config after the trip:\n got %+v\nwant %+v", out, in)
	}
	var none Config
	if err := json.Unmarshal([]byte(`{"kind":"exec","spec":null}`), &none); err != nil || none.Spec != nil || none.Kind != KindExec {
		t.Errorf("config without spec: %+v, %v", none, err)
	}
}
