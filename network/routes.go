package network

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// hostRoute is one IPv4 route of the host's main table.
type hostRoute struct {
	Iface  string
	Prefix netip.Prefix
}

// parseRoutes reads /proc/net/route's format (hex little-endian addresses).
func parseRoutes(data string) []hostRoute {
	var out []hostRoute
	sc := bufio.NewScanner(strings.NewReader(data))
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		dst, err1 := hexAddr(f[1])
		mask, err2 := hexAddr(f[7])
		if err1 != nil || err2 != nil {
			continue
		}
		m := mask.As4()
		bits := 0
		v := binary.BigEndian.Uint32(m[:])
		for v&0x80000000 != 0 {
			bits++
			v <<= 1
		}
		if bits == 0 {
			continue // default route
		}
		out = append(out, hostRoute{Iface: f[0], Prefix: netip.PrefixFrom(dst, bits).Masked()})
	}
	return out
}

func hexAddr(s string) (netip.Addr, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 4 {
		return netip.Addr{}, fmt.Errorf("bad address %q", s)
	}
	return netip.AddrFrom4([4]byte{b[3], b[2], b[1], b[0]}), nil
}

// routeConflict returns a host route (not through one of ours) that overlaps
// p, if any.
func routeConflict(p netip.Prefix, ours map[string]bool) (hostRoute, bool) {
	data, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return hostRoute{}, false
	}
	for _, r := range parseRoutes(string(data)) {
		if !ours[r.Iface] && r.Prefix.Overlaps(p) {
			return r, true
		}
	}
	return hostRoute{}, false
}
