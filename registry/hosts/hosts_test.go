package hosts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-containers/berth/internal/errdefs"
)

func write(t *testing.T, dir, host, content string) string {
	t.Helper()
	d := filepath.Join(dir, host)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if content != "" {
		if err := os.WriteFile(filepath.Join(d, HostsFile), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func urls(eps []Endpoint) string {
	var s []string
	for _, e := range eps {
		s = append(s, e.URL())
	}
	return strings.Join(s, " ")
}

func TestDefaults(t *testing.T) {
	var c Config
	for host, want := range map[string]string{
		"docker.io":            "https://registry-1.docker.io/v2",
		"ghcr.io":              "https://ghcr.io/v2",
		"127.0.0.1:5000":       "http://127.0.0.1:5000/v2",
		"localhost:5000":       "http://localhost:5000/v2",
		"[::1]:5000":           "http://[::1]:5000/v2",
		"registry.example:443": "https://registry.example:443/v2",
	} {
		eps, err := c.Endpoints(host)
		if err != nil || urls(eps) != want || eps[0].Mirror || eps[0].Capabilities != CapAll {
			t.Errorf("%s: %s %v, want %s", host, urls(eps), err, want)
		}
	}
	c.PlainHTTP = []string{"insecure.example", "other.example:5000"}
	for host, want := range map[string]string{
		"insecure.example:1234": "http://insecure.example:1234/v2",
		"other.example:5000":    "http://other.example:5000/v2",
		"other.example:5001":    "https://other.example:5001/v2",
	} {
		eps, _ := c.Endpoints(host)
		if urls(eps) != want {
			t.Errorf("plain-http %s: %s, want %s", host, urls(eps), want)
		}
	}
}

func TestHostsTOMLAndMirrors(t *testing.T) {
	dir := t.TempDir()
	hd := write(t, dir, "docker.io", `
server = "https://registry-1.docker.io"
capabilities = ["pull", "resolve", "push"]

[host."https://mirror-b.example"]
  capabilities = ["pull", "resolve"]
  ca = "mirror-ca.pem"
  [host."https://mirror-b.example".header]
    x-custom = "1"

[host."http://10.0.0.1:5000/proxy"]
  capabilities = ["pull"]

[host."https://a.example/custom/api"]
  override_path = true
  skip_verify = true
  client = [["c.pem", "k.pem"]]
`)
	c := Config{Dir: dir, Mirrors: map[string][]string{"docker.io": {"mirror-c.example", "http://127.0.0.1:6000"}}}
	eps, err := c.Endpoints("docker.io")
	if err != nil {
		t.Fatal(err)
	}
	want := "https://mirror-b.example/v2 http://10.0.0.1:5000/proxy/v2 https://a.example/custom/api https://mirror-c.example/v2 http://127.0.0.1:6000/v2 https://registry-1.docker.io/v2"
	if urls(eps) != want {
		t.Fatalf("order:\n got %s\nwant %s", urls(eps), want)
	}
	if eps[0].Capabilities != CapPull|CapResolve || eps[0].CAFiles[0] != filepath.Join(hd, "mirror-ca.pem") || eps[0].Header.Get("X-Custom") != "1" || !eps[0].Mirror {
		t.Errorf("mirror-b: %+v", eps[0])
	}
	if eps[1].Capabilities != CapPull {
		t.Errorf("capabilities: %+v", eps[1])
	}
	if !eps[2].SkipVerify || eps[2].ClientCerts[0] != [2]string{filepath.Join(hd, "c.pem"), filepath.Join(hd, "k.pem")} || eps[2].Capabilities != CapAll {
		t.Errorf("a.example: %+v", eps[2])
	}
	if eps[3].Capabilities != CapPull|CapResolve || eps[3].Source != "config mirrors" {
		t.Errorf("config mirror: %+v", eps[3])
	}
	if eps[5].Mirror || eps[5].Upstream != "docker.io" {
		t.Errorf("upstream: %+v", eps[5])
	}
	s := eps[0].String()
	if !strings.Contains(s, "https://mirror-b.example/v2") || !strings.Contains(s, "pull,resolve") || !strings.Contains(s, "mirror") || !strings.Contains(s, "hosts.toml") {
		t.Errorf("String: %s", s)
	}
}

func TestCertsDirMakesLoopbackHTTPS(t *testing.T) {
	dir := t.TempDir()
	hd := write(t, dir, "127.0.0.1:5443", "")
	if err := os.WriteFile(filepath.Join(hd, "ca.crt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	eps, err := Config{Dir: dir}.Endpoints("127.0.0.1:5443")
	if err != nil || urls(eps) != "https://127.0.0.1:5443/v2" || eps[0].CAFiles[0] != filepath.Join(hd, "ca.crt") {
		t.Fatalf("%v %v", eps, err)
	}
	if _, err := eps[0].TLSConfig(); err == nil || !strings.Contains(err.Error(), "no PEM") {
		t.Fatalf("bad CA: %v", err)
	}
	// A client certificate without its key is an error naming the file.
	if err := os.WriteFile(filepath.Join(hd, "client.cert"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (Config{Dir: dir}).Endpoints("127.0.0.1:5443"); err == nil || !strings.Contains(err.Error(), "client.key") {
		t.Fatalf("cert without key: %v", err)
	}
}

func TestDefaultDir(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "_default", `[host."https://everything.example"]
capabilities = ["pull", "resolve"]
`)
	write(t, dir, "own.example", `server = "https://own.example:8443"`)
	eps, err := Config{Dir: dir}.Endpoints("any.example")
	if err != nil || urls(eps) != "https://everything.example/v2 https://any.example/v2" {
		t.Fatalf("_default: %s %v", urls(eps), err)
	}
	eps, err = Config{Dir: dir}.Endpoints("own.example")
	if err != nil || urls(eps) != "https://own.example:8443/v2" {
		t.Fatalf("own: %s %v", urls(eps), err)
	}
}

func TestBadHostsTOML(t *testing.T) {
	for name, content := range map[string]string{
		"syntax":       `server = `,
		"unknown key":  `sever = "https://x"`,
		"capability":   `[host."https://m"]` + "\ncapabilities = [\"fetch\"]",
		"scheme":       `server = "ftp://x"`,
		"ca type":      `[host."https://m"]` + "\nca = 3",
		"client shape": `[host."https://m"]` + "\nclient = [[\"a\"]]",
		"no host":      `[host."https://"]`,
	} {
		dir := t.TempDir()
		write(t, dir, "r.example", content)
		_, err := Config{Dir: dir}.Endpoints("r.example")
		if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "hosts.toml") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := (Config{Mirrors: map[string][]string{"x.example": {"ftp://m"}}}).Endpoints("x.example"); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "mirrors") {
		t.Errorf("bad mirror: %v", err)
	}
}

func FuzzParseFile(f *testing.F) {
	f.Add([]byte(`server = "https://r"
[host."https://m"]
capabilities = ["pull"]
ca = ["a", "b"]
client = ["c", "k"]
header = { a = ["1", "2"] }
`))
	f.Add([]byte(`[host."http://h:1/p"]
override_path = true`))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseFile(data, "/d", "/d/hosts.toml")
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("error of wrong kind: %v", err)
			}
			return
		}
		for _, e := range file.Hosts {
			if e.Scheme != "http" && e.Scheme != "https" || e.Host == "" {
				t.Fatalf("bad endpoint %+v", e)
			}
			_ = e.String()
		}
	})
}

func TestValidate(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	good := Config{Dir: "/nonexistent", Mirrors: map[string][]string{"docker.io": {"https://m.example", "m2.example:5000"}}, PlainHTTP: []string{"r.example:5000"}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Config{
		"mirror url":  {Mirrors: map[string][]string{"docker.io": {"ftp://x"}}},
		"mirror host": {Mirrors: map[string][]string{"": {"https://x"}}},
		"plain_http":  {PlainHTTP: []string{"http://x"}},
		"skip_verify": {SkipVerify: []string{""}},
		"dir":         {Dir: f},
	} {
		if err := c.Validate(); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), strings.Split(name, " ")[0]) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
