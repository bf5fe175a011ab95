package daemon

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultConfigRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(DefaultConfigTOML()), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(p, true)
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultConfig()
	d.Registry.PlainHTTP, d.Registry.SkipVerify, d.Registry.Mirrors = []string{}, []string{}, map[string][]string{}
	if !reflect.DeepEqual(c, d) {
		t.Fatalf("default config does not round-trip: %+v", c)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`bogus = 1`, `unknown key "bogus"`},
		{`log_level = "loud"`, `log_level "loud"`},
		{`root = "relative"`, `root "relative"`},
		{`root = 5`, `root`},
		{`snapshotter = "zfs"`, `snapshotter "zfs"`},
		{`max_concurrent_downloads = 0`, `max_concurrent_downloads 0`},
		{"[registry]\nconfig_path = \"rel\"", `registry.config_path "rel"`},
		{"[registry.mirrors]\n\"docker.io\" = [\"ftp://x\"]", `registry.mirrors."docker.io"[0]`},
		{"[registry]\nplain_http = [\"a/b\"]", `registry.plain_http[0]`},
		{"[registry]\nbogus = 1", `unknown key "registry.bogus"`},
	} {
		p := filepath.Join(t.TempDir(), "config.toml")
		os.WriteFile(p, []byte(tc.body), 0o644)
		_, err := LoadConfig(p, true)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to mention %q", tc.body, err, tc.want)
		}
	}
	if _, err := LoadConfig("/nonexistent/berth.toml", true); err == nil {
		t.Error("missing explicit config: no error")
	}
	if _, err := LoadConfig("/nonexistent/berth.toml", false); err != nil {
		t.Errorf("missing default config: %v", err)
	}
}

func FuzzLoadConfig(f *testing.F) {
	f.Add([]byte(DefaultConfigTOML()))
	f.Add([]byte("root = \"/x\"\n[foo]\nbar=1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "c.toml")
		os.WriteFile(p, data, 0o644)
		c, err := LoadConfig(p, true)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("LoadConfig accepted an invalid config: %v", verr)
			}
		}
	})
}

// TestConfigDocumented keeps docs/config.md in step with the defaults.
func TestConfigDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), DefaultConfigTOML()) {
		t.Fatal("docs/config.md does not show the output of `berthd config default`; update it")
	}
	for _, key := range []string{"root", "state", "address", "log_level", "log_format", "snapshotter", "max_concurrent_downloads",
		"registry.config_path", "registry.auth_file", "registry.plain_http", "registry.skip_verify", "registry.mirrors"} {
		if !strings.Contains(string(doc), "| `"+key+"` |") {
			t.Errorf("docs/config.md: key %s has no row in the table", key)
		}
	}
}
