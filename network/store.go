package network

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-containers/berth/internal/atomicfile"
	"github.com/berth-containers/berth/internal/errdefs"
)

// DefaultNetworkName is the network containers join unless told otherwise.
const DefaultNetworkName = "bridge"

// cniVersion is the CNI spec version Berth writes; Debian's plugins (1.1.1)
// speak up to 1.0.0.
const cniVersion = "1.0.0"

// meta is Berth's own description of a network, kept in the conflist under
// the "berth" key (libcni and the plugins ignore it).
type meta struct {
	ID       string            `json:"id"`
	Driver   string            `json:"driver"`
	Subnet   string            `json:"subnet"`
	Gateway  string            `json:"gateway"`
	Bridge   string            `json:"bridge"`
	Internal bool              `json:"internal,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Created  time.Time         `json:"created"`
}

// conflist is the on-disk form of a network.
type conflist struct {
	CNIVersion string           `json:"cniVersion"`
	Name       string           `json:"name"`
	Berth      meta             `json:"berth"`
	Plugins    []map[string]any `json:"plugins"`
}

// ValidateName checks a network name: 1-64 characters, [A-Za-z0-9] first,
// then [A-Za-z0-9_.-]; "none", "host" and "default" are reserved.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("network name is empty: %w", errdefs.ErrInvalidArgument)
	}
	if len(name) > 64 {
		return fmt.Errorf("network name %q: longer than 64 characters: %w", name, errdefs.ErrInvalidArgument)
	}
	for i, c := range name {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return fmt.Errorf("network name %q: must start with a letter or digit: %w", name, errdefs.ErrInvalidArgument)
		}
		if !alnum && c != '_' && c != '.' && c != '-' {
			return fmt.Errorf("network name %q: invalid character %q (allowed: letters, digits, '_', '.', '-'): %w", name, c, errdefs.ErrInvalidArgument)
		}
	}
	switch name {
	case "none", "host", "default":
		return fmt.Errorf("network name %q: reserved: %w", name, errdefs.ErrInvalidArgument)
	}
	return nil
}

// validateContainerID checks an ID used in file names and CNI arguments.
func validateContainerID(id string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("container id %q: must be 1-128 characters: %w", id, errdefs.ErrInvalidArgument)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') || id[0] == '.' {
			return fmt.Errorf("container id %q: invalid character %q: %w", id, c, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

func newID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// buildConflist makes the plugin chain for a network.
func buildConflist(name string, m meta, ipamDir string) conflist {
	ipam := map[string]any{
		"type":    "host-local",
		"ranges":  []any{[]any{map[string]any{"subnet": m.Subnet, "gateway": m.Gateway}}},
		"dataDir": ipamDir,
	}
	if !m.Internal {
		ipam["routes"] = []any{map[string]any{"dst": "0.0.0.0/0"}}
	}
	plugins := []map[string]any{{
		"type":        "bridge",
		"bridge":      m.Bridge,
		"isGateway":   true,
		"ipMasq":      !m.Internal,
		"hairpinMode": true,
		"ipam":        ipam,
	}}
	if !m.Internal {
		plugins = append(plugins, map[string]any{
			"type":         "portmap",
			"capabilities": map[string]any{"portMappings": true},
			"snat":         true,
		})
	}
	plugins = append(plugins, map[string]any{"type": "firewall", "backend": "iptables"})
	return conflist{CNIVersion: cniVersion, Name: name, Berth: m, Plugins: plugins}
}

// setIPAMDir points the bridge plugin's host-local IPAM at dir (the state
// directory may differ from the one the conflist was written with).
func (c *conflist) setIPAMDir(dir string) {
	for _, p := range c.Plugins {
		if ipam, ok := p["ipam"].(map[string]any); ok && ipam["type"] == "host-local" {
			ipam["dataDir"] = dir
		}
	}
}

// parseSubnet validates a subnet and a gateway inside it (default: the first
// address); it returns them normalised.
func parseSubnet(subnet, gateway string) (netip.Prefix, netip.Addr, error) {
	p, err := netip.ParsePrefix(subnet)
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("subnet %q: not a CIDR prefix: %w", subnet, errdefs.ErrInvalidArgument)
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("subnet %q: only IPv4 subnets are supported: %w", subnet, errdefs.ErrInvalidArgument)
	}
	if p.Bits() > 30 || p.Bits() < 8 {
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("subnet %q: prefix length must be 8-30: %w", subnet, errdefs.ErrInvalidArgument)
	}
	if p.Masked() != p {
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("subnet %q: host bits set (did you mean %s?): %w", subnet, p.Masked(), errdefs.ErrInvalidArgument)
	}
	var gw netip.Addr
	if gateway == "" {
		gw = p.Addr().Next()
	} else {
		gw, err = netip.ParseAddr(gateway)
		if err != nil {
			return netip.Prefix{}, netip.Addr{}, fmt.Errorf("gateway %q: not an IP address: %w", gateway, errdefs.ErrInvalidArgument)
		}
		if !p.Contains(gw) || gw == p.Addr() || gw == lastAddr(p) {
			return netip.Prefix{}, netip.Addr{}, fmt.Errorf("gateway %q: not a usable address in subnet %s: %w", gateway, p, errdefs.ErrInvalidArgument)
		}
	}
	return p, gw, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	hostBits := 32 - p.Bits()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= (1 << hostBits) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func overlaps(a, b netip.Prefix) bool { return a.Overlaps(b) }

// writeFileAtomic makes path's directory and writes data to path durably.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(path, data, perm)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }

func trimExt(name, ext string) (string, bool) {
	if !strings.HasSuffix(name, ext) || strings.HasPrefix(name, ".") {
		return "", false
	}
	return strings.TrimSuffix(name, ext), true
}

// forAttach returns the chain to run for one attachment: without portmap when
// the attachment publishes no ports (portmap would only cost time: its DEL
// still scans iptables). The record keeps exactly this chain for the DEL.
func (c *conflist) forAttach(withPorts bool) conflist {
	out := *c
	if withPorts {
		return out
	}
	out.Plugins = nil
	for _, p := range c.Plugins {
		if p["type"] != "portmap" {
			out.Plugins = append(out.Plugins, p)
		}
	}
	return out
}
