package runtimee2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/testutil"
)

// Bad input must give a non-zero exit, an error naming the offending field, and leave
// nothing behind: no state directory under --root, no cgroup, no mount, no process.

type badCase struct {
	name string
	// edit changes the default spec (terminal off, args /bin/true); raw, when set,
	// replaces config.json's bytes; noConfig removes it.
	edit     func(*specs.Spec)
	raw      string
	noConfig bool
	noRootfs bool
	id       string   // container id (default: a unique one)
	cmd      string   // "create" (default) or "run"
	want     []string // substrings the error must contain (all of them)
}

func badCases() []badCase {
	return []badCase{
		{name: "malformed-json", raw: `{"ociVersion": "1.0.2", "process": {`, want: []string{"config.json", "malformed JSON"}},
		{name: "not-an-object", raw: `[1, 2, 3]`, want: []string{"config.json"}},
		{name: "missing-config", noConfig: true, want: []string{"config.json", "not found"}},
		{name: "absent-rootfs", noRootfs: true, want: []string{"root.path", "does not exist"}},
		{name: "bad-oci-version", edit: func(s *specs.Spec) { s.Version = "2.0.0" }, want: []string{"ociVersion"}},
		{name: "no-args", edit: func(s *specs.Spec) { s.Process.Args = nil }, want: []string{"process.args"}},
		{name: "relative-cwd", edit: func(s *specs.Spec) { s.Process.Cwd = "rel" }, want: []string{"process.cwd"}},
		{name: "unknown-namespace", edit: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "foo"})
		}, want: []string{"linux.namespaces[", "foo"}},
		{name: "duplicate-namespace", edit: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
		}, want: []string{"linux.namespaces[", "pid"}},
		{name: "hostname-without-uts", edit: func(s *specs.Spec) {
			s.Hostname = "nouts"
			s.Linux.Namespaces = withoutNS(s.Linux.Namespaces, specs.UTSNamespace)
		}, want: []string{"hostname", "UTS"}},
		{name: "mappings-without-userns", edit: func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		}, want: []string{"linux.uidMappings"}},
		{name: "mapping-size-zero", edit: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 0}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		}, want: []string{"linux.uidMappings[0]", "size"}},
		{name: "mapping-overflow", edit: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 4294967295, Size: 10}}
		}, want: []string{"linux.gidMappings[0]"}},
		{name: "unknown-capability", edit: func(s *specs.Spec) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_NOT_A_THING")
		}, want: []string{"process.capabilities.bounding", "CAP_NOT_A_THING"}},
		{name: "unknown-rlimit", edit: func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOT_A_THING", Soft: 1, Hard: 1}}
		}, want: []string{"process.rlimits[0]", "RLIMIT_NOT_A_THING"}},
		{name: "rlimit-soft-above-hard", edit: func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 5}}
		}, want: []string{"process.rlimits[0]", "RLIMIT_NOFILE"}},
		{name: "bad-mount-destination", edit: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "", Type: "tmpfs", Source: "tmpfs"})
		}, want: []string{"mounts[", "destination"}},
		{name: "bind-source-missing", cmd: "run", edit: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: "/nonexistent-berth-source", Options: []string{"rbind"}})
		}, want: []string{"mounts[", ".source", "/nonexistent-berth-source", "does not exist"}},
		// Failures late in create, after cgroups, namespaces and mounts exist.
		{name: "sysctl-unknown", cmd: "run", edit: func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"net.ipv4.not_a_sysctl": "1"}
		}, want: []string{"linux.sysctl", "net.ipv4.not_a_sysctl"}},
		{name: "program-missing", cmd: "run", edit: func(s *specs.Spec) {
			s.Process.Args = []string{"/no/such/program"}
		}, want: []string{"/no/such/program"}},
		{name: "hook-fails", cmd: "run", edit: func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/false"}}}
		}, want: []string{"createRuntime"}},
		{name: "id-with-slash", id: "bad/id", want: []string{"container id", "/"}},
		{name: "id-dotdot", id: "..", want: []string{"container id", ".."}},
		{name: "id-dotdot-slash", id: "../escape", want: []string{"container id"}},
		{name: "id-empty", id: "", want: []string{"container id"}},
	}
}

func withoutNS(ns []specs.LinuxNamespace, t specs.LinuxNamespaceType) []specs.LinuxNamespace {
	var out []specs.LinuxNamespace
	for _, n := range ns {
		if n.Type != t {
			out = append(out, n)
		}
	}
	return out
}

// leftoverCheck asserts that nothing of the container id (bundle b, state root) is left:
// no state entry, no cgroup named after the id, no mount under the bundle or the root,
// no process whose command line names the id or whose root is the bundle's rootfs.
func leftoverCheck(t *testing.T, id, bundle, stateRoot string) {
	t.Helper()
	if ents, err := os.ReadDir(stateRoot); err == nil {
		for _, e := range ents {
			if e.IsDir() || (id != "" && strings.Contains(e.Name(), id)) {
				t.Errorf("state left under --root: %s", filepath.Join(stateRoot, e.Name()))
			}
		}
	}
	if id != "" && !strings.ContainsAny(id, "/") && id != ".." {
		if c := cgroupDirsNamed(id); len(c) > 0 {
			t.Errorf("cgroups left behind: %v", c)
			removeCgroupDirsNamed(id)
		}
	}
	if m := mountsUnder(bundle, stateRoot); len(m) > 0 {
		t.Errorf("mounts left behind: %v", m)
		unmountUnder(bundle, stateRoot)
	}
	if strings.Contains(id, "-") { // only the unique ids: "..", "bad/id" name no process
		if p := pidsWithArg(id); len(p) > 0 {
			t.Errorf("processes left behind naming %q: %v", id, p)
		}
	}
	if p := pidsRootedIn(filepath.Join(bundle, "rootfs")); len(p) > 0 {
		t.Errorf("processes left running in the rootfs: %v", p)
		killPids(p)
	}
}

// pidsRootedIn lists processes whose root directory is dir (containers of a bundle).
func pidsRootedIn(dir string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmtSscan(e.Name(), &pid); err != nil {
			continue
		}
		if r, err := os.Readlink(filepath.Join("/proc", e.Name(), "root")); err == nil && (r == dir || strings.HasPrefix(r, dir+"/")) {
			out = append(out, pid)
		}
	}
	return out
}

func TestBadInput(t *testing.T) {
	testutil.Integration(t)
	rt := berthRuntime(t)
	for _, c := range badCases() {
		c := c
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			bundle := testutil.Bundle(t, func(s *specs.Spec) {
				if c.edit != nil {
					c.edit(s)
				}
			}, "/bin/true")
			switch {
			case c.raw != "":
				if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte(c.raw), 0o644); err != nil {
					t.Fatal(err)
				}
			case c.noConfig:
				os.Remove(filepath.Join(bundle, "config.json"))
			}
			if c.noRootfs {
				if err := os.RemoveAll(filepath.Join(bundle, "rootfs")); err != nil {
					t.Fatal(err)
				}
			}
			id := c.id
			if c.name != "id-empty" && id == "" {
				id = uniq("bad-" + c.name + "-")
			}
			parent := t.TempDir()
			stateRoot := filepath.Join(parent, "state")
			cmd := c.cmd
			if cmd == "" {
				cmd = "create"
			}
			t.Cleanup(func() { run(t, 30*time.Second, nil, rt, "--root", stateRoot, "delete", "--force", id) })
			r := run(t, time.Minute, nil, rt, "--root", stateRoot, cmd, "--bundle", bundle, id)
			if r.code == 0 {
				t.Fatalf("%s with bad input succeeded: %s", cmd, r)
			}
			if r.code < 0 {
				t.Fatalf("%s did not finish: %s", cmd, r)
			}
			t.Logf("%s: exit %d: %s", cmd, r.code, strings.TrimSpace(r.stderr))
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("error does not name %q: %s", w, strings.TrimSpace(r.stderr))
				}
			}
			if strings.TrimSpace(r.stdout) != "" {
				t.Errorf("bad input printed on stdout (errors go to stderr): %q", r.stdout)
			}
			leftoverCheck(t, id, bundle, stateRoot)
			// Nothing escaped the state root either (ids with / or ..).
			ents, _ := os.ReadDir(parent)
			for _, e := range ents {
				if e.Name() != "state" {
					t.Errorf("something written beside --root: %s", filepath.Join(parent, e.Name()))
				}
			}
		})
	}
}

// TestBadInputUnknownField: runtime-spec says implementations MUST NOT fail on an
// unknown property: berth-runtime runs the container (a warning naming the field goes
// to the --log file, where the runtime logs one).
func TestBadInputUnknownField(t *testing.T) {
	testutil.Integration(t)
	t.Parallel()
	rt := berthRuntime(t)
	bundle := testutil.Bundle(t, nil, "/bin/sh", "-c", "echo ran")
	b, _ := os.ReadFile(filepath.Join(bundle, "config.json"))
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["notAField"] = 1
	m["process"].(map[string]any)["alsoNotAField"] = true
	b, _ = json.Marshal(m)
	os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644)
	root := filepath.Join(t.TempDir(), "state")
	logFile := filepath.Join(t.TempDir(), "runtime.log")
	id := uniq("unknown-field-")
	t.Cleanup(func() { run(t, 30*time.Second, nil, rt, "--root", root, "delete", "--force", id) })
	r := run(t, time.Minute, nil, rt, "--root", root, "--log", logFile, "run", "--bundle", bundle, id)
	if r.code != 0 || !strings.Contains(r.stdout, "ran") {
		t.Fatalf("run with unknown fields: %s", r)
	}
	logged, _ := os.ReadFile(logFile)
	t.Logf("stderr: %q; log: %q", r.stderr, logged)
	leftoverCheck(t, id, bundle, root)
}

// TestBadInputDuplicateID: a second create with a live id fails and leaves the first
// container as it was.
func TestBadInputDuplicateID(t *testing.T) {
	testutil.Integration(t)
	t.Parallel()
	rt := berthRuntime(t)
	bundle := testutil.Bundle(t, nil, "/bin/sleep", "30")
	bundle2 := testutil.Bundle(t, nil, "/bin/true")
	root := filepath.Join(t.TempDir(), "state")
	id := uniq("dup-")
	t.Cleanup(func() {
		run(t, 30*time.Second, nil, rt, "--root", root, "delete", "--force", id)
		leftoverCheck(t, id, bundle, root)
	})
	if r := run(t, time.Minute, nil, rt, "--root", root, "create", "--bundle", bundle, id); r.code != 0 {
		t.Fatalf("first create: %s", r)
	}
	st1 := state(t, rt, root, id)
	r := run(t, time.Minute, nil, rt, "--root", root, "create", "--bundle", bundle2, id)
	if r.code == 0 {
		t.Fatalf("second create with the same id succeeded: %s", r)
	}
	if !strings.Contains(r.stderr, id) || !strings.Contains(r.stderr, "exists") {
		t.Errorf("error does not say the id exists: %s", r)
	}
	st2 := state(t, rt, root, id)
	if st2.Status != specs.StateCreated || st2.Pid != st1.Pid || st2.Bundle != st1.Bundle {
		t.Fatalf("first container changed by the failed create: before %+v, after %+v", st1, st2)
	}
	if p := pidsRootedIn(filepath.Join(bundle2, "rootfs")); len(p) > 0 {
		t.Errorf("the failed create left processes: %v", p)
	}
}

// TestBadInputPrivileges: what root without CAP_SYS_RESOURCE cannot do is refused
// with a clear error (raising a hard rlimit, lowering oom_score_adj).
func TestBadInputPrivileges(t *testing.T) {
	testutil.Integration(t)
	if hasCap(t, 24) { // CAP_SYS_RESOURCE
		t.Fatalf("this test checks the refusal without CAP_SYS_RESOURCE, but the test process has it")
	}
	rt := berthRuntime(t)
	var lim struct{ cur, max uint64 }
	lim.cur, lim.max = nofileLimit(t)
	cases := []badCase{
		{name: "raise-hard-rlimit", cmd: "run", edit: func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: lim.max + 1000, Hard: lim.max + 1000}}
		}, want: []string{"process.rlimits[0]", "RLIMIT_NOFILE", "CAP_SYS_RESOURCE"}},
		{name: "lower-oom-score-adj", cmd: "run", edit: func(s *specs.Spec) {
			v := ownOOMScoreAdj(t) - 100
			s.Process.OOMScoreAdj = &v
		}, want: []string{"oomScoreAdj", "CAP_SYS_RESOURCE"}},
	}
	for _, c := range cases {
		c := c
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			bundle := testutil.Bundle(t, c.edit, "/bin/true")
			root := filepath.Join(t.TempDir(), "state")
			id := uniq("priv-")
			t.Cleanup(func() { run(t, 30*time.Second, nil, rt, "--root", root, "delete", "--force", id) })
			r := run(t, time.Minute, nil, rt, "--root", root, c.cmd, "--bundle", bundle, id)
			if r.code <= 0 {
				t.Fatalf("%s should fail: %s", c.cmd, r)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("error does not name %q: %s", w, strings.TrimSpace(r.stderr))
				}
			}
			leftoverCheck(t, id, bundle, root)
		})
	}
}
