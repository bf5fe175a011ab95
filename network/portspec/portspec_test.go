package portspec

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-containers/berth/internal/errdefs"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want []Mapping
	}{
		{"80", []Mapping{{ContainerPort: 80, Protocol: "tcp"}}},
		{"8080:80", []Mapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}},
		{"127.0.0.1:18080:80", []Mapping{{HostIP: "127.0.0.1", HostPort: 18080, ContainerPort: 80, Protocol: "tcp"}}},
		{"0.0.0.0:53:53/udp", []Mapping{{HostIP: "0.0.0.0", HostPort: 53, ContainerPort: 53, Protocol: "udp"}}},
		{"127.0.0.1::80", []Mapping{{HostIP: "127.0.0.1", ContainerPort: 80, Protocol: "tcp"}}},
		{"[::1]:8080:80/TCP", []Mapping{{HostIP: "::1", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}},
		{"[::1]::80", []Mapping{{HostIP: "::1", ContainerPort: 80, Protocol: "tcp"}}},
		{"8000-8001:80-81", []Mapping{
			{HostPort: 8000, ContainerPort: 80, Protocol: "tcp"},
			{HostPort: 8001, ContainerPort: 81, Protocol: "tcp"}}},
		{"65535:1/udp", []Mapping{{HostPort: 65535, ContainerPort: 1, Protocol: "udp"}}},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", c.in, got, c.want)
		}
		// Round trip.
		for _, m := range got {
			back, err := Parse(m.String())
			if err != nil || len(back) != 1 || back[0] != m {
				t.Errorf("round trip of %+v via %q: %+v, %v", m, m.String(), back, err)
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]string{
		"70000:80":          `invalid port spec "70000:80": host port 70000 out of range 1-65535`,
		"80:0":              `invalid port spec "80:0": container port 0 out of range 1-65535`,
		"":                  `invalid port spec "": empty`,
		"80/sctp":           `invalid port spec "80/sctp": protocol "sctp": must be tcp or udp`,
		"abc:80":            `invalid port spec "abc:80": host port "abc" is not a number`,
		"1.2.3:80:80":       `invalid port spec "1.2.3:80:80": host address "1.2.3" is not an IP address`,
		"8000-8002:80-81":   `invalid port spec "8000-8002:80-81": host range 8000-8002 has 3 ports but container range 80-81 has 2`,
		"90-80":             `invalid port spec "90-80": container port range 90-80: end 80 is before start 90`,
		"1:2:3:4":           `invalid port spec "1:2:3:4": too many ':' (want [ip:]hostPort:containerPort[/tcp|udp])`,
		"::1:80:80":         `invalid port spec "::1:80:80": too many ':' (want [ip:]hostPort:containerPort[/tcp|udp])`,
		"[::1:80:80":        `invalid port spec "[::1:80:80": missing ']' after IPv6 address`,
		"8080:":             `invalid port spec "8080:": container port is empty`,
		"99999999999999:80": `invalid port spec "99999999999999:80": host port 99999999999999 out of range 1-65535`,
		":80":               `invalid port spec ":80": host port is empty`,
	}
	for in, want := range cases {
		_, err := Parse(in)
		if err == nil {
			t.Errorf("Parse(%q): no error", in)
			continue
		}
		if err.Error() != want {
			t.Errorf("Parse(%q) error\n got %s\nwant %s", in, err, want)
		}
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("Parse(%q): error is not ErrInvalidArgument", in)
		}
	}
}

func TestParseAllDuplicate(t *testing.T) {
	_, err := ParseAll([]string{"8080:80", "127.0.0.1:9090:90", "8079-8080:70-71"})
	if err == nil || !strings.Contains(err.Error(), `host port 8080/tcp already published by "8080:80"`) {
		t.Fatalf("duplicate host port: %v", err)
	}
	ms, err := ParseAll([]string{"8080:80", "8080:80/udp", "127.0.0.1:8080:80"})
	if err != nil || len(ms) != 3 {
		t.Fatalf("distinct protocol/address: %v %v", ms, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"80", "8080:80", "127.0.0.1:1:2/udp", "[::1]:1-2:3-4", "1-65535", "a:b:c:d", "[", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := Parse(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid port spec ") || !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("bad error for %q: %v", s, err)
			}
			return
		}
		if len(ms) == 0 || len(ms) > 65535 {
			t.Fatalf("%q: %d mappings", s, len(ms))
		}
		for _, m := range ms {
			if m.ContainerPort < 1 || m.ContainerPort > 65535 || m.HostPort < 0 || m.HostPort > 65535 {
				t.Fatalf("%q: port out of range: %+v", s, m)
			}
			if m.Protocol != "tcp" && m.Protocol != "udp" {
				t.Fatalf("%q: protocol %q", s, m.Protocol)
			}
			back, err := Parse(m.String())
			if err != nil || len(back) != 1 || back[0] != m {
				t.Fatalf("%q: round trip of %+v via %q: %+v %v", s, m, m.String(), back, err)
			}
		}
	})
}
