package platforms

import (
	"fmt"
	"runtime"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/internal/errdefs"
)

// Default is the host's platform: linux on runtime.GOARCH (arm as v7).
func Default() ocispec.Platform {
	return Normalize(ocispec.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH})
}

// Format writes os/arch[/variant].
func Format(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Normalize maps aliases to the OCI names: x86_64 → amd64, aarch64 → arm64
// (variant v8 dropped, the default), armhf → arm/v7, armel → arm/v6, i386 → 386.
func Normalize(p ocispec.Platform) ocispec.Platform {
	p.OS = strings.ToLower(p.OS)
	if p.OS == "macos" {
		p.OS = "darwin"
	}
	arch, variant := strings.ToLower(p.Architecture), strings.ToLower(p.Variant)
	switch arch {
	case "x86_64", "x86-64", "amd64":
		arch = "amd64"
		if variant == "v1" {
			variant = ""
		}
	case "i386", "i686", "386":
		arch, variant = "386", ""
	case "aarch64", "arm64":
		arch = "arm64"
		if variant == "8" || variant == "v8" {
			variant = ""
		}
	case "armhf":
		arch, variant = "arm", "v7"
	case "armel":
		arch, variant = "arm", "v6"
	case "arm":
		switch variant {
		case "", "7":
			variant = "v7"
		case "5", "6", "8":
			variant = "v" + variant
		}
	}
	p.Architecture, p.Variant = arch, variant
	return p
}

// Parse reads "os/arch[/variant]", or "arch" alone (os linux).
func Parse(s string) (ocispec.Platform, error) {
	parts := strings.Split(s, "/")
	bad := func(why string) (ocispec.Platform, error) {
		return ocispec.Platform{}, fmt.Errorf("platform %q: %s (want os/arch[/variant], e.g. linux/arm64): %w", s, why, errdefs.ErrInvalidArgument)
	}
	for _, p := range parts {
		if p == "" {
			return bad("empty component")
		}
		for _, c := range p {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
				return bad(fmt.Sprintf("character %q not allowed", c))
			}
		}
	}
	var p ocispec.Platform
	switch len(parts) {
	case 1:
		p = ocispec.Platform{OS: "linux", Architecture: parts[0]}
	case 2:
		p = ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	case 3:
		p = ocispec.Platform{OS: parts[0], Architecture: parts[1], Variant: parts[2]}
	default:
		return bad("too many components")
	}
	return Normalize(p), nil
}

// Match reports whether have (from an index) serves want: same OS and
// architecture after normalisation, and the same variant, except that arm
// hosts also run older arm variants (v7 runs v6 and v5) and a want without
// variant accepts any.
func Match(want, have ocispec.Platform) bool {
	w, h := Normalize(want), Normalize(have)
	if w.OS != h.OS || w.Architecture != h.Architecture {
		return false
	}
	if w.Variant == "" || w.Variant == h.Variant {
		return true
	}
	return w.Architecture == "arm" && armLevel(h.Variant) > 0 && armLevel(h.Variant) <= armLevel(w.Variant)
}

func armLevel(v string) int {
	switch v {
	case "v5":
		return 5
	case "v6":
		return 6
	case "v7":
		return 7
	case "v8":
		return 8
	}
	return 0
}

// Select returns the manifest of idx that fits want best: an exact match
// first (in index order), else the newest compatible arm variant. Manifests
// without a platform are skipped. With none, it returns an ErrNotFound error
// listing the platforms the index has.
func Select(idx ocispec.Index, want ocispec.Platform) (ocispec.Descriptor, error) {
	w := Normalize(want)
	var have []string
	best, bestLevel := -1, 0
	for i, d := range idx.Manifests {
		if d.Platform == nil {
			continue
		}
		h := Normalize(*d.Platform)
		have = append(have, Format(h))
		if !Match(w, h) {
			continue
		}
		if h.Variant == w.Variant || w.Variant == "" {
			return d, nil
		}
		if l := armLevel(h.Variant); l > bestLevel {
			best, bestLevel = i, l
		}
	}
	if best >= 0 {
		return idx.Manifests[best], nil
	}
	return ocispec.Descriptor{}, fmt.Errorf("no manifest for platform %s (the index has: %s): %w", Format(w), strings.Join(have, ", "), errdefs.ErrNotFound)
}
