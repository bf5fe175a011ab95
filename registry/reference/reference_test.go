package reference

import (
	"errors"
	"strings"
	"testing"

	"github.com/berth-containers/berth/internal/errdefs"
)

const hexA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func TestParseNormalized(t *testing.T) {
	cases := []struct {
		in, full, familiar, domain, path, tag string
	}{
		{"busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io", "library/busybox", "latest"},
		{"busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36", "docker.io", "library/busybox", "1.36"},
		{"library/busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io", "library/busybox", "latest"},
		{"user/app:v1", "docker.io/user/app:v1", "user/app:v1", "docker.io", "user/app", "v1"},
		{"index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io", "library/busybox", "latest"},
		{"index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io", "library/busybox", "latest"},
		{"docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest", "docker.io", "library/a/b", "latest"},
		{"127.0.0.1:5000/busybox:latest", "127.0.0.1:5000/busybox:latest", "127.0.0.1:5000/busybox:latest", "127.0.0.1:5000", "busybox", "latest"},
		{"localhost/foo", "localhost/foo:latest", "localhost/foo:latest", "localhost", "foo", "latest"},
		{"[::1]:5000/a/b-c__d.e:t_1", "[::1]:5000/a/b-c__d.e:t_1", "[::1]:5000/a/b-c__d.e:t_1", "[::1]:5000", "a/b-c__d.e", "t_1"},
		{"ghcr.io/org/img", "ghcr.io/org/img:latest", "ghcr.io/org/img:latest", "ghcr.io", "org/img", "latest"},
		{"Registry.Example.COM/x", "Registry.Example.COM/x:latest", "Registry.Example.COM/x:latest", "Registry.Example.COM", "x", "latest"},
	}
	for _, c := range cases {
		n, err := ParseNormalized(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if n.String() != c.full || n.Familiar() != c.familiar || n.Domain != c.domain || n.Path != c.path || n.Tag != c.tag {
			t.Errorf("%q: got %+v full=%q familiar=%q", c.in, n, n.String(), n.Familiar())
		}
	}
}

func TestDigestReferences(t *testing.T) {
	n, err := ParseNormalized("busybox@" + hexA)
	if err != nil {
		t.Fatal(err)
	}
	if n.Tag != "" || n.Digest.String() != hexA || n.Object() != hexA || n.String() != "docker.io/library/busybox@"+hexA {
		t.Fatalf("got %+v %s", n, n)
	}
	n, err = ParseNormalized("127.0.0.1:5000/a:v1@" + hexA)
	if err != nil {
		t.Fatal(err)
	}
	if n.Tag != "v1" || n.Object() != hexA || n.Familiar() != "127.0.0.1:5000/a:v1@"+hexA {
		t.Fatalf("got %+v", n)
	}
}

func TestParseRequiresDomain(t *testing.T) {
	if _, err := Parse("busybox"); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Parse(busybox) = %v, want invalid argument", err)
	}
	n, err := Parse("localhost:5000/x")
	if err != nil || n.Tag != "" || n.Domain != "localhost:5000" {
		t.Fatalf("got %+v %v", n, err)
	}
}

func TestInvalid(t *testing.T) {
	cases := map[string]string{
		"":                                    "empty",
		"Busybox":                             "uppercase",
		"busybox:":                            "tag",
		"busybox:-x":                          "tag",
		"busybox:" + strings.Repeat("a", 129): "tag",
		"busybox@sha256:abc":                  "digest",
		"busybox@md5:abc":                     "digest",
		"a//b":                                "empty",
		"a/b_.c":                              "adjacent",
		"a/b___c":                             "'_'",
		"a/-b":                                "start",
		"a/b-":                                "end",
		"host:port/x":                         "port",
		"host:/x":                             "empty port",
		"[::1/x":                              "unclosed",
		"[1.2.3.4]:5/x":                       "IPv6",
		"ho_st.com/x":                         "not allowed",
		"-h.com/x":                            "label",
		"x.com/" + strings.Repeat("a", 260):   "longer",
		"a b":                                 "not allowed",
		"x.com:99999999/a":                    "range",
	}
	for in, want := range cases {
		_, err := ParseNormalized(in)
		if err == nil {
			t.Errorf("%q: parsed, want error mentioning %q", in, want)
			continue
		}
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %q, want invalid argument mentioning %q", in, err, want)
		}
	}
}

func TestLoopback(t *testing.T) {
	for h, want := range map[string]bool{
		"localhost": true, "localhost:5000": true, "127.0.0.1": true, "127.1.2.3:80": true,
		"[::1]:5000": true, "::1": true, "docker.io": false, "10.0.0.1:5000": false, "[::2]:1": false,
		"LOCALHOST": true,
	} {
		if got := IsLoopbackHost(h); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v", h, got)
		}
	}
}

func FuzzParseNormalized(f *testing.F) {
	for _, s := range []string{"busybox", "a/b:c", "127.0.0.1:5000/x@" + hexA, "[::1]:1/a", "index.docker.io/x", "a__b/c.d-e:f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNormalized(s)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("%q: error of wrong kind: %v", s, err)
			}
			return
		}
		// The canonical form parses back to itself, as does the familiar one.
		again, err := ParseNormalized(n.String())
		if err != nil || again != n {
			t.Fatalf("%q → %q → %+v, %v", s, n.String(), again, err)
		}
		fam, err := ParseNormalized(n.Familiar())
		if err != nil || fam != n {
			t.Fatalf("%q familiar %q → %+v, %v", s, n.Familiar(), fam, err)
		}
	})
}
