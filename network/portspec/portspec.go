package portspec

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/berth-containers/berth/internal/errdefs"
)

// Mapping publishes one container port on the host. HostPort 0 means "pick a
// free host port" (left to the caller; the portmap plugin needs a real one).
// HostIP "" means all host addresses. Protocol is "tcp" or "udp".
type Mapping struct {
	HostIP        string `json:"hostIP,omitempty"`
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
}

// String formats m as a spec Parse accepts.
func (m Mapping) String() string {
	host := ""
	if m.HostIP != "" {
		ip := m.HostIP
		if strings.Contains(ip, ":") {
			ip = "[" + ip + "]"
		}
		host = ip + ":"
	}
	if m.HostPort != 0 {
		host += strconv.Itoa(m.HostPort) + ":"
	} else if m.HostIP != "" {
		host += ":"
	}
	return fmt.Sprintf("%s%d/%s", host, m.ContainerPort, m.Protocol)
}

// Error is a rejected spec. It reads like docker's message
// (invalid port spec "70000:80": host port 70000 out of range 1-65535) and
// matches errdefs.ErrInvalidArgument with errors.Is.
type Error struct {
	Spec   string
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("invalid port spec %q: %s", e.Spec, e.Reason) }

// Unwrap makes the error an errdefs.ErrInvalidArgument.
func (e *Error) Unwrap() error { return errdefs.ErrInvalidArgument }

// maxSpecLen bounds the input; a port spec is never long.
const maxSpecLen = 128

// Parse parses one -p value. A range yields one Mapping per port; host and
// container ranges must have the same length (or the host part is a single
// port only when the container part is a single port too).
func Parse(spec string) ([]Mapping, error) {
	bad := func(format string, a ...any) error {
		return &Error{Spec: spec, Reason: fmt.Sprintf(format, a...)}
	}
	if spec == "" {
		return nil, bad("empty")
	}
	if len(spec) > maxSpecLen {
		return nil, bad("longer than %d characters", maxSpecLen)
	}
	rest, proto := spec, "tcp"
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		proto = strings.ToLower(rest[i+1:])
		rest = rest[:i]
		if proto != "tcp" && proto != "udp" {
			return nil, bad("protocol %q: must be tcp or udp", spec[strings.LastIndexByte(spec, '/')+1:])
		}
	}
	hostIP := ""
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return nil, bad("missing ']' after IPv6 address")
		}
		hostIP = rest[1:end]
		rest = rest[end+1:]
		if !strings.HasPrefix(rest, ":") {
			return nil, bad("expected ':' after host address [%s]", hostIP)
		}
		rest = rest[1:]
		if err := checkIP(hostIP, true); err != nil {
			return nil, bad("%v", err)
		}
	}
	parts := strings.Split(rest, ":")
	var hostPart, ctrPart string
	switch {
	case hostIP != "" && len(parts) == 1:
		// [v6]:container or [v6]::container handled below
		ctrPart = parts[0]
	case hostIP != "" && len(parts) == 2:
		hostPart, ctrPart = parts[0], parts[1]
	case hostIP == "" && len(parts) == 1:
		ctrPart = parts[0]
	case hostIP == "" && len(parts) == 2:
		hostPart, ctrPart = parts[0], parts[1]
		if hostPart == "" {
			return nil, bad("host port is empty")
		}
	case hostIP == "" && len(parts) == 3:
		hostIP, hostPart, ctrPart = parts[0], parts[1], parts[2]
		if hostIP == "" {
			return nil, bad("empty host address before ':'")
		}
		if err := checkIP(hostIP, false); err != nil {
			return nil, bad("%v", err)
		}
	default:
		return nil, bad("too many ':' (want [ip:]hostPort:containerPort[/tcp|udp])")
	}
	if ctrPart == "" {
		return nil, bad("container port is empty")
	}
	cLo, cHi, err := parseRange(ctrPart, "container")
	if err != nil {
		return nil, bad("%v", err)
	}
	hLo, hHi := 0, 0
	if hostPart != "" {
		if hLo, hHi, err = parseRange(hostPart, "host"); err != nil {
			return nil, bad("%v", err)
		}
		if hHi-hLo != cHi-cLo {
			return nil, bad("host range %s has %d ports but container range %s has %d", hostPart, hHi-hLo+1, ctrPart, cHi-cLo+1)
		}
	}
	out := make([]Mapping, 0, cHi-cLo+1)
	for i := 0; i <= cHi-cLo; i++ {
		m := Mapping{HostIP: hostIP, ContainerPort: cLo + i, Protocol: proto}
		if hostPart != "" {
			m.HostPort = hLo + i
		}
		out = append(out, m)
	}
	return out, nil
}

// ParseAll parses several -p values and rejects a host address, port and
// protocol published twice.
func ParseAll(specs []string) ([]Mapping, error) {
	var out []Mapping
	seen := map[string]string{}
	for _, s := range specs {
		ms, err := Parse(s)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if m.HostPort == 0 {
				out = append(out, m)
				continue
			}
			k := fmt.Sprintf("%s|%d|%s", m.HostIP, m.HostPort, m.Protocol)
			if prev, dup := seen[k]; dup {
				return nil, &Error{Spec: s, Reason: fmt.Sprintf("host port %d/%s already published by %q", m.HostPort, m.Protocol, prev)}
			}
			seen[k] = s
			out = append(out, m)
		}
	}
	return out, nil
}

func checkIP(s string, bracketed bool) error {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return fmt.Errorf("host address %q is not an IP address", s)
	}
	if a.Is6() && !a.Is4In6() && !bracketed {
		return fmt.Errorf("IPv6 host address %q must be written in brackets", s)
	}
	return nil
}

// parseRange parses "N" or "N-M" with 1 <= N <= M <= 65535.
func parseRange(s, what string) (int, int, error) {
	lo, hi := s, s
	if i := strings.IndexByte(s, '-'); i >= 0 {
		lo, hi = s[:i], s[i+1:]
	}
	l, err := parsePort(lo, what)
	if err != nil {
		return 0, 0, err
	}
	h, err := parsePort(hi, what)
	if err != nil {
		return 0, 0, err
	}
	if h < l {
		return 0, 0, fmt.Errorf("%s port range %s: end %d is before start %d", what, s, h, l)
	}
	return l, h, nil
}

func parsePort(s, what string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("%s port is empty", what)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%s port %q is not a number", what, s)
		}
	}
	if len(s) > 6 {
		return 0, fmt.Errorf("%s port %s out of range 1-65535", what, s)
	}
	n, _ := strconv.Atoi(s)
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("%s port %d out of range 1-65535", what, n)
	}
	return n, nil
}
