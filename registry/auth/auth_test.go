package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-containers/berth/internal/errdefs"
)

func TestParseChallenges(t *testing.T) {
	cases := map[string][]Challenge{
		`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"`: {
			{Scheme: "bearer", Params: map[string]string{"realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:library/busybox:pull"}},
		},
		`Basic realm="Registry Realm"`: {{Scheme: "basic", Params: map[string]string{"realm": "Registry Realm"}}},
		`basic realm=x, Bearer realm="r", error="invalid_token"`: {
			{Scheme: "basic", Params: map[string]string{"realm": "x"}},
			{Scheme: "bearer", Params: map[string]string{"realm": "r", "error": "invalid_token"}},
		},
		`Bearer realm="a\"b"`:            {{Scheme: "bearer", Params: map[string]string{"realm": `a"b`}}},
		`Bearer Realm = "r" , Service=s`: {{Scheme: "bearer", Params: map[string]string{"realm": "r", "service": "s"}}},
	}
	for in, want := range cases {
		got, err := ParseChallenges(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v %v\nwant %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{``, `   `, `Bearer realm="unterminated`, `=x`, strings.Repeat("a", MaxChallengeLength+1)} {
		if _, err := ParseChallenges(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: %v, want invalid argument", bad, err)
		}
	}
}

func FuzzParseChallenges(f *testing.F) {
	for _, s := range []string{`Bearer realm="x",service="y"`, `Basic realm=r, Bearer realm=q`, `Bearer realm="a\"b"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		chs, err := ParseChallenges(s)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("wrong error kind: %v", err)
			}
			return
		}
		for _, c := range chs {
			if c.Scheme == "" || c.Scheme != strings.ToLower(c.Scheme) {
				t.Fatalf("bad scheme %q", c.Scheme)
			}
		}
	})
}

func TestConfigStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "config.json")
	s := NewConfigStore(path)
	ctx := context.Background()
	if c, err := s.Get(ctx, "r.example"); err != nil || !c.Empty() {
		t.Fatalf("missing file: %+v %v", c, err)
	}
	if err := s.Store("r.example:5000", Credentials{Username: "u", Password: "p:w"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Store("docker.io", Credentials{Username: "hub", Password: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Store("id.example", Credentials{IdentityToken: "tok"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode: %v %v", fi, err)
	}
	for host, want := range map[string]Credentials{
		"r.example:5000":       {Username: "u", Password: "p:w"},
		"docker.io":            {Username: "hub", Password: "x"},
		"registry-1.docker.io": {Username: "hub", Password: "x"},
		"id.example":           {IdentityToken: "tok"},
		"r.example":            {},
	} {
		got, err := s.Get(ctx, host)
		if err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", host, got, err, want)
		}
	}
	// Docker's own layout: docker.io under its v1 URL, other keys kept.
	var raw map[string]json.RawMessage
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw["auths"]), "https://index.docker.io/v1/") {
		t.Fatalf("docker.io key: %s", raw["auths"])
	}
	b2 := strings.Replace(string(b), `"auths"`, `"credsStore": "none", "auths"`, 1)
	if err := os.WriteFile(path, []byte(b2), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Erase("r.example:5000"); err != nil {
		t.Fatal(err)
	}
	if err := s.Erase("r.example:5000"); !errdefs.IsNotFound(err) {
		t.Fatalf("second erase: %v", err)
	}
	b, _ = os.ReadFile(path)
	if !strings.Contains(string(b), "credsStore") || strings.Contains(string(b), "r.example:5000") {
		t.Fatalf("after erase: %s", b)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("temp files left: %v", ents)
	}
}

func TestConfigStoreBadInput(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	s := NewConfigStore(path)
	for name, content := range map[string]string{
		"json":     `{"auths": `,
		"auths":    `{"auths": []}`,
		"base64":   `{"auths": {"h": {"auth": "%%%"}}}`,
		"no colon": `{"auths": {"h": {"auth": "` + base64.StdEncoding.EncodeToString([]byte("nocolon")) + `"}}}`,
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(context.Background(), "h"); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v", name, err)
		}
		// A broken file is not overwritten by Store.
		if err := s.Store("h", Credentials{Username: "a"}); err == nil && name == "json" {
			t.Errorf("%s: Store overwrote a malformed file", name)
		}
	}
}

func FuzzConfigStoreGet(f *testing.F) {
	f.Add([]byte(`{"auths":{"h":{"auth":"dTpw"}}}`))
	f.Add([]byte(`{"auths":{"https://index.docker.io/v1/":{"identitytoken":"x"}},"credsStore":"y"}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "config.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s := NewConfigStore(path)
		for _, h := range []string{"h", "docker.io"} {
			if _, err := s.Get(context.Background(), h); err != nil && !errdefs.IsInvalidArgument(err) {
				t.Fatalf("wrong kind: %v", err)
			}
		}
	})
}
