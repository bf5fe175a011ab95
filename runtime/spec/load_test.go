package spec

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
)

// bundleWith writes config (raw JSON) into a fresh bundle with an empty rootfs.
func bundleWith(t *testing.T, config []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if config != nil {
		if err := os.WriteFile(filepath.Join(dir, ConfigName), config, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func marshal(t *testing.T, s *specs.Spec) []byte {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixup makes a captured config loadable on this machine: its rootfs and
// joined namespaces existed only where it was captured.
func fixup(t *testing.T, raw []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["root"].(map[string]any)["path"] = "rootfs"
	if l, ok := m["linux"].(map[string]any); ok {
		if nss, ok := l["namespaces"].([]any); ok {
			for _, n := range nss {
				ns := n.(map[string]any)
				if _, ok := ns["path"]; ok {
					typ := ns["type"].(string)
					file := map[string]string{"network": "net", "mount": "mnt"}[typ]
					if file == "" {
						file = typ
					}
					ns["path"] = "/proc/self/ns/" + file
				}
			}
		}
	}
	if p, ok := m["process"].(map[string]any); ok {
		if _, ok := p["args"]; !ok {
			p["args"] = []string{"sh"} // ctr run adds the image's command
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The fixtures are config.json files captured from Docker 20.10 (dockerd
// with a capturing runtime), podman 4.3 and containerd 1.6 (`ctr oci spec`)
// on Debian 12; fixup replaces what only existed on the capturing machine.
func TestLoadPeerConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) < 4 {
		t.Fatalf("fixtures missing: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dir := bundleWith(t, fixup(t, raw))
			s, unknown, err := LoadWithWarnings(dir)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(unknown) > 0 {
				t.Errorf("fields this runtime does not know: %v", unknown)
			}
			if len(s.Mounts) == 0 || s.Linux == nil {
				t.Fatalf("decoded too little: %+v", s)
			}
		})
	}
}

func TestLoadDefault(t *testing.T) {
	dir := bundleWith(t, marshal(t, Default(false, 0, 0)))
	if _, err := Load(dir); err != nil {
		t.Fatalf("default spec: %v", err)
	}
	dir = bundleWith(t, marshal(t, Default(true, 1000, 1000)))
	if _, err := Load(dir); err != nil {
		t.Fatalf("rootless default spec: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Run("missing config", func(t *testing.T) {
		_, err := Load(bundleWith(t, nil))
		if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "config.json") {
			t.Fatalf("got %v", err)
		}
	})
	cases := []struct {
		name, doc, want string
	}{
		{"empty", ``, "empty or truncated"},
		{"truncated", `{"ociVersion": "1.0.2"`, "truncated"},
		{"syntax", "{\n  \"ociVersion\": \"1.0.2\",\n  \"root\": {\"path\": \"rootfs\",}\n}", "line 3"},
		{"trailing", `{"ociVersion":"1.0.2"} {}`, "after the JSON document"},
		{"array", `[]`, "must be a JSON object"},
		{"wrong type", `{"ociVersion":"1.0.2","process":{"user":{"uid":"root"}}}`, "process.user.uid: expected a non-negative integer"},
		{"negative uid", `{"ociVersion":"1.0.2","process":{"user":{"uid":-1}}}`, "process.user.uid"},
		{"wrong type args", `{"ociVersion":"1.0.2","process":{"args":"sh"}}`, "process.args: expected an array"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := bundleWith(t, []byte(c.doc))
			_, err := Load(dir)
			if err == nil {
				t.Fatal("Load accepted it")
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("error kind: %v", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

// Unknown fields are ignored (runtime-spec extensibility) but reported with
// their JSON path; ParseStrict rejects them.
func TestUnknownFields(t *testing.T) {
	s := Default(false, 0, 0)
	raw := marshal(t, s)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["bogus"] = 1
	m["process"].(map[string]any)["user"].(map[string]any)["nmae"] = "x"
	m["mounts"].([]any)[1].(map[string]any)["opts"] = []string{}
	m["linux"].(map[string]any)["timeOffsets"] = map[string]any{"monotonic": map[string]any{"secs": 1, "nsecs": 2}}
	m["linux"].(map[string]any)["namespaces"] = append(m["linux"].(map[string]any)["namespaces"].([]any), map[string]any{"type": "time"})
	doc, _ := json.Marshal(m)
	dir := bundleWith(t, doc)
	got, unknown, err := LoadWithWarnings(dir)
	if err != nil || got == nil {
		t.Fatalf("unknown fields must be ignored: %v", err)
	}
	want := []string{"bogus", `linux.timeOffsets["monotonic"].nsecs`, "mounts[1].opts", "process.user.nmae"}
	if strings.Join(unknown, " ") != strings.Join(want, " ") {
		t.Errorf("unknown = %q, want %q", unknown, want)
	}
	if _, err := Load(dir); err != nil {
		t.Errorf("Load: %v", err)
	}
	if _, err := ParseStrict(doc); err == nil || !strings.HasPrefix(err.Error(), "bogus: unknown field") {
		t.Errorf("ParseStrict: %v", err)
	}
	if _, err := ParseStrict([]byte(`{"OCIVersion":"1.0.2"}`)); err == nil || !strings.Contains(err.Error(), "OCIVersion: unknown field") {
		t.Errorf("case mismatch: %v", err)
	}
}

func TestValidateID(t *testing.T) {
	good := []string{"a", "abc-DEF_1.2+3", strings.Repeat("x", 1024), "..a", "a..b"}
	for _, id := range good {
		if err := ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q): %v", id, err)
		}
	}
	badIDs := []string{"", ".", "..", "a/b", "../x", "a b", "a\x00", strings.Repeat("x", 1025), "é", "a:b"}
	for _, id := range badIDs {
		err := ValidateID(id)
		if err == nil || !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("ValidateID(%q) = %v, want invalid argument", id, err)
		}
	}
}

func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},"linux":{"namespaces":[{"type":"mount"}]}}`))
	f.Add([]byte(`{"ociVersion":"1.0.2","mounts":[{"destination":"/x","options":["rbind","idmap"]}]}`))
	f.Add([]byte(`null`))
	dir := f.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, ConfigName), data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Load(dir)
		if err != nil {
			if s != nil {
				t.Fatal("spec returned with an error")
			}
			if !errdefs.IsInvalidArgument(err) && !errdefs.IsFailedPrecondition(err) {
				t.Fatalf("error without a kind: %v", err)
			}
			return
		}
		if s.Process == nil || s.Root == nil || s.Linux == nil {
			t.Fatalf("accepted a spec without process/root/linux")
		}
	})
}
