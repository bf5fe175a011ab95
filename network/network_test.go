package network

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-containers/berth/internal/errdefs"
)

func TestParseNetworkMode(t *testing.T) {
	cases := map[string]Mode{
		"":              {Kind: ModeBridge, Network: "bridge"},
		"bridge":        {Kind: ModeBridge, Network: "bridge"},
		"none":          {Kind: ModeNone},
		"host":          {Kind: ModeHost},
		"container:abc": {Kind: ModeContainer, Container: "abc"},
		"mynet":         {Kind: ModeNamed, Network: "mynet"},
	}
	for in, want := range cases {
		got, err := ParseNetworkMode(in)
		if err != nil || got != want {
			t.Errorf("ParseNetworkMode(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"container:", "-x", "a b", strings.Repeat("n", 65)} {
		_, err := ParseNetworkMode(bad)
		if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Errorf("ParseNetworkMode(%q): %v", bad, err)
		}
	}
	if m, _ := ParseNetworkMode("host"); m.NeedsNetNS() || m.Networks() != nil {
		t.Errorf("host mode needs no netns and no networks")
	}
	if m, _ := ParseNetworkMode("x1"); !m.NeedsNetNS() || !reflect.DeepEqual(m.Networks(), []string{"x1"}) || m.String() != "x1" {
		t.Errorf("named mode: %+v", m)
	}
}

func TestParseSubnet(t *testing.T) {
	p, gw, err := parseSubnet("10.1.2.0/24", "")
	if err != nil || p.String() != "10.1.2.0/24" || gw.String() != "10.1.2.1" {
		t.Fatalf("%v %v %v", p, gw, err)
	}
	if _, gw, err := parseSubnet("10.1.2.0/24", "10.1.2.254"); err != nil || gw.String() != "10.1.2.254" {
		t.Fatalf("gateway: %v %v", gw, err)
	}
	for _, c := range []struct{ sub, gw, want string }{
		{"10.1.2.0", "", `subnet "10.1.2.0": not a CIDR prefix`},
		{"10.1.2.3/24", "", `subnet "10.1.2.3/24": host bits set (did you mean 10.1.2.0/24?)`},
		{"fd00::/64", "", `only IPv4`},
		{"10.0.0.0/31", "", `prefix length must be 8-30`},
		{"10.1.2.0/24", "10.1.3.1", `gateway "10.1.3.1": not a usable address in subnet 10.1.2.0/24`},
		{"10.1.2.0/24", "10.1.2.255", `not a usable address`},
		{"10.1.2.0/24", "x", `gateway "x": not an IP address`},
	} {
		_, _, err := parseSubnet(c.sub, c.gw)
		if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseSubnet(%q, %q): %v, want %q", c.sub, c.gw, err, c.want)
		}
	}
}

func TestSplitRule(t *testing.T) {
	got, err := splitRule(`-A POSTROUTING -s 10.0.0.2/32 -m comment --comment "name: \"bridge\" id: \"abc\"" -j CNI-123`)
	want := []string{"-A", "POSTROUTING", "-s", "10.0.0.2/32", "-m", "comment", "--comment", `name: "bridge" id: "abc"`, "-j", "CNI-123"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, %v", got, err)
	}
	if !ruleHasComment(got, []string{`name: "bridge" id: "abc"`}) || ruleHasComment(got, []string{`name: "other" id: "abc"`}) {
		t.Fatal("comment match")
	}
	if _, err := splitRule(`-A X --comment "open`); err == nil {
		t.Fatal("unterminated quote accepted")
	}
}

func FuzzSplitRule(f *testing.F) {
	f.Add(`-A POSTROUTING -m comment --comment "name: \"b\" id: \"c\"" -j CNI-1`)
	f.Add(`"" \ "\`)
	f.Fuzz(func(t *testing.T, s string) {
		args, err := splitRule(s)
		if err != nil {
			return
		}
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a) + `"`
		}
		again, err := splitRule(strings.Join(quoted, " "))
		if err != nil || !reflect.DeepEqual(again, args) && !(len(again) == 0 && len(args) == 0) {
			t.Fatalf("%q: %q re-split as %q (%v)", s, args, again, err)
		}
	})
}

func FuzzParseNetworkMode(f *testing.F) {
	for _, s := range []string{"", "bridge", "none", "host", "container:x", "net1", "a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseNetworkMode(s)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		back, err := ParseNetworkMode(m.String())
		if err != nil || back != m {
			t.Fatalf("%q: round trip %+v -> %q -> %+v %v", s, m, m.String(), back, err)
		}
	})
}

// TestManagerNetworks covers network definitions only (no plugin runs):
// validation, defaults, subnet picking, overlap errors naming both networks,
// and that bad input writes nothing.
func TestManagerNetworks(t *testing.T) {
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		t.Fatalf("Debian's containernetworking-plugins is needed (/usr/lib/cni/bridge): %v", err)
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	m, err := New(Config{Root: root, State: filepath.Join(dir, "state"), DefaultSubnet: "10.231.0.0/24", DefaultBridge: "bu-test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	def, err := m.Inspect(ctx, DefaultNetworkName)
	if err != nil || def.Subnet != "10.231.0.0/24" || def.Gateway != "10.231.0.1" || def.Bridge != "bu-test" || def.Driver != "bridge" {
		t.Fatalf("default network: %+v %v", def, err)
	}
	// Auto subnets come from 10.89.0.0/16, skipping ones in use (other
	// packages' tests may have bridges there, so no exact value is assumed).
	auto := netip.MustParsePrefix("10.89.0.0/16")
	n1, err := m.Create(ctx, NetworkSpec{Name: "auto"})
	if err != nil || !auto.Contains(netip.MustParsePrefix(n1.Subnet).Addr()) || netip.MustParsePrefix(n1.Subnet).Bits() != 24 {
		t.Fatalf("auto subnet: %+v %v", n1, err)
	}
	n2, err := m.Create(ctx, NetworkSpec{Name: "auto2", Internal: true})
	if err != nil || !auto.Contains(netip.MustParsePrefix(n2.Subnet).Addr()) || n2.Subnet == n1.Subnet || !n2.Internal {
		t.Fatalf("second auto subnet: %+v %v", n2, err)
	}
	_, err = m.Create(ctx, NetworkSpec{Name: "wide", Subnet: n1.Subnet})
	if !errdefs.IsAlreadyExists(err) || !strings.Contains(err.Error(), `subnet `+n1.Subnet+` overlaps subnet `+n1.Subnet+` of network "auto"`) {
		t.Fatalf("overlap: %v", err)
	}
	// A subnet overlapping a host route (on an interface not ours) is refused.
	data, _ := os.ReadFile("/proc/net/route")
	var host *hostRoute
	for _, r := range parseRoutes(string(data)) {
		if !strings.HasPrefix(r.Prefix.Addr().String(), "10.") && r.Prefix.Bits() >= 8 && r.Prefix.Bits() <= 30 {
			r := r
			host = &r
			break
		}
	}
	if host == nil {
		t.Fatalf("no IPv4 host route outside 10/8 in /proc/net/route to test against:\n%s", data)
	}
	_, err = m.Create(ctx, NetworkSpec{Name: "onhost", Subnet: host.Prefix.String()})
	if !errdefs.IsAlreadyExists(err) || !strings.Contains(err.Error(), "overlaps the host's route "+host.Prefix.String()+" on "+host.Iface) {
		t.Fatalf("subnet on a host route: %v", err)
	}
	bad := []struct {
		spec NetworkSpec
		want string
	}{
		{NetworkSpec{Name: ""}, "network name is empty"},
		{NetworkSpec{Name: "none"}, `network name "none": reserved`},
		{NetworkSpec{Name: "a/b"}, `network name "a/b": invalid character '/'`},
		{NetworkSpec{Name: "ok", Driver: "macvlan"}, `driver "macvlan": only "bridge"`},
		{NetworkSpec{Name: "ok", Gateway: "10.1.1.1"}, `gateway "10.1.1.1" given without a subnet`},
		{NetworkSpec{Name: "ok", Subnet: "300.0.0.0/8"}, `subnet "300.0.0.0/8"`},
		{NetworkSpec{Name: "ok", Labels: map[string]string{"": "x"}}, "label with an empty key"},
	}
	for _, b := range bad {
		_, err := m.Create(ctx, b.spec)
		if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), b.want) {
			t.Errorf("Create(%+v): %v, want %q", b.spec, err, b.want)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(root, "networks"))
	if len(ents) != 3 {
		t.Fatalf("networks dir has %d entries after bad creates, want 3", len(ents))
	}
	// A restarted manager sees the same networks.
	m2, err := New(Config{Root: root, State: filepath.Join(dir, "state"), DefaultSubnet: "10.231.0.0/24", DefaultBridge: "bu-test"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := m2.List(ctx)
	if err != nil || len(l) != 3 || l[0].Name != "auto" || l[1].Name != "auto2" || l[2].Name != "bridge" || l[2].ID != def.ID {
		t.Fatalf("list after restart: %+v %v", l, err)
	}
	if err := m2.Remove(ctx, "auto"); err != nil {
		t.Fatal(err)
	}
	if err := m2.Remove(ctx, "auto"); !errdefs.IsNotFound(err) {
		t.Fatalf("remove twice: %v", err)
	}
	if _, err := New(Config{Root: root}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("no state dir: %v", err)
	}
	if _, err := New(Config{Root: root, State: dir, PluginDirs: []string{dir}}); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("no plugins: %v", err)
	}
}

func TestParseRoutes(t *testing.T) {
	data := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"br0\t0000580A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n" +
		"junk\n"
	got := parseRoutes(data)
	want := []hostRoute{{"eth0", netip.MustParsePrefix("192.0.2.0/24")}, {"br0", netip.MustParsePrefix("10.88.0.0/16")}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
}

func FuzzParseRoutes(f *testing.F) {
	f.Add("Iface\tDestination\n eth0 000200C0 0 0 0 0 0 00FFFFFF\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, r := range parseRoutes(s) {
			if !r.Prefix.IsValid() || r.Prefix.Bits() == 0 {
				t.Fatalf("bad route %+v", r)
			}
		}
	})
}
