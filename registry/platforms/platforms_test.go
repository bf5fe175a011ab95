package platforms

import (
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/internal/errdefs"
)

func TestParseNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"linux/amd64":     "linux/amd64",
		"amd64":           "linux/amd64",
		"x86_64":          "linux/amd64",
		"linux/aarch64":   "linux/arm64",
		"linux/arm64/v8":  "linux/arm64",
		"linux/arm":       "linux/arm/v7",
		"linux/armhf":     "linux/arm/v7",
		"linux/arm/v6":    "linux/arm/v6",
		"linux/arm/6":     "linux/arm/v6",
		"Linux/AMD64":     "linux/amd64",
		"windows/amd64":   "windows/amd64",
		"linux/riscv64":   "linux/riscv64",
		"linux/386":       "linux/386",
		"linux/s390x":     "linux/s390x",
		"linux/ppc64le":   "linux/ppc64le",
		"linux/mips64le":  "linux/mips64le",
		"darwin/arm64/v8": "darwin/arm64",
	} {
		p, err := Parse(in)
		if err != nil || Format(p) != want {
			t.Errorf("%s: %s %v, want %s", in, Format(p), err, want)
		}
	}
	for _, bad := range []string{"", "/", "linux/", "a/b/c/d", "linux/am d64"} {
		if _, err := Parse(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if d := Default(); d.OS != "linux" || d.Architecture == "" {
		t.Errorf("default %+v", d)
	}
}

func TestSelect(t *testing.T) {
	idx := ocispec.Index{Manifests: []ocispec.Descriptor{
		{Digest: "sha256:0"},
		{Digest: "sha256:1", Platform: &ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}},
		{Digest: "sha256:2", Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
		{Digest: "sha256:3", Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}},
	}}
	for want, dg := range map[string]string{"linux/arm64": "sha256:2", "amd64": "sha256:3", "linux/arm/v6": "sha256:1", "linux/arm": "sha256:1"} {
		p, _ := Parse(want)
		d, err := Select(idx, p)
		if err != nil || string(d.Digest) != dg {
			t.Errorf("%s: %s %v, want %s", want, d.Digest, err, dg)
		}
	}
	p, _ := Parse("linux/s390x")
	if _, err := Select(idx, p); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "linux/arm64") {
		t.Errorf("missing platform: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"linux/amd64", "arm", "linux/arm/v7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(Format(p))
		if err != nil || Format(again) != Format(p) {
			t.Fatalf("%q → %q → %+v %v", s, Format(p), again, err)
		}
	})
}
