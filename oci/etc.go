package oci

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-containers/berth/internal/atomicfile"
	"github.com/berth-containers/berth/internal/errdefs"
)

// EtcOptions describes the /etc/hosts, /etc/resolv.conf and /etc/hostname
// a container gets.
type EtcOptions struct {
	Hostname   string
	Domainname string
	// IPs are the container's addresses (from the network attach); each gets
	// a hosts line with the hostname.
	IPs []string
	// ExtraHosts are --add-host values "name:ip".
	ExtraHosts []string
	DNS        []string // nameservers replacing the host's
	DNSSearch  []string
	DNSOptions []string
	// HostNetwork: the container shares the host's network, so it gets
	// copies of the host's hosts and resolv.conf files as they are.
	HostNetwork bool
	// HostResolvConf and HostHosts default to /etc/resolv.conf and /etc/hosts.
	HostResolvConf string
	HostHosts      string
}

// Default nameservers when the host's are all loopback (unreachable from
// a container's own network namespace), as Docker does.
var defaultNameservers = []string{"8.8.8.8", "8.8.4.4"}

// Names of the files WriteEtcFiles writes (and Generate bind-mounts).
const (
	EtcHosts      = "hosts"
	EtcResolvConf = "resolv.conf"
	EtcHostname   = "hostname"
)

// WriteEtcFiles writes hosts, resolv.conf and hostname into dir (created
// 0700 if missing), each atomically (temp file, fsync, rename). On error
// nothing it wrote is left in dir.
func WriteEtcFiles(dir string, o EtcOptions) error {
	if o.Hostname == "" {
		return fmt.Errorf("etc files: hostname is empty: %w", errdefs.ErrInvalidArgument)
	}
	if err := checkHostname(o.Hostname); err != nil {
		return err
	}
	hostResolv := o.HostResolvConf
	if hostResolv == "" {
		hostResolv = "/etc/resolv.conf"
	}
	hostHosts := o.HostHosts
	if hostHosts == "" {
		hostHosts = "/etc/hosts"
	}
	extra, err := parseExtraHosts(o.ExtraHosts)
	if err != nil {
		return err
	}
	for _, d := range o.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			return flagErr(FlagDNS, d, "%s is not an ip address", d)
		}
	}
	for _, s := range append(append([]string(nil), o.DNSSearch...), o.DNSOptions...) {
		if strings.ContainsAny(s, " \t\n\x00") || s == "" {
			return fmt.Errorf("--dns-search/--dns-option %q: empty or contains whitespace: %w", s, errdefs.ErrInvalidArgument)
		}
	}

	var hosts strings.Builder
	if o.HostNetwork {
		data, err := os.ReadFile(hostHosts)
		if err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("etc files: read host %s: %w", hostHosts, err)
		}
		hosts.Write(data)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			hosts.WriteByte('\n')
		}
	} else {
		hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
		hosts.WriteString("fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	}
	for _, e := range extra {
		fmt.Fprintf(&hosts, "%s\t%s\n", e[1], e[0])
	}
	if !o.HostNetwork {
		names := o.Hostname
		if o.Domainname != "" {
			names = o.Hostname + "." + o.Domainname + " " + o.Hostname
		}
		for _, ip := range o.IPs {
			a, err := netip.ParseAddr(strings.Split(ip, "/")[0])
			if err != nil {
				return fmt.Errorf("etc files: container address %q: %w", ip, errdefs.ErrInvalidArgument)
			}
			fmt.Fprintf(&hosts, "%s\t%s\n", a, names)
		}
	}

	resolv, err := resolvConf(hostResolv, o)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("etc files %s: %w", dir, err)
	}
	files := []struct {
		name string
		data string
	}{
		{EtcHosts, hosts.String()},
		{EtcResolvConf, resolv},
		{EtcHostname, o.Hostname + "\n"},
	}
	for i, f := range files {
		if err := atomicfile.Write(filepath.Join(dir, f.name), []byte(f.data), 0o644); err != nil {
			for _, g := range files[:i] {
				os.Remove(filepath.Join(dir, g.name))
			}
			return fmt.Errorf("etc files: %w", err)
		}
	}
	return nil
}

// resolvConf builds the container's resolv.conf from the host's: loopback
// nameservers dropped (unless the container shares the host network),
// Docker's public defaults when none remain, --dns/--dns-search/--dns-option
// replacing the host's lines.
func resolvConf(hostPath string, o EtcOptions) (string, error) {
	data, err := os.ReadFile(hostPath)
	if err != nil && !os.IsNotExist(err) {
		return "", fmt.Errorf("etc files: read host %s: %w", hostPath, err)
	}
	var ns, search, options, other []string
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) < 2 {
				continue
			}
			a, err := netip.ParseAddr(strings.Split(f[1], "%")[0])
			if err == nil && a.IsLoopback() && !o.HostNetwork {
				continue
			}
			ns = append(ns, f[1])
		case "search", "domain":
			search = append(search, f[1:]...)
		case "options":
			options = append(options, f[1:]...)
		default:
			other = append(other, line)
		}
	}
	if len(o.DNS) > 0 {
		ns = o.DNS
	}
	if len(ns) == 0 && !o.HostNetwork {
		ns = defaultNameservers
	}
	if len(o.DNSSearch) > 0 {
		search = o.DNSSearch
		if len(search) == 1 && search[0] == "." {
			search = nil
		}
	}
	if len(o.DNSOptions) > 0 {
		options = o.DNSOptions
	}
	var b strings.Builder
	for _, n := range ns {
		fmt.Fprintf(&b, "nameserver %s\n", n)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	for _, l := range other {
		b.WriteString(l + "\n")
	}
	return b.String(), nil
}

// parseExtraHosts parses --add-host name:ip values.
func parseExtraHosts(list []string) ([][2]string, error) {
	var out [][2]string
	for _, h := range list {
		name, ip, ok := strings.Cut(h, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t\n\x00") {
			return nil, flagErr(FlagAddHost, h, "bad format for add-host: %q", h)
		}
		ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
		if _, err := netip.ParseAddr(ip); err != nil {
			return nil, flagErr(FlagAddHost, h, "invalid IP address in add-host: %q", ip)
		}
		out = append(out, [2]string{name, ip})
	}
	return out, nil
}

// checkHostname allows RFC 1123 host names (labels of letters, digits and
// '-', not starting or ending with '-'), at most 63 characters in all, as
// the kernel's UTS name must fit 64 bytes.
func checkHostname(h string) error {
	bad := func() error { return flagErr(FlagHostname, h, "invalid hostname format: %s", h) }
	if h == "" || len(h) > 63 {
		return bad()
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return bad()
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return bad()
			}
		}
	}
	return nil
}
