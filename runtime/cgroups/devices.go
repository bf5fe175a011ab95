package cgroups

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
)

// DeviceRuleV1 formats a rule as the v1 devices controller wants it:
// "<type> <major>:<minor> <access>", with "*" for a missing or -1 number and
// "a" (all devices) for type "a" or empty.
func DeviceRuleV1(r specs.LinuxDeviceCgroup) (string, error) {
	if err := ValidateDeviceRule(r); err != nil {
		return "", err
	}
	t := r.Type
	if t == "" {
		t = "a"
	}
	acc := r.Access
	if acc == "" {
		acc = "rwm"
	}
	if t == "a" && isWild(r.Major) && isWild(r.Minor) {
		// "a" alone is what the kernel documents for every device.
		return "a *:* " + acc, nil
	}
	return fmt.Sprintf("%s %s:%s %s", t, devPart(r.Major), devPart(r.Minor), acc), nil
}

func isWild(p *int64) bool { return p == nil || *p == -1 }

func devPart(p *int64) string {
	if isWild(p) {
		return "*"
	}
	return fmt.Sprint(*p)
}

// ValidateDeviceRule checks type (a, b, c or empty), access (a non-repeating
// subset of rwm, or empty for all), and major/minor (-1 for any, else >= 0).
func ValidateDeviceRule(r specs.LinuxDeviceCgroup) error {
	switch r.Type {
	case "", "a", "b", "c":
	default:
		return fmt.Errorf("type %q: want a, b or c: %w", r.Type, errdefs.ErrInvalidArgument)
	}
	seen := map[rune]bool{}
	for _, c := range r.Access {
		if !strings.ContainsRune("rwm", c) || seen[c] {
			return fmt.Errorf("access %q: want letters from \"rwm\", each once: %w", r.Access, errdefs.ErrInvalidArgument)
		}
		seen[c] = true
	}
	for _, n := range []struct {
		name string
		v    *int64
	}{{"major", r.Major}, {"minor", r.Minor}} {
		if n.v != nil && (*n.v < -1 || *n.v > 0xffffffff) {
			return fmt.Errorf("%s %d: want -1 (any) or 0..4294967295: %w", n.name, *n.v, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

func i64(v int64) *int64 { return &v }

// DefaultDeviceRules is the device allowlist a container gets besides its
// spec's own rules: deny all, then mknod of any device and read/write/mknod of
// the standard /dev nodes (null, zero, full, random, urandom, tty, console,
// ptmx, pts/*, net/tun). Callers append the spec's linux.resources.devices
// after these so later rules win.
func DefaultDeviceRules() []specs.LinuxDeviceCgroup {
	c := func(maj, min int64) specs.LinuxDeviceCgroup {
		return specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(maj), Minor: i64(min), Access: "rwm"}
	}
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(-1), Minor: i64(-1), Access: "m"},
		{Allow: true, Type: "b", Major: i64(-1), Minor: i64(-1), Access: "m"},
		c(1, 3), c(1, 5), c(1, 7), c(1, 8), c(1, 9), // null zero full random urandom
		c(5, 0), c(5, 1), c(5, 2), // tty console ptmx
		c(136, -1), // pts
		c(10, 200), // net/tun
	}
}

// validPageSize reports whether s reads like "2MB" or "64KB": digits without a
// leading zero, then a unit K, M, G, T, P or E and "B".
func validPageSize(s string) bool {
	n := len(s)
	if n < 3 || s[0] < '1' || s[0] > '9' || s[n-1] != 'B' || !strings.ContainsRune("KMGTPE", rune(s[n-2])) {
		return false
	}
	for _, c := range s[1 : n-2] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// validateCommon checks what does not depend on the cgroup version.
func validateCommon(r *specs.LinuxResources) error {
	for i, d := range r.Devices {
		if err := ValidateDeviceRule(d); err != nil {
			return fmt.Errorf("linux.resources.devices[%d]: %w", i, err)
		}
	}
	for i, h := range r.HugepageLimits {
		if !validPageSize(h.Pagesize) {
			return fmt.Errorf("linux.resources.hugepageLimits[%d].pageSize %q: want <number><K|M|G|...>B, e.g. 2MB: %w", i, h.Pagesize, errdefs.ErrInvalidArgument)
		}
	}
	for k, v := range r.Unified {
		if err := validateUnifiedKey(k); err != nil {
			return err
		}
		if strings.ContainsRune(v, 0) {
			return fmt.Errorf("linux.resources.unified[%q]: value contains NUL: %w", k, errdefs.ErrInvalidArgument)
		}
	}
	if m := r.Memory; m != nil && m.Swappiness != nil && *m.Swappiness > 100 {
		return fmt.Errorf("linux.resources.memory.swappiness: %d is above 100: %w", *m.Swappiness, errdefs.ErrInvalidArgument)
	}
	for dev := range r.Rdma {
		if dev == "" || strings.ContainsAny(dev, " \n\x00") {
			return fmt.Errorf("linux.resources.rdma[%q]: bad device name: %w", dev, errdefs.ErrInvalidArgument)
		}
	}
	if n := r.Network; n != nil {
		for i, p := range n.Priorities {
			if p.Name == "" || strings.ContainsAny(p.Name, " \n/\x00") {
				return fmt.Errorf("linux.resources.network.priorities[%d].name %q: bad interface name: %w", i, p.Name, errdefs.ErrInvalidArgument)
			}
		}
	}
	return nil
}

// validateUnifiedKey accepts "<controller>.<file>" names only: no path
// separators, no "..", and never the files that move processes or create
// delegation holes.
func validateUnifiedKey(k string) error {
	bad := k == "" || strings.ContainsAny(k, "/\x00") || strings.Contains(k, "..") || !strings.Contains(k, ".") ||
		strings.HasPrefix(k, ".")
	if !bad {
		switch k {
		case "cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.kill", "cgroup.freeze", "cgroup.type":
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("linux.resources.unified[%q]: not a settable cgroup file name (want controller.file, no '/' or '..'): %w", k, errdefs.ErrInvalidArgument)
	}
	return nil
}
