package caps

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
)

// names maps every capability this build knows to its number
// (include/uapi/linux/capability.h).
var names = map[string]int{
	"CAP_CHOWN":              0,
	"CAP_DAC_OVERRIDE":       1,
	"CAP_DAC_READ_SEARCH":    2,
	"CAP_FOWNER":             3,
	"CAP_FSETID":             4,
	"CAP_KILL":               5,
	"CAP_SETGID":             6,
	"CAP_SETUID":             7,
	"CAP_SETPCAP":            8,
	"CAP_LINUX_IMMUTABLE":    9,
	"CAP_NET_BIND_SERVICE":   10,
	"CAP_NET_BROADCAST":      11,
	"CAP_NET_ADMIN":          12,
	"CAP_NET_RAW":            13,
	"CAP_IPC_LOCK":           14,
	"CAP_IPC_OWNER":          15,
	"CAP_SYS_MODULE":         16,
	"CAP_SYS_RAWIO":          17,
	"CAP_SYS_CHROOT":         18,
	"CAP_SYS_PTRACE":         19,
	"CAP_SYS_PACCT":          20,
	"CAP_SYS_ADMIN":          21,
	"CAP_SYS_BOOT":           22,
	"CAP_SYS_NICE":           23,
	"CAP_SYS_RESOURCE":       24,
	"CAP_SYS_TIME":           25,
	"CAP_SYS_TTY_CONFIG":     26,
	"CAP_MKNOD":              27,
	"CAP_LEASE":              28,
	"CAP_AUDIT_WRITE":        29,
	"CAP_AUDIT_CONTROL":      30,
	"CAP_SETFCAP":            31,
	"CAP_MAC_OVERRIDE":       32,
	"CAP_MAC_ADMIN":          33,
	"CAP_SYSLOG":             34,
	"CAP_WAKE_ALARM":         35,
	"CAP_BLOCK_SUSPEND":      36,
	"CAP_AUDIT_READ":         37,
	"CAP_PERFMON":            38,
	"CAP_BPF":                39,
	"CAP_CHECKPOINT_RESTORE": 40,
}

// maxKnown is the highest capability number in names.
const maxKnown = 40

// Set holds the five capability sets of a process as bit masks indexed by
// capability number (bit n is capability n). Only capabilities the running
// kernel knows are present; valid names the kernel does not know are listed
// in Ignored so the caller can warn about them, as runc does.
type Set struct {
	Bounding, Effective, Inheritable, Permitted, Ambient uint64
	// Ignored lists names that are valid but newer than the running kernel
	// (above /proc/sys/kernel/cap_last_cap), e.g. "ambient:CAP_BPF".
	Ignored []string
}

// Number returns the number of a capability name ("CAP_SYS_ADMIN").
func Number(name string) (int, bool) {
	n, ok := names[name]
	return n, ok
}

// Name returns the name of capability number n, or "" when unknown.
func Name(n int) string {
	for k, v := range names {
		if v == n {
			return k
		}
	}
	return ""
}

// New parses and validates c. A nil c yields an empty Set: the process gets
// no capabilities at all.
func New(c *specs.LinuxCapabilities) (*Set, error) {
	s := &Set{}
	if c == nil {
		return s, nil
	}
	last := Last()
	for _, set := range []struct {
		field string
		list  []string
		mask  *uint64
	}{
		{"bounding", c.Bounding, &s.Bounding},
		{"effective", c.Effective, &s.Effective},
		{"inheritable", c.Inheritable, &s.Inheritable},
		{"permitted", c.Permitted, &s.Permitted},
		{"ambient", c.Ambient, &s.Ambient},
	} {
		for _, name := range set.list {
			n, err := parse(name)
			if err != nil {
				return nil, fmt.Errorf("process.capabilities.%s: %w", set.field, err)
			}
			if n > last {
				s.Ignored = append(s.Ignored, set.field+":"+name)
				continue
			}
			*set.mask |= 1 << uint(n)
		}
	}
	return s, nil
}

func parse(name string) (int, error) {
	if !strings.HasPrefix(name, "CAP_") {
		return 0, fmt.Errorf("capability %q must start with CAP_: %w", name, errdefs.ErrInvalidArgument)
	}
	n, ok := names[name]
	if !ok {
		return 0, fmt.Errorf("unknown capability %q: %w", name, errdefs.ErrInvalidArgument)
	}
	return n, nil
}

// Validate checks every capability name in c without touching the kernel's
// view (names newer than the running kernel are accepted).
func Validate(c *specs.LinuxCapabilities) error {
	if c == nil {
		return nil
	}
	for _, set := range []struct {
		field string
		list  []string
	}{
		{"bounding", c.Bounding}, {"effective", c.Effective}, {"inheritable", c.Inheritable},
		{"permitted", c.Permitted}, {"ambient", c.Ambient},
	} {
		for _, name := range set.list {
			if _, err := parse(name); err != nil {
				return fmt.Errorf("process.capabilities.%s: %w", set.field, err)
			}
		}
	}
	return nil
}

// DropBounding removes from the calling thread's bounding set every
// capability the kernel knows that is not in s.Bounding. It needs
// CAP_SETPCAP, so it runs before the switch to the container's user.
func (s *Set) DropBounding() error {
	last := Last()
	for n := 0; n <= last; n++ {
		if s.Bounding&(1<<uint(n)) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(n), 0, 0, 0); err != nil {
			return fmt.Errorf("drop %s (%d) from the bounding set: %w", capName(n), n, err)
		}
	}
	return nil
}

// Apply sets the calling thread's effective, permitted and inheritable sets
// with capset(2), then clears the ambient set and raises each ambient
// capability. Call it after the uid switch (made with PR_SET_KEEPCAPS) so the
// permitted set survives until here.
func (s *Set) Apply() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i := 0; i < 2; i++ {
		shift := uint(32 * i)
		data[i].Effective = uint32(s.Effective >> shift)
		data[i].Permitted = uint32(s.Permitted >> shift)
		data[i].Inheritable = uint32(s.Inheritable >> shift)
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset(effective=%#x, permitted=%#x, inheritable=%#x): %w",
			s.Effective, s.Permitted, s.Inheritable, err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear the ambient set: %w", err)
	}
	for n := 0; n <= maxKnown; n++ {
		if s.Ambient&(1<<uint(n)) == 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(n), 0, 0); err != nil {
			return fmt.Errorf("raise ambient %s (it must also be permitted and inheritable): %w", capName(n), err)
		}
	}
	return nil
}

func capName(n int) string {
	if s := Name(n); s != "" {
		return s
	}
	return "capability " + strconv.Itoa(n)
}

// Known returns every capability name this build knows, sorted by number.
func Known() []string {
	out := make([]string, 0, len(names))
	for k := range names {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return names[out[i]] < names[out[j]] })
	return out
}

var lastOnce = sync.OnceValue(readLast)

// Last returns the highest capability number the running kernel knows
// (/proc/sys/kernel/cap_last_cap; probed with PR_CAPBSET_READ when /proc is
// unavailable).
func Last() int { return lastOnce() }

func readLast() int {
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n >= 0 {
			return n
		}
	}
	// PR_CAPBSET_READ fails with EINVAL for numbers the kernel does not know.
	n := 0
	for n < 63 {
		if _, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n+1), 0, 0, 0); err != nil {
			break
		}
		n++
	}
	return n
}
