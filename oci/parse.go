package oci

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/runtime/caps"
	"github.com/berth-containers/berth/volume"
)

// Docker's flag names, as its errors print them.
const (
	FlagMemory      = "-m, --memory"
	FlagMemorySwap  = "--memory-swap"
	FlagMemoryRes   = "--memory-reservation"
	FlagShmSize     = "--shm-size"
	FlagCPUs        = "--cpus"
	FlagCPUShares   = "-c, --cpu-shares"
	FlagCpusetCpus  = "--cpuset-cpus"
	FlagPidsLimit   = "--pids-limit"
	FlagUlimit      = "--ulimit"
	FlagVolume      = "-v, --volume"
	FlagMount       = "--mount"
	FlagTmpfs       = "--tmpfs"
	FlagEnvFile     = "--env-file"
	FlagEnv         = "-e, --env"
	FlagRestart     = "--restart"
	FlagSysctl      = "--sysctl"
	FlagCapAdd      = "--cap-add"
	FlagCapDrop     = "--cap-drop"
	FlagUser        = "-u, --user"
	FlagWorkdir     = "-w, --workdir"
	FlagSecurityOpt = "--security-opt"
	FlagHostname    = "-h, --hostname"
	FlagAddHost     = "--add-host"
	FlagDNS         = "--dns"
	FlagStopSignal  = "--stop-signal"
)

// maxOptLen bounds any single option string.
const maxOptLen = 4096

// FlagError is a rejected option value. It reads like docker's
// (invalid argument "-1" for "-m, --memory" flag: invalid size: '-1') and
// matches errdefs.ErrInvalidArgument.
type FlagError struct {
	Flag   string
	Value  string
	Reason string
}

func (e *FlagError) Error() string {
	return fmt.Sprintf("invalid argument %q for %q flag: %s", e.Value, e.Flag, e.Reason)
}

// Unwrap makes the error an errdefs.ErrInvalidArgument.
func (e *FlagError) Unwrap() error { return errdefs.ErrInvalidArgument }

func flagErr(flag, value, format string, a ...any) error {
	return &FlagError{Flag: flag, Value: value, Reason: fmt.Sprintf(format, a...)}
}

// MinMemory is the smallest memory limit Docker accepts (6 MiB).
const MinMemory = 6 << 20

// ParseBytes parses a size in docker's RAM units: a decimal number with an
// optional unit k, m, g, t or p (binary multiples, any case, optionally
// followed by "i" and/or "b"), e.g. "64m", "1.5G", "512KiB", "1024".
func ParseBytes(s string) (int64, error) {
	if len(s) == 0 || len(s) > 64 {
		return 0, fmt.Errorf("invalid size: '%s'", s)
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimPrefix(s[i:], " "))
	if num == "" || strings.HasPrefix(num, ".") || strings.HasSuffix(num, ".") || strings.Count(num, ".") > 1 {
		return 0, fmt.Errorf("invalid size: '%s'", s)
	}
	unit = strings.TrimSuffix(unit, "b")
	unit = strings.TrimSuffix(unit, "i")
	var mult float64 = 1
	switch unit {
	case "":
	case "k":
		mult = 1 << 10
	case "m":
		mult = 1 << 20
	case "g":
		mult = 1 << 30
	case "t":
		mult = 1 << 40
	case "p":
		mult = 1 << 50
	default:
		return 0, fmt.Errorf("invalid size: '%s'", s)
	}
	// "1b" and "1ib" are fine, a lone "i" after a number is not.
	if rest := strings.ToLower(strings.TrimPrefix(s[i:], " ")); rest == "i" {
		return 0, fmt.Errorf("invalid size: '%s'", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size: '%s'", s)
	}
	v := f * mult
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size: '%s': too large", s)
	}
	return int64(v), nil
}

// ParseMemory parses -m/--memory ("64m"). At least 6 MiB, like Docker.
func ParseMemory(s string) (int64, error) {
	v, err := ParseBytes(s)
	if err != nil {
		return 0, flagErr(FlagMemory, s, "%v", err)
	}
	if err := checkMemory(v); err != nil {
		return 0, flagErr(FlagMemory, s, "%v", err)
	}
	return v, nil
}

func checkMemory(v int64) error {
	if v < 0 {
		return fmt.Errorf("invalid size: must not be negative")
	}
	if v > 0 && v < MinMemory {
		return fmt.Errorf("minimum memory limit allowed is 6MB")
	}
	return nil
}

// ParseMemorySwap parses --memory-swap: a size (memory plus swap) or -1
// for unlimited swap.
func ParseMemorySwap(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	v, err := ParseBytes(s)
	if err != nil {
		return 0, flagErr(FlagMemorySwap, s, "%v", err)
	}
	return v, nil
}

// ParseCPUs parses --cpus ("1.5") into nano CPUs (1.5e9). The value must be
// positive, at most the number of CPUs here and a multiple of 0.01... at
// nanosecond precision, like Docker's.
func ParseCPUs(s string) (int64, error) {
	if len(s) > 64 {
		return 0, flagErr(FlagCPUs, s, "too long")
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || strings.ContainsAny(s, "/eE") {
		return 0, flagErr(FlagCPUs, s, "failed to parse %v as a rational number", s)
	}
	nano := r.Mul(r, big.NewRat(1e9, 1))
	if !nano.IsInt() {
		return 0, flagErr(FlagCPUs, s, "value is too precise")
	}
	if !nano.Num().IsInt64() {
		return 0, flagErr(FlagCPUs, s, "value is too large")
	}
	n := nano.Num().Int64()
	if err := checkNanoCPUs(n); err != nil {
		return 0, flagErr(FlagCPUs, s, "%v", err)
	}
	return n, nil
}

func checkNanoCPUs(n int64) error {
	ncpu := int64(runtime.NumCPU())
	if n < 0 {
		return fmt.Errorf("must not be negative")
	}
	if n > 0 && (n < 1e7 || n > ncpu*1e9) {
		return fmt.Errorf("range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", ncpu, ncpu)
	}
	return nil
}

// ParseCPUShares parses -c/--cpu-shares (a relative weight, 2..262144; 0 = unset).
func ParseCPUShares(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, flagErr(FlagCPUShares, s, "strconv.ParseInt: parsing %q: invalid syntax", s)
	}
	if v != 0 && (v < 2 || v > 262144) {
		return 0, flagErr(FlagCPUShares, s, "cpu shares must be between 2 and 262144")
	}
	return v, nil
}

// ParseCpuset checks a --cpuset-cpus list ("0-2,4") against the CPUs here.
func ParseCpuset(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if len(s) > 256 {
		return "", flagErr(FlagCpusetCpus, s, "too long")
	}
	ncpu := runtime.NumCPU()
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a || lo == "" || strings.HasPrefix(lo, "+") || strings.HasPrefix(hi, "+") {
			return "", flagErr(FlagCpusetCpus, s, "invalid value %q for cpuset cpus", part)
		}
		if b >= ncpu {
			return "", flagErr(FlagCpusetCpus, s, "requested CPUs are not available - requested %s, available: 0-%d", s, ncpu-1)
		}
	}
	return s, nil
}

// ParsePidsLimit parses --pids-limit; 0 or -1 mean unlimited.
func ParsePidsLimit(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, flagErr(FlagPidsLimit, s, "strconv.ParseInt: parsing %q: invalid syntax", s)
	}
	if v < -1 {
		return 0, flagErr(FlagPidsLimit, s, "must be -1 (unlimited) or positive")
	}
	return v, nil
}

// ulimitNames maps docker's --ulimit names to RLIMIT_ names.
var ulimitNames = map[string]string{
	"as": "RLIMIT_AS", "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA",
	"fsize": "RLIMIT_FSIZE", "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK",
	"msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE",
	"nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
	"rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK",
}

// ParseUlimit parses --ulimit name=soft[:hard] ("nofile=1024:2048").
// Without a hard value, hard = soft; -1 means unlimited.
func ParseUlimit(s string) (Ulimit, error) {
	if len(s) > 256 {
		return Ulimit{}, flagErr(FlagUlimit, s, "too long")
	}
	name, val, ok := strings.Cut(s, "=")
	if !ok || name == "" || val == "" {
		return Ulimit{}, flagErr(FlagUlimit, s, "invalid ulimit argument: %s", s)
	}
	if _, ok := ulimitNames[name]; !ok {
		return Ulimit{}, flagErr(FlagUlimit, s, "invalid ulimit type: %s", name)
	}
	softS, hardS, hasHard := strings.Cut(val, ":")
	soft, err := parseLimit(softS)
	if err != nil {
		return Ulimit{}, flagErr(FlagUlimit, s, "invalid ulimit soft value %q", softS)
	}
	hard := soft
	if hasHard {
		if hard, err = parseLimit(hardS); err != nil {
			return Ulimit{}, flagErr(FlagUlimit, s, "invalid ulimit hard value %q", hardS)
		}
	}
	u := Ulimit{Name: name, Soft: soft, Hard: hard}
	if err := checkUlimit(u); err != nil {
		return Ulimit{}, flagErr(FlagUlimit, s, "%v", err)
	}
	return u, nil
}

func parseLimit(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < -1 {
		return 0, fmt.Errorf("bad value")
	}
	return v, nil
}

func checkUlimit(u Ulimit) error {
	if _, ok := ulimitNames[u.Name]; !ok {
		return fmt.Errorf("invalid ulimit type: %s", u.Name)
	}
	if u.Soft < -1 || u.Hard < -1 {
		return fmt.Errorf("ulimit %s: values must be -1 (unlimited) or >= 0", u.Name)
	}
	if u.Hard != -1 && (u.Soft == -1 || u.Soft > u.Hard) {
		return fmt.Errorf("ulimit soft limit must be less than or equal to hard limit: %d > %d", u.Soft, u.Hard)
	}
	return nil
}

func rlimitValue(v int64) uint64 {
	if v < 0 {
		return math.MaxUint64
	}
	return uint64(v)
}

// ParseRestartPolicy parses --restart: no, always, unless-stopped,
// on-failure or on-failure:N.
func ParseRestartPolicy(s string) (RestartPolicy, error) {
	if s == "" {
		return RestartPolicy{Name: RestartNo}, nil
	}
	name, count, hasCount := strings.Cut(s, ":")
	p := RestartPolicy{Name: name}
	if hasCount {
		if strings.Contains(count, ":") {
			return RestartPolicy{}, flagErr(FlagRestart, s, "invalid restart policy format")
		}
		n, err := strconv.Atoi(count)
		if err != nil {
			return RestartPolicy{}, flagErr(FlagRestart, s, "maximum retry count must be an integer")
		}
		p.MaxRetries = n
	}
	if err := CheckRestartPolicy(p, hasCount); err != nil {
		return RestartPolicy{}, flagErr(FlagRestart, s, "%v", err)
	}
	return p, nil
}

// CheckRestartPolicy validates a parsed policy (the API sends it parsed).
func CheckRestartPolicy(p RestartPolicy, countGiven bool) error {
	switch p.Name {
	case RestartNo, RestartAlways, RestartUnlessStopped, "":
		if countGiven || p.MaxRetries != 0 {
			return fmt.Errorf("maximum retry count cannot be used with restart policy '%s'", p.Name)
		}
	case RestartOnFailure:
		if p.MaxRetries < 0 {
			return fmt.Errorf("maximum retry count cannot be negative")
		}
	default:
		return fmt.Errorf("invalid restart policy '%s'", p.Name)
	}
	return nil
}

// Namespaced sysctls a container may set, as Docker allows them.
var ipcSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

// ParseSysctl parses --sysctl key=value and checks that the key is a
// namespaced sysctl (IPC kernel.*, fs.mqueue.*, net.*), as Docker does.
func ParseSysctl(s string) (string, string, error) {
	if len(s) > maxOptLen {
		return "", "", flagErr(FlagSysctl, s, "too long")
	}
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", flagErr(FlagSysctl, s, "sysctl '%s' is not in key=value format", s)
	}
	if err := checkSysctl(k, v, false); err != nil {
		return "", "", flagErr(FlagSysctl, s, "%v", err)
	}
	return k, v, nil
}

func checkSysctl(k, v string, hostNet bool) error {
	if strings.ContainsAny(k, "/ \t\n\x00") || strings.Contains(k, "..") || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") {
		return fmt.Errorf("sysctl '%s' is not a valid key", k)
	}
	if strings.ContainsRune(v, 0) || strings.Contains(v, "\n") {
		return fmt.Errorf("sysctl '%s': value contains a newline or NUL", k)
	}
	switch {
	case ipcSysctls[k], strings.HasPrefix(k, "fs.mqueue."):
		return nil
	case strings.HasPrefix(k, "net."):
		if hostNet {
			return fmt.Errorf("sysctl '%s' not allowed in host network mode", k)
		}
		return nil
	}
	return fmt.Errorf("sysctl '%s' is not whitelisted", k)
}

// NormalizeCapability turns a user's capability name ("net_admin",
// "CAP_NET_ADMIN", "ALL") into its CAP_ form (or "ALL"), or fails.
func NormalizeCapability(c string) (string, error) {
	u := strings.ToUpper(strings.TrimSpace(c))
	if u == "ALL" {
		return u, nil
	}
	if !strings.HasPrefix(u, "CAP_") {
		u = "CAP_" + u
	}
	if _, ok := caps.Number(u); !ok {
		return "", fmt.Errorf("unknown capability: %q", c)
	}
	return u, nil
}

// ParseCapabilities normalizes --cap-add (flag FlagCapAdd) or --cap-drop
// values (each may be a comma-separated list, like Docker's).
func ParseCapabilities(flag string, list []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, item := range list {
		for _, c := range strings.Split(item, ",") {
			n, err := NormalizeCapability(c)
			if err != nil {
				return nil, flagErr(flag, item, "%v", err)
			}
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// UserSpec is a parsed --user: a name or id, and an optional group.
type UserSpec struct {
	User, Group string
}

// ParseUser parses -u/--user ("uid", "uid:gid", "name", "name:group");
// names are resolved later against the container's /etc/passwd
// (ResolveUser).
func ParseUser(s string) (UserSpec, error) {
	if s == "" {
		return UserSpec{}, nil
	}
	if len(s) > 256 {
		return UserSpec{}, flagErr(FlagUser, s, "too long")
	}
	u, g, hasGroup := strings.Cut(s, ":")
	if u == "" || (hasGroup && g == "") || strings.Contains(g, ":") {
		return UserSpec{}, flagErr(FlagUser, s, "invalid user format, want uid[:gid] or name[:group]")
	}
	for _, part := range []string{u, g} {
		if strings.ContainsAny(part, " \t\n\x00/,") {
			return UserSpec{}, flagErr(FlagUser, s, "invalid character in %q", part)
		}
		if isNumeric(part) {
			if _, err := strconv.ParseUint(part, 10, 32); err != nil || part[0] == '+' {
				return UserSpec{}, flagErr(FlagUser, s, "id %s out of range", part)
			}
		}
	}
	return UserSpec{User: u, Group: g}, nil
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// VolumeSpec is a parsed -v/--volume or --mount.
type VolumeSpec struct {
	Type        string // "bind", "volume" or "tmpfs"
	Source      string // host path (bind), volume name ("" = anonymous), "" for tmpfs
	Destination string
	ReadOnly    bool
	Propagation string // "rprivate" unless given
	NoCopy      bool   // volume: do not copy the image's content in
	// CreateSource: a bind source that is missing is created (-v does,
	// --mount errors).
	CreateSource bool
	NonRecursive bool
	TmpfsOptions []string // size=..., mode=... for tmpfs
	Labels       map[string]string
}

var propagations = map[string]bool{"shared": true, "rshared": true, "slave": true, "rslave": true, "private": true, "rprivate": true}

// ParseVolumeSpec parses -v/--volume: "[src:]dst[:opts]" where src is an
// absolute host path (bind mount, created when missing like Docker) or a
// volume name, and opts is a comma-separated list of ro, rw, z, Z, nocopy,
// and one propagation mode.
func ParseVolumeSpec(s string) (VolumeSpec, error) {
	bad := func(format string, a ...any) (VolumeSpec, error) {
		return VolumeSpec{}, flagErr(FlagVolume, s, "invalid volume specification: '%s': %s", s, fmt.Sprintf(format, a...))
	}
	if s == "" || len(s) > maxOptLen || strings.ContainsRune(s, 0) {
		return bad("empty, too long or contains NUL")
	}
	parts := strings.Split(s, ":")
	var v VolumeSpec
	var opts string
	switch len(parts) {
	case 1:
		v.Destination = parts[0]
	case 2:
		// "dst:mode" when the second part is a list of known modes,
		// otherwise "src:dst", as Docker reads it.
		if validModes(parts[1]) {
			v.Destination, opts = parts[0], parts[1]
		} else {
			v.Source, v.Destination = parts[0], parts[1]
		}
	case 3:
		v.Source, v.Destination, opts = parts[0], parts[1], parts[2]
	default:
		return bad("too many colons")
	}
	switch {
	case v.Source == "" && len(parts) == 3:
		return bad("source is empty")
	case v.Source == "":
		v.Type = "volume" // anonymous
	case strings.HasPrefix(v.Source, "/"):
		v.Type = "bind"
		v.CreateSource = true
		v.Source = path.Clean(v.Source)
	default:
		if err := volume.ValidateName(v.Source); err != nil {
			return bad("%v (a host path must be absolute)", err)
		}
		v.Type = "volume"
	}
	if err := checkDestination(v.Destination); err != nil {
		return bad("%v", err)
	}
	v.Destination = path.Clean(v.Destination)
	if opts != "" {
		var rw, label bool
		for _, o := range strings.Split(opts, ",") {
			switch {
			case o == "ro" || o == "rw":
				if rw {
					return bad("more than one of ro and rw")
				}
				rw, v.ReadOnly = true, o == "ro"
			case o == "z" || o == "Z":
				// SELinux relabelling: there is no SELinux here, so like
				// Docker on such a host it has no effect.
				if label {
					return bad("more than one of z and Z")
				}
				label = true
			case o == "nocopy":
				if v.Type != "volume" {
					return bad("nocopy applies to volumes only")
				}
				v.NoCopy = true
			case propagations[o]:
				if v.Propagation != "" {
					return bad("more than one propagation mode")
				}
				if v.Type != "bind" {
					return bad("propagation %s applies to bind mounts only", o)
				}
				v.Propagation = o
			case o == "consistent" || o == "cached" || o == "delegated":
			default:
				return bad("unknown option %q", o)
			}
		}
	}
	if v.Propagation == "" {
		v.Propagation = "rprivate"
	}
	return v, nil
}

func validModes(s string) bool {
	for _, o := range strings.Split(s, ",") {
		switch {
		case o == "ro", o == "rw", o == "z", o == "Z", o == "nocopy", propagations[o],
			o == "consistent", o == "cached", o == "delegated":
		default:
			return false
		}
	}
	return true
}

func checkDestination(d string) error {
	switch {
	case d == "":
		return fmt.Errorf("destination is empty")
	case !strings.HasPrefix(d, "/"):
		return fmt.Errorf("invalid mount path: '%s' mount path must be absolute", d)
	case path.Clean(d) == "/":
		return fmt.Errorf("invalid mount path: '/' cannot be a mount destination")
	case strings.ContainsRune(d, 0):
		return fmt.Errorf("destination contains NUL")
	}
	return nil
}

// ParseMountSpec parses --mount, a comma-separated list of key=value
// fields: type (bind, volume, tmpfs; default volume), source|src,
// destination|dst|target, readonly|ro[=bool], bind-propagation,
// bind-nonrecursive, volume-nocopy, volume-label=k=v, volume-driver=local,
// tmpfs-size, tmpfs-mode. A missing bind source is an error (unlike -v).
func ParseMountSpec(s string) (VolumeSpec, error) {
	bad := func(format string, a ...any) (VolumeSpec, error) {
		return VolumeSpec{}, flagErr(FlagMount, s, format, a...)
	}
	if s == "" || len(s) > maxOptLen || strings.ContainsRune(s, 0) {
		return bad("empty, too long or contains NUL")
	}
	v := VolumeSpec{Type: "volume"}
	var tmpfsSize, tmpfsMode string
	var volOpts, bindOpts, tmpfsOpts []string
	for _, field := range strings.Split(s, ",") {
		key, val, hasVal := strings.Cut(field, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		boolVal := func() (bool, error) {
			if !hasVal {
				return true, nil
			}
			switch strings.ToLower(val) {
			case "true", "1":
				return true, nil
			case "false", "0":
				return false, nil
			}
			return false, fmt.Errorf("invalid value for %s: %s", key, val)
		}
		if !hasVal {
			switch key {
			case "readonly", "ro", "volume-nocopy", "bind-nonrecursive":
			default:
				return bad("invalid field '%s' must be a key=value pair", field)
			}
		}
		switch key {
		case "type":
			switch val {
			case "bind", "volume", "tmpfs":
				v.Type = val
			default:
				return bad("invalid mount type %q: want bind, volume or tmpfs", val)
			}
		case "source", "src":
			v.Source = val
		case "destination", "dst", "target":
			v.Destination = val
		case "readonly", "ro":
			b, err := boolVal()
			if err != nil {
				return bad("%v", err)
			}
			v.ReadOnly = b
		case "consistency":
		case "bind-propagation":
			if !propagations[val] {
				return bad("invalid propagation mode: %s", val)
			}
			v.Propagation = val
			bindOpts = append(bindOpts, key)
		case "bind-nonrecursive":
			b, err := boolVal()
			if err != nil {
				return bad("%v", err)
			}
			v.NonRecursive = b
			bindOpts = append(bindOpts, key)
		case "volume-nocopy":
			b, err := boolVal()
			if err != nil {
				return bad("%v", err)
			}
			v.NoCopy = b
			volOpts = append(volOpts, key)
		case "volume-label":
			lk, lv, ok := strings.Cut(val, "=")
			if !ok || lk == "" {
				return bad("invalid volume-label %q: want key=value", val)
			}
			if v.Labels == nil {
				v.Labels = map[string]string{}
			}
			v.Labels[lk] = lv
			volOpts = append(volOpts, key)
		case "volume-driver":
			if val != "local" {
				return bad("volume driver %q is not supported (only local)", val)
			}
			volOpts = append(volOpts, key)
		case "volume-opt":
			return bad("volume-opt is not supported by the local volume driver here")
		case "tmpfs-size":
			n, err := ParseBytes(val)
			if err != nil || n <= 0 {
				return bad("invalid tmpfs-size %q", val)
			}
			tmpfsSize = strconv.FormatInt(n, 10)
			tmpfsOpts = append(tmpfsOpts, key)
		case "tmpfs-mode":
			m, err := strconv.ParseUint(val, 8, 32)
			if err != nil || m > 0o7777 {
				return bad("invalid tmpfs-mode %q: want an octal mode", val)
			}
			tmpfsMode = fmt.Sprintf("%o", m)
			tmpfsOpts = append(tmpfsOpts, key)
		default:
			return bad("unexpected key '%s' in '%s'", key, field)
		}
	}
	if v.Destination == "" {
		return bad("target is required")
	}
	if err := checkDestination(v.Destination); err != nil {
		return bad("%v", err)
	}
	v.Destination = path.Clean(v.Destination)
	wrongOpts := func(opts []string, typ string) error {
		if len(opts) > 0 && v.Type != typ {
			return fmt.Errorf("invalid mount config for type %q: cannot use %s options with type %q", v.Type, typ, v.Type)
		}
		return nil
	}
	for _, c := range []struct {
		o []string
		t string
	}{{bindOpts, "bind"}, {volOpts, "volume"}, {tmpfsOpts, "tmpfs"}} {
		if err := wrongOpts(c.o, c.t); err != nil {
			return bad("%v", err)
		}
	}
	switch v.Type {
	case "bind":
		if v.Source == "" {
			return bad("invalid mount config for type \"bind\": field Source must not be empty")
		}
		if !strings.HasPrefix(v.Source, "/") {
			return bad("invalid mount config for type \"bind\": invalid mount path: '%s' mount path must be absolute", v.Source)
		}
		v.Source = path.Clean(v.Source)
	case "volume":
		if v.Source != "" {
			if err := volume.ValidateName(v.Source); err != nil {
				return bad("invalid mount config for type \"volume\": %v", err)
			}
		}
	case "tmpfs":
		if v.Source != "" {
			return bad("invalid mount config for type \"tmpfs\": field Source must not be specified")
		}
		if tmpfsSize != "" {
			v.TmpfsOptions = append(v.TmpfsOptions, "size="+tmpfsSize)
		}
		if tmpfsMode != "" {
			v.TmpfsOptions = append(v.TmpfsOptions, "mode="+tmpfsMode)
		}
	}
	if v.Propagation == "" {
		v.Propagation = "rprivate"
	}
	return v, nil
}

// tmpfsOptions Docker accepts after --tmpfs /dst: (value-less ones and
// those with a value).
var tmpfsFlags = map[string]bool{
	"ro": true, "rw": true, "exec": true, "noexec": true, "suid": true, "nosuid": true,
	"dev": true, "nodev": true, "atime": true, "noatime": true, "relatime": true, "norelatime": true,
	"strictatime": true, "nostrictatime": true, "diratime": true, "nodiratime": true,
	"sync": true, "async": true, "dirsync": true, "mand": true, "nomand": true,
	"private": true, "rprivate": true, "shared": true, "rshared": true, "slave": true, "rslave": true,
}

// ParseTmpfs parses --tmpfs /dst[:opts] (opts comma-separated: size=64m,
// mode=1777, uid=, gid=, nr_inodes=, and mount flags such as ro, noexec).
// It returns the destination and the mount options; Docker's defaults
// noexec, nosuid, nodev apply unless overridden.
func ParseTmpfs(s string) (string, []string, error) {
	if s == "" || len(s) > maxOptLen || strings.ContainsRune(s, 0) {
		return "", nil, flagErr(FlagTmpfs, s, "empty, too long or contains NUL")
	}
	dst, opts, _ := strings.Cut(s, ":")
	if err := checkDestination(dst); err != nil {
		return "", nil, flagErr(FlagTmpfs, s, "%v", err)
	}
	var out []string
	if opts != "" {
		for _, o := range strings.Split(opts, ",") {
			k, val, hasVal := strings.Cut(o, "=")
			switch {
			case !hasVal && tmpfsFlags[k]:
				out = append(out, k)
			case hasVal && k == "size":
				if strings.HasSuffix(val, "%") && isNumeric(strings.TrimSuffix(val, "%")) {
					out = append(out, o)
					break
				}
				n, err := ParseBytes(val)
				if err != nil || n <= 0 {
					return "", nil, flagErr(FlagTmpfs, s, "invalid size %q", val)
				}
				out = append(out, "size="+strconv.FormatInt(n, 10))
			case hasVal && k == "mode":
				m, err := strconv.ParseUint(val, 8, 32)
				if err != nil || m > 0o7777 {
					return "", nil, flagErr(FlagTmpfs, s, "invalid mode %q: want an octal mode", val)
				}
				out = append(out, fmt.Sprintf("mode=%o", m))
			case hasVal && (k == "uid" || k == "gid" || k == "nr_inodes" || k == "nr_blocks"):
				if _, err := strconv.ParseUint(val, 10, 32); err != nil && !(k == "nr_inodes" || k == "nr_blocks") {
					return "", nil, flagErr(FlagTmpfs, s, "invalid %s %q", k, val)
				} else if err != nil {
					if _, err := ParseBytes(val); err != nil {
						return "", nil, flagErr(FlagTmpfs, s, "invalid %s %q", k, val)
					}
				}
				out = append(out, o)
			default:
				return "", nil, flagErr(FlagTmpfs, s, "unknown tmpfs option %q", o)
			}
		}
	}
	return path.Clean(dst), withTmpfsDefaults(out), nil
}

// withTmpfsDefaults adds noexec, nosuid, nodev unless opts says otherwise.
func withTmpfsDefaults(opts []string) []string {
	has := map[string]bool{}
	for _, o := range opts {
		has[o] = true
	}
	var out []string
	for _, d := range [][2]string{{"noexec", "exec"}, {"nosuid", "suid"}, {"nodev", "dev"}} {
		if !has[d[0]] && !has[d[1]] {
			out = append(out, d[0])
		}
	}
	return append(out, opts...)
}

// ParseEnvFile reads an --env-file the way Docker does: one VAR=VALUE per
// line, lines starting with # and empty lines ignored, leading whitespace
// trimmed, no whitespace in a name, a bare VAR taken from lookup (dropped
// when lookup does not know it), UTF-8 only.
func ParseEnvFile(filename string, lookup func(string) (string, bool)) ([]string, error) {
	f, err := os.Open(filename)
	if err != nil {
		return nil, flagErr(FlagEnvFile, filename, "%v", err)
	}
	defer f.Close()
	env, err := ParseEnv(io.LimitReader(f, 16<<20), lookup)
	if err != nil {
		return nil, flagErr(FlagEnvFile, filename, "%v", err)
	}
	return env, nil
}

// ParseEnv is ParseEnvFile over a reader.
func ParseEnv(r io.Reader, lookup func(string) (string, bool)) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		b := sc.Bytes()
		if n == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		if !utf8.Valid(b) {
			return nil, fmt.Errorf("env file contains invalid utf8 bytes at line %d: %v", n, b)
		}
		line := strings.TrimLeft(string(b), " \t\r")
		line = strings.TrimRight(line, "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, val, hasVal := strings.Cut(line, "=")
		if name == "" {
			return nil, fmt.Errorf("no variable name on line '%s'", line)
		}
		if strings.ContainsAny(name, " \t\x00") {
			return nil, fmt.Errorf("variable '%s' contains whitespaces", name)
		}
		if hasVal {
			out = append(out, name+"="+val)
		} else if lookup != nil {
			if v, ok := lookup(name); ok {
				out = append(out, name+"="+v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// SecurityOpts is a parsed --security-opt list.
type SecurityOpts struct {
	NoNewPrivileges       *bool
	SeccompUnconfined     bool
	SeccompProfile        []byte // JSON of a runtime-spec LinuxSeccomp
	SystemPathsUnconfined bool
}

// ParseSecurityOpts parses --security-opt values: no-new-privileges[:true|false],
// seccomp=unconfined, seccomp=<file.json> (read here) or seccomp=<JSON>,
// systempaths=unconfined. AppArmor and SELinux labels are refused: this
// kernel has neither.
func ParseSecurityOpts(list []string) (SecurityOpts, error) {
	var so SecurityOpts
	for _, o := range list {
		if len(o) > 1<<20 {
			return so, flagErr(FlagSecurityOpt, o[:64]+"...", "too long")
		}
		k, v, hasVal := strings.Cut(o, "=")
		if !hasVal {
			k, v, hasVal = strings.Cut(o, ":")
		}
		switch k {
		case "no-new-privileges":
			b := true
			if hasVal {
				var err error
				if b, err = strconv.ParseBool(v); err != nil {
					return so, flagErr(FlagSecurityOpt, o, "invalid --security-opt 2: %q", o)
				}
			}
			so.NoNewPrivileges = &b
		case "seccomp":
			switch {
			case !hasVal || v == "":
				return so, flagErr(FlagSecurityOpt, o, "seccomp needs a value: unconfined or a profile file")
			case v == "unconfined":
				so.SeccompUnconfined = true
			case strings.HasPrefix(strings.TrimSpace(v), "{"):
				so.SeccompProfile = []byte(v)
			default:
				data, err := os.ReadFile(v)
				if err != nil {
					return so, flagErr(FlagSecurityOpt, o, "opening seccomp profile (%s) failed: %v", v, err)
				}
				so.SeccompProfile = data
			}
		case "systempaths":
			if v != "unconfined" {
				return so, flagErr(FlagSecurityOpt, o, "invalid --security-opt: %q", o)
			}
			so.SystemPathsUnconfined = true
		case "apparmor":
			return so, flagErr(FlagSecurityOpt, o, "apparmor is not supported: this kernel has no AppArmor enabled")
		case "label":
			return so, flagErr(FlagSecurityOpt, o, "SELinux labels are not supported: this kernel has no SELinux enabled")
		default:
			return so, flagErr(FlagSecurityOpt, o, "invalid --security-opt 1: %q", o)
		}
	}
	return so, nil
}

// ParseShmSize parses --shm-size (a size > 0; default 64m).
func ParseShmSize(s string) (int64, error) {
	v, err := ParseBytes(s)
	if err != nil {
		return 0, flagErr(FlagShmSize, s, "%v", err)
	}
	if v <= 0 {
		return 0, flagErr(FlagShmSize, s, "must be greater than 0")
	}
	return v, nil
}

// ParseMemoryReservation parses --memory-reservation (a soft limit size).
func ParseMemoryReservation(s string) (int64, error) {
	v, err := ParseBytes(s)
	if err != nil {
		return 0, flagErr(FlagMemoryRes, s, "%v", err)
	}
	return v, nil
}

// InlineSecurityOpts validates --security-opt values and replaces
// seccomp=<file> with seccomp=<the file's JSON>, as docker's CLI does, so
// the daemon never reads a profile path on the client's behalf.
func InlineSecurityOpts(list []string) ([]string, error) {
	out := make([]string, 0, len(list))
	for _, o := range list {
		so, err := ParseSecurityOpts([]string{o})
		if err != nil {
			return nil, err
		}
		if len(so.SeccompProfile) > 0 {
			var probe map[string]any
			if err := json.Unmarshal(so.SeccompProfile, &probe); err != nil {
				return nil, flagErr(FlagSecurityOpt, o, "decoding seccomp profile failed: %v", err)
			}
			out = append(out, "seccomp="+string(so.SeccompProfile))
			continue
		}
		out = append(out, o)
	}
	return out, nil
}
