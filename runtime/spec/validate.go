package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/runtime/caps"
)

// bad returns an invalid-argument error naming field.
func bad(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), errdefs.ErrInvalidArgument)
}

// unsupported returns a failed-precondition error naming field: the config is
// well formed but this machine cannot honour it.
func unsupported(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), errdefs.ErrFailedPrecondition)
}

// Validate checks s as berth-runtime will run it from bundle (a relative
// root.path is resolved against bundle). The first problem found is returned,
// naming its field path (e.g. "linux.uidMappings[1]: size must be > 0") and
// wrapping errdefs.ErrInvalidArgument, or errdefs.ErrFailedPrecondition for a
// valid request this kernel cannot honour (AppArmor, SELinux, Intel RDT).
// The process is required, as create needs it.
func Validate(s *specs.Spec, bundle string) error {
	if s == nil {
		return bad("config", "empty document")
	}
	if err := validateVersion(s.Version); err != nil {
		return err
	}
	if err := validateRoot(s.Root, bundle); err != nil {
		return err
	}
	if err := ValidateProcess(s.Process, "process"); err != nil {
		return err
	}
	if s.Linux == nil {
		return bad("linux", "missing (berth-runtime runs Linux containers)")
	}
	if err := validateLinux(s); err != nil {
		return err
	}
	if err := validateMounts(s); err != nil {
		return err
	}
	if err := validateHooks(s.Hooks); err != nil {
		return err
	}
	for k := range s.Annotations {
		if k == "" {
			return bad("annotations", "empty key")
		}
	}
	return nil
}

func validateVersion(v string) error {
	if v == "" {
		return bad("ociVersion", "missing")
	}
	core, _, _ := strings.Cut(v, "-")
	core, _, _ = strings.Cut(core, "+")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return bad("ociVersion", "%q is not a semantic version (MAJOR.MINOR.PATCH)", v)
	}
	for _, p := range parts {
		if _, err := strconv.ParseUint(p, 10, 32); err != nil {
			return bad("ociVersion", "%q is not a semantic version (MAJOR.MINOR.PATCH)", v)
		}
	}
	if parts[0] != "1" {
		return bad("ociVersion", "%q: only runtime-spec 1.x is supported", v)
	}
	return nil
}

func validateRoot(r *specs.Root, bundle string) error {
	if r == nil {
		return bad("root", "missing")
	}
	if r.Path == "" {
		return bad("root.path", "missing")
	}
	p := r.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(bundle, p)
	}
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return bad("root.path", "%s does not exist", p)
		}
		return bad("root.path", "%v", err)
	}
	if !fi.IsDir() {
		return bad("root.path", "%s is not a directory", p)
	}
	if real, err := filepath.EvalSymlinks(p); err == nil && real == "/" {
		return bad("root.path", "%s is the host's root directory", p)
	}
	return nil
}

// mapped reports whether id falls in one of the mappings' container ranges.
func mapped(id uint32, m []specs.LinuxIDMapping) bool {
	for _, e := range m {
		if id >= e.ContainerID && uint64(id) < uint64(e.ContainerID)+uint64(e.Size) {
			return true
		}
	}
	return false
}

// ValidateProcess checks a process document alone, as `exec --process` gives
// it; field is the prefix used in errors ("process").
func ValidateProcess(p *specs.Process, field string) error {
	if p == nil {
		return bad(field, "missing")
	}
	if len(p.Args) == 0 || p.Args[0] == "" {
		return bad(field+".args", "must name the program to run")
	}
	if p.Cwd == "" {
		return bad(field+".cwd", "missing")
	}
	if !strings.HasPrefix(p.Cwd, "/") {
		return bad(field+".cwd", "%q must be an absolute path", p.Cwd)
	}
	if strings.ContainsRune(p.Cwd, 0) {
		return bad(field+".cwd", "contains a NUL byte")
	}
	for i, e := range p.Env {
		k, _, ok := strings.Cut(e, "=")
		if !ok || k == "" {
			return bad(fmt.Sprintf("%s.env[%d]", field, i), "%q must have the form KEY=value", e)
		}
		if strings.ContainsRune(e, 0) {
			return bad(fmt.Sprintf("%s.env[%d]", field, i), "contains a NUL byte")
		}
	}
	if p.User.Umask != nil && *p.User.Umask > 0o777 {
		return bad(field+".user.umask", "%#o out of range (at most 0777)", *p.User.Umask)
	}
	if err := caps.Validate(p.Capabilities); err != nil && !errors.Is(err, errdefs.ErrNotImplemented) {
		return fmt.Errorf("%s.capabilities: %w", field, err)
	}
	if err := validateRlimits(p.Rlimits, field+".rlimits"); err != nil {
		return err
	}
	if p.OOMScoreAdj != nil && (*p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000) {
		return bad(field+".oomScoreAdj", "%d out of range [-1000, 1000]", *p.OOMScoreAdj)
	}
	if err := validateScheduler(p.Scheduler, field+".scheduler"); err != nil {
		return err
	}
	if err := validateIOPriority(p.IOPriority, field+".ioPriority"); err != nil {
		return err
	}
	if a := p.ExecCPUAffinity; a != nil {
		if err := validateCPUList(a.Initial); err != nil {
			return bad(field+".execCPUAffinity.initial", "%v", err)
		}
		if err := validateCPUList(a.Final); err != nil {
			return bad(field+".execCPUAffinity.final", "%v", err)
		}
	}
	if p.ApparmorProfile != "" && !apparmorEnabled() {
		return unsupported(field+".apparmorProfile", "profile %q requested but AppArmor is not enabled in this kernel", p.ApparmorProfile)
	}
	if p.SelinuxLabel != "" && !selinuxEnabled() {
		return unsupported(field+".selinuxLabel", "label %q requested but SELinux is not enabled in this kernel", p.SelinuxLabel)
	}
	return nil
}

// RlimitNames maps runtime-spec rlimit names to their resource numbers.
var RlimitNames = map[string]int{
	"RLIMIT_CPU":        unix.RLIMIT_CPU,
	"RLIMIT_FSIZE":      unix.RLIMIT_FSIZE,
	"RLIMIT_DATA":       unix.RLIMIT_DATA,
	"RLIMIT_STACK":      unix.RLIMIT_STACK,
	"RLIMIT_CORE":       unix.RLIMIT_CORE,
	"RLIMIT_RSS":        unix.RLIMIT_RSS,
	"RLIMIT_NPROC":      unix.RLIMIT_NPROC,
	"RLIMIT_NOFILE":     unix.RLIMIT_NOFILE,
	"RLIMIT_MEMLOCK":    unix.RLIMIT_MEMLOCK,
	"RLIMIT_AS":         unix.RLIMIT_AS,
	"RLIMIT_LOCKS":      unix.RLIMIT_LOCKS,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_MSGQUEUE":   unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE":       unix.RLIMIT_NICE,
	"RLIMIT_RTPRIO":     unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME":     unix.RLIMIT_RTTIME,
}

func validateRlimits(rl []specs.POSIXRlimit, field string) error {
	seen := map[string]bool{}
	for i, r := range rl {
		f := fmt.Sprintf("%s[%d]", field, i)
		if _, ok := RlimitNames[r.Type]; !ok {
			return bad(f+".type", "unknown rlimit %q", r.Type)
		}
		if seen[r.Type] {
			return bad(f+".type", "%s given twice", r.Type)
		}
		seen[r.Type] = true
		if r.Soft > r.Hard {
			return bad(f, "%s soft limit %d above hard limit %d", r.Type, r.Soft, r.Hard)
		}
	}
	return nil
}

var schedPolicies = map[specs.LinuxSchedulerPolicy]bool{
	specs.SchedOther: true, specs.SchedFIFO: true, specs.SchedRR: true, specs.SchedBatch: true,
	specs.SchedISO: true, specs.SchedIdle: true, specs.SchedDeadline: true,
}

var schedFlags = map[specs.LinuxSchedulerFlag]bool{
	specs.SchedFlagResetOnFork: true, specs.SchedFlagReclaim: true, specs.SchedFlagDLOverrun: true,
	specs.SchedFlagKeepPolicy: true, specs.SchedFlagKeepParams: true,
	specs.SchedFlagUtilClampMin: true, specs.SchedFlagUtilClampMax: true,
}

func validateScheduler(s *specs.Scheduler, field string) error {
	if s == nil {
		return nil
	}
	if !schedPolicies[s.Policy] {
		return bad(field+".policy", "unknown policy %q", s.Policy)
	}
	for i, f := range s.Flags {
		if !schedFlags[f] {
			return bad(fmt.Sprintf("%s.flags[%d]", field, i), "unknown flag %q", f)
		}
	}
	if s.Nice < -20 || s.Nice > 19 {
		return bad(field+".nice", "%d out of range [-20, 19]", s.Nice)
	}
	switch s.Policy {
	case specs.SchedFIFO, specs.SchedRR:
		if s.Priority < 1 || s.Priority > 99 {
			return bad(field+".priority", "%d out of range [1, 99] for %s", s.Priority, s.Policy)
		}
	default:
		if s.Priority != 0 {
			return bad(field+".priority", "must be 0 for %s", s.Policy)
		}
	}
	if s.Policy == specs.SchedDeadline {
		if s.Runtime == 0 {
			return bad(field+".runtime", "must be > 0 for SCHED_DEADLINE")
		}
		if s.Deadline != 0 && s.Runtime > s.Deadline {
			return bad(field+".runtime", "%d above deadline %d", s.Runtime, s.Deadline)
		}
		if s.Period != 0 && s.Deadline > s.Period {
			return bad(field+".deadline", "%d above period %d", s.Deadline, s.Period)
		}
	}
	return nil
}

func validateIOPriority(p *specs.LinuxIOPriority, field string) error {
	if p == nil {
		return nil
	}
	switch p.Class {
	case specs.IOPRIO_CLASS_RT, specs.IOPRIO_CLASS_BE, specs.IOPRIO_CLASS_IDLE:
	default:
		return bad(field+".class", "unknown class %q", p.Class)
	}
	if p.Priority < 0 || p.Priority > 7 {
		return bad(field+".priority", "%d out of range [0, 7]", p.Priority)
	}
	return nil
}

// validateCPUList checks a cpuset list such as "0-3,7".
func validateCPUList(s string) error {
	if s == "" {
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return fmt.Errorf("%q is not a CPU list (e.g. 0-3,7)", s)
		}
		if isRange {
			b, err := strconv.ParseUint(hi, 10, 16)
			if err != nil || b < a {
				return fmt.Errorf("%q is not a CPU list (e.g. 0-3,7)", s)
			}
		}
	}
	return nil
}

func apparmorEnabled() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.HasPrefix(string(b), "Y")
}

func selinuxEnabled() bool {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/selinux", &st); err != nil {
		return false
	}
	return st.Type == unix.SELINUX_MAGIC
}

// namespace types of runtime-spec mapped to the CLONE_NEW* flag the kernel
// reports for their nsfs files.
var nsTypes = map[specs.LinuxNamespaceType]int{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
	specs.TimeNamespace:    unix.CLONE_NEWTIME,
}

// NamespaceFlag returns the CLONE_NEW* flag of a runtime-spec namespace type.
func NamespaceFlag(t specs.LinuxNamespaceType) (int, bool) {
	f, ok := nsTypes[t]
	return f, ok
}

// nsGetNSType is NS_GET_NSTYPE from linux/nsfs.h.
const nsGetNSType = 0xb703

// CheckNamespacePath verifies that path is an nsfs file of type t.
func CheckNamespacePath(t specs.LinuxNamespaceType, path string) error {
	want, ok := nsTypes[t]
	if !ok {
		return fmt.Errorf("unknown namespace type %q", t)
	}
	// O_PATH first: opening a fifo or device for reading could block or
	// have side effects; only an nsfs file is then opened for the ioctl.
	pfd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(pfd)
	var st unix.Statfs_t
	if err := unix.Fstatfs(pfd, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", path, err)
	}
	if st.Type != unix.NSFS_MAGIC {
		return fmt.Errorf("%s is not a namespace file", path)
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", pfd), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	got, err := unix.IoctlRetInt(fd, nsGetNSType)
	if err != nil {
		return fmt.Errorf("%s: NS_GET_NSTYPE: %w", path, err)
	}
	if got != want {
		return fmt.Errorf("%s is not a %s namespace", path, t)
	}
	return nil
}

// nsInfo summarises linux.namespaces.
type nsInfo struct {
	has  map[specs.LinuxNamespaceType]bool // listed (new or joined)
	path map[specs.LinuxNamespaceType]string
}

func (n nsInfo) isNew(t specs.LinuxNamespaceType) bool { return n.has[t] && n.path[t] == "" }

func validateNamespaces(l *specs.Linux) (nsInfo, error) {
	info := nsInfo{has: map[specs.LinuxNamespaceType]bool{}, path: map[specs.LinuxNamespaceType]string{}}
	for i, ns := range l.Namespaces {
		f := fmt.Sprintf("linux.namespaces[%d]", i)
		if _, ok := nsTypes[ns.Type]; !ok {
			return info, bad(f+".type", "unknown namespace type %q", ns.Type)
		}
		if info.has[ns.Type] {
			return info, bad(f+".type", "namespace %q listed twice", ns.Type)
		}
		info.has[ns.Type] = true
		if ns.Path != "" {
			if !filepath.IsAbs(ns.Path) {
				return info, bad(f+".path", "%q must be an absolute path", ns.Path)
			}
			if err := CheckNamespacePath(ns.Type, ns.Path); err != nil {
				return info, bad(f+".path", "%v", err)
			}
			info.path[ns.Type] = ns.Path
		}
	}
	return info, nil
}

func validateIDMappings(m []specs.LinuxIDMapping, field string) error {
	if len(m) > 340 {
		return bad(field, "%d entries, the kernel accepts at most 340", len(m))
	}
	for i, a := range m {
		f := fmt.Sprintf("%s[%d]", field, i)
		if a.Size == 0 {
			return bad(f, "size must be > 0")
		}
		if uint64(a.ContainerID)+uint64(a.Size) > 1<<32 {
			return bad(f, "containerID %d + size %d overflows 32 bits", a.ContainerID, a.Size)
		}
		if uint64(a.HostID)+uint64(a.Size) > 1<<32 {
			return bad(f, "hostID %d + size %d overflows 32 bits", a.HostID, a.Size)
		}
		for j := 0; j < i; j++ {
			b := m[j]
			if overlap(a.ContainerID, a.Size, b.ContainerID, b.Size) {
				return bad(f, "containerID range [%d, %d) overlaps %s[%d]", a.ContainerID, uint64(a.ContainerID)+uint64(a.Size), field, j)
			}
			if overlap(a.HostID, a.Size, b.HostID, b.Size) {
				return bad(f, "hostID range [%d, %d) overlaps %s[%d]", a.HostID, uint64(a.HostID)+uint64(a.Size), field, j)
			}
		}
	}
	return nil
}

func overlap(a, as, b, bs uint32) bool {
	return uint64(a) < uint64(b)+uint64(bs) && uint64(b) < uint64(a)+uint64(as)
}

// sysctls namespaced by the IPC namespace (besides the fs.mqueue. prefix).
var ipcSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

// SysctlPath returns the path under /proc/sys of a sysctl key, in sysctl(8)
// notation: dots separate levels, a slash stands for a dot inside one level
// ("net.ipv4.conf.eth0/100.rp_filter"). Keys that could leave /proc/sys are
// rejected.
func SysctlPath(key string) (string, error) {
	if key == "" {
		return "", errors.New("empty key")
	}
	sep := "."
	// A key written with slashes as separators ("net/ipv4/ip_forward")
	// has no dots swapped.
	if !strings.Contains(key, ".") && strings.Contains(key, "/") {
		sep = "/"
	}
	parts := strings.Split(key, sep)
	for i, p := range parts {
		if sep == "." {
			p = strings.ReplaceAll(p, "/", ".")
		}
		if p == "" || p == "." || p == ".." || strings.ContainsAny(p, "/\x00") {
			return "", fmt.Errorf("key %q is not a valid sysctl name", key)
		}
		parts[i] = p
	}
	return "/proc/sys/" + strings.Join(parts, "/"), nil
}

func validateSysctl(s *specs.Spec, ns nsInfo) error {
	for k := range s.Linux.Sysctl {
		f := fmt.Sprintf("linux.sysctl[%q]", k)
		if _, err := SysctlPath(k); err != nil {
			return bad(f, "%v", err)
		}
		switch {
		case ipcSysctls[k] || strings.HasPrefix(k, "fs.mqueue."):
			if !ns.has[specs.IPCNamespace] {
				return bad(f, "needs an IPC namespace (linux.namespaces has none)")
			}
		case strings.HasPrefix(k, "net."):
			if !ns.has[specs.NetworkNamespace] {
				return bad(f, "needs a network namespace (linux.namespaces has none)")
			}
		case k == "kernel.hostname" || k == "kernel.domainname":
			if !ns.has[specs.UTSNamespace] {
				return bad(f, "needs a UTS namespace (linux.namespaces has none)")
			}
			if k == "kernel.hostname" && s.Hostname != "" {
				return bad(f, "contradicts hostname %q; set hostname only", s.Hostname)
			}
		default:
			return bad(f, "not namespaced: it would change the host; refused")
		}
	}
	return nil
}

func validateLinux(s *specs.Spec) error {
	l := s.Linux
	ns, err := validateNamespaces(l)
	if err != nil {
		return err
	}
	if len(s.Hostname) > 64 {
		return bad("hostname", "%d bytes, the kernel allows at most 64", len(s.Hostname))
	}
	if len(s.Domainname) > 64 {
		return bad("domainname", "%d bytes, the kernel allows at most 64", len(s.Domainname))
	}
	if (s.Hostname != "" || s.Domainname != "") && !ns.has[specs.UTSNamespace] {
		f := "hostname"
		if s.Hostname == "" {
			f = "domainname"
		}
		return bad(f, "set without a UTS namespace (add {\"type\": \"uts\"} to linux.namespaces)")
	}
	if len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0 {
		if !ns.has[specs.UserNamespace] {
			return bad("linux.uidMappings", "id mappings given without a user namespace")
		}
	}
	if ns.isNew(specs.UserNamespace) {
		if len(l.UIDMappings) == 0 {
			return bad("linux.uidMappings", "a new user namespace needs uid mappings")
		}
		if len(l.GIDMappings) == 0 {
			return bad("linux.gidMappings", "a new user namespace needs gid mappings")
		}
	}
	if err := validateIDMappings(l.UIDMappings, "linux.uidMappings"); err != nil {
		return err
	}
	if err := validateIDMappings(l.GIDMappings, "linux.gidMappings"); err != nil {
		return err
	}
	if ns.isNew(specs.UserNamespace) && s.Process != nil {
		u := s.Process.User
		if !mapped(u.UID, l.UIDMappings) {
			return bad("process.user.uid", "%d is not mapped by linux.uidMappings", u.UID)
		}
		if !mapped(u.GID, l.GIDMappings) {
			return bad("process.user.gid", "%d is not mapped by linux.gidMappings", u.GID)
		}
		for i, g := range u.AdditionalGids {
			if !mapped(g, l.GIDMappings) {
				return bad(fmt.Sprintf("process.user.additionalGids[%d]", i), "%d is not mapped by linux.gidMappings", g)
			}
		}
	}
	if len(l.TimeOffsets) > 0 {
		if !ns.isNew(specs.TimeNamespace) {
			return bad("linux.timeOffsets", "needs a new time namespace")
		}
		for k, v := range l.TimeOffsets {
			if k != "monotonic" && k != "boottime" {
				return bad(fmt.Sprintf("linux.timeOffsets[%q]", k), "unknown clock (monotonic or boottime)")
			}
			if v.Nanosecs >= 1e9 {
				return bad(fmt.Sprintf("linux.timeOffsets[%q].nanosecs", k), "%d is not below 1e9", v.Nanosecs)
			}
		}
	}
	if err := validateSysctl(s, ns); err != nil {
		return err
	}
	if err := validateDevices(l.Devices); err != nil {
		return err
	}
	if err := validateCgroupsPath(l.CgroupsPath); err != nil {
		return err
	}
	if r := l.Resources; r != nil {
		for i, d := range r.Devices {
			f := fmt.Sprintf("linux.resources.devices[%d]", i)
			switch d.Type {
			case "", "a", "c", "b":
			default:
				return bad(f+".type", "%q must be a, b or c", d.Type)
			}
			if strings.Trim(d.Access, "rwm") != "" {
				return bad(f+".access", "%q may only contain r, w and m", d.Access)
			}
		}
	}
	switch l.RootfsPropagation {
	case "", "shared", "slave", "private", "rshared", "rslave", "rprivate", "unbindable", "runbindable":
	default:
		return bad("linux.rootfsPropagation", "unknown propagation %q", l.RootfsPropagation)
	}
	for i, p := range l.MaskedPaths {
		if !strings.HasPrefix(p, "/") {
			return bad(fmt.Sprintf("linux.maskedPaths[%d]", i), "%q must be an absolute path", p)
		}
	}
	for i, p := range l.ReadonlyPaths {
		if !strings.HasPrefix(p, "/") {
			return bad(fmt.Sprintf("linux.readonlyPaths[%d]", i), "%q must be an absolute path", p)
		}
	}
	if err := validateSeccomp(l.Seccomp); err != nil {
		return err
	}
	if p := l.Personality; p != nil {
		if p.Domain != specs.PerLinux && p.Domain != specs.PerLinux32 {
			return bad("linux.personality.domain", "unknown domain %q (LINUX or LINUX32)", p.Domain)
		}
		for i, fl := range p.Flags {
			return bad(fmt.Sprintf("linux.personality.flags[%d]", i), "unknown flag %q (none are defined)", fl)
		}
	}
	if mp := l.MemoryPolicy; mp != nil {
		switch mp.Mode {
		case specs.MpolDefault, specs.MpolBind, specs.MpolInterleave, specs.MpolWeightedInterleave,
			specs.MpolPreferred, specs.MpolPreferredMany, specs.MpolLocal:
		default:
			return bad("linux.memoryPolicy.mode", "unknown mode %q", mp.Mode)
		}
		if err := validateCPUList(mp.Nodes); err != nil {
			return bad("linux.memoryPolicy.nodes", "%v", err)
		}
		for i, fl := range mp.Flags {
			switch fl {
			case specs.MpolFNumaBalancing, specs.MpolFRelativeNodes, specs.MpolFStaticNodes:
			default:
				return bad(fmt.Sprintf("linux.memoryPolicy.flags[%d]", i), "unknown flag %q", fl)
			}
		}
	}
	for name := range l.NetDevices {
		if !ns.isNew(specs.NetworkNamespace) && !ns.has[specs.NetworkNamespace] {
			return bad(fmt.Sprintf("linux.netDevices[%q]", name), "needs a network namespace")
		}
		if name == "" || len(name) > 15 || strings.ContainsAny(name, "/: \t\n") || name == "." || name == ".." {
			return bad(fmt.Sprintf("linux.netDevices[%q]", name), "not a valid interface name")
		}
	}
	if l.IntelRdt != nil && !resctrlMounted() {
		return unsupported("linux.intelRdt", "Intel RDT requested but /sys/fs/resctrl is not mounted (no resctrl support on this machine)")
	}
	// linux.mountLabel only labels files; without SELinux there is nothing to
	// label and runc ignores it too. The runtime logs that it is ignored.
	return nil
}

func resctrlMounted() bool {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/resctrl", &st); err != nil {
		return false
	}
	return st.Type == 0x7655821 // RDTGROUP_SUPER_MAGIC
}

func validateDevices(ds []specs.LinuxDevice) error {
	seen := map[string]int{}
	for i, d := range ds {
		f := fmt.Sprintf("linux.devices[%d]", i)
		if d.Path == "" {
			return bad(f+".path", "missing")
		}
		if !strings.HasPrefix(d.Path, "/") {
			return bad(f+".path", "%q must be an absolute path", d.Path)
		}
		clean := filepath.Clean(d.Path)
		if clean == "/" || clean == "/dev" {
			return bad(f+".path", "%q is not a device node path", d.Path)
		}
		if j, ok := seen[clean]; ok {
			return bad(f+".path", "%q also given by linux.devices[%d]", d.Path, j)
		}
		seen[clean] = i
		switch d.Type {
		case "c", "b", "u":
			if d.Major < 0 || d.Minor < 0 {
				return bad(f, "major and minor must be >= 0")
			}
			if d.Major > 0xfff || d.Minor > 0xfffff {
				return bad(f, "major %d / minor %d out of range", d.Major, d.Minor)
			}
		case "p":
			// major/minor SHOULD be omitted for a fifo; they are ignored.
		default:
			return bad(f+".type", "%q must be c, b, u or p", d.Type)
		}
		if d.FileMode != nil && *d.FileMode&^os.FileMode(0o7777) != 0 && (*d.FileMode&os.ModeType) != 0 {
			// Type bits come from d.Type; permission bits only here.
			return bad(f+".fileMode", "%#o must hold permission bits only", uint32(*d.FileMode))
		}
	}
	return nil
}

func validateCgroupsPath(p string) error {
	if p == "" {
		return nil
	}
	if strings.ContainsRune(p, 0) || strings.ContainsAny(p, "\n") {
		return bad("linux.cgroupsPath", "contains a NUL or newline")
	}
	// systemd form "slice:prefix:name" is checked by the cgroup driver.
	if strings.Count(p, ":") == 2 && !strings.Contains(p, "/") {
		return nil
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return bad("linux.cgroupsPath", "%q must not contain \"..\"", p)
		}
	}
	return nil
}

var seccompActions = map[specs.LinuxSeccompAction]bool{
	specs.ActKill: true, specs.ActKillProcess: true, specs.ActKillThread: true, specs.ActTrap: true,
	specs.ActErrno: true, specs.ActTrace: true, specs.ActAllow: true, specs.ActLog: true, specs.ActNotify: true,
}

var seccompOps = map[specs.LinuxSeccompOperator]bool{
	specs.OpNotEqual: true, specs.OpLessThan: true, specs.OpLessEqual: true, specs.OpEqualTo: true,
	specs.OpGreaterEqual: true, specs.OpGreaterThan: true, specs.OpMaskedEqual: true,
}

var seccompArchs = map[specs.Arch]bool{
	specs.ArchX86: true, specs.ArchX86_64: true, specs.ArchX32: true, specs.ArchARM: true,
	specs.ArchAARCH64: true, specs.ArchMIPS: true, specs.ArchMIPS64: true, specs.ArchMIPS64N32: true,
	specs.ArchMIPSEL: true, specs.ArchMIPSEL64: true, specs.ArchMIPSEL64N32: true, specs.ArchPPC: true,
	specs.ArchPPC64: true, specs.ArchPPC64LE: true, specs.ArchS390: true, specs.ArchS390X: true,
	specs.ArchPARISC: true, specs.ArchPARISC64: true, specs.ArchRISCV64: true, specs.ArchLOONGARCH64: true,
	specs.ArchM68K: true, specs.ArchSH: true, specs.ArchSHEB: true,
}

var seccompFlags = map[specs.LinuxSeccompFlag]bool{
	"SECCOMP_FILTER_FLAG_TSYNC": true, specs.LinuxSeccompFlagLog: true,
	specs.LinuxSeccompFlagSpecAllow: true, specs.LinuxSeccompFlagWaitKillableRecv: true,
}

func validateSeccomp(sc *specs.LinuxSeccomp) error {
	if sc == nil {
		return nil
	}
	const f = "linux.seccomp"
	if !seccompActions[sc.DefaultAction] {
		return bad(f+".defaultAction", "unknown action %q", sc.DefaultAction)
	}
	for i, a := range sc.Architectures {
		if !seccompArchs[a] {
			return bad(fmt.Sprintf("%s.architectures[%d]", f, i), "unknown architecture %q", a)
		}
	}
	for i, fl := range sc.Flags {
		if !seccompFlags[fl] {
			return bad(fmt.Sprintf("%s.flags[%d]", f, i), "unknown flag %q", fl)
		}
	}
	notify := sc.DefaultAction == specs.ActNotify
	for i, sy := range sc.Syscalls {
		sf := fmt.Sprintf("%s.syscalls[%d]", f, i)
		if len(sy.Names) == 0 {
			return bad(sf+".names", "empty")
		}
		for j, n := range sy.Names {
			if n == "" {
				return bad(fmt.Sprintf("%s.names[%d]", sf, j), "empty syscall name")
			}
		}
		if !seccompActions[sy.Action] {
			return bad(sf+".action", "unknown action %q", sy.Action)
		}
		if sy.Action == specs.ActNotify {
			notify = true
		}
		if len(sy.Args) > 6 {
			return bad(sf+".args", "%d argument filters; a syscall has at most 6 arguments", len(sy.Args))
		}
		for j, a := range sy.Args {
			af := fmt.Sprintf("%s.args[%d]", sf, j)
			if a.Index > 5 {
				return bad(af+".index", "%d out of range [0, 5]", a.Index)
			}
			if !seccompOps[a.Op] {
				return bad(af+".op", "unknown operator %q", a.Op)
			}
		}
	}
	if sc.DefaultAction == specs.ActNotify {
		return bad(f+".defaultAction", "SCMP_ACT_NOTIFY cannot be the default action")
	}
	if notify && sc.ListenerPath == "" {
		return bad(f+".listenerPath", "required when an action is SCMP_ACT_NOTIFY")
	}
	if sc.ListenerPath != "" && !filepath.IsAbs(sc.ListenerPath) {
		return bad(f+".listenerPath", "%q must be an absolute path", sc.ListenerPath)
	}
	return nil
}

func validateHooks(h *specs.Hooks) error {
	if h == nil {
		return nil
	}
	lists := []struct {
		name  string
		hooks []specs.Hook
	}{
		{"prestart", h.Prestart}, {"createRuntime", h.CreateRuntime}, {"createContainer", h.CreateContainer},
		{"startContainer", h.StartContainer}, {"poststart", h.Poststart}, {"poststop", h.Poststop},
	}
	for _, l := range lists {
		for i, hk := range l.hooks {
			f := fmt.Sprintf("hooks.%s[%d]", l.name, i)
			if hk.Path == "" {
				return bad(f+".path", "missing")
			}
			if !filepath.IsAbs(hk.Path) {
				return bad(f+".path", "%q must be an absolute path", hk.Path)
			}
			if hk.Timeout != nil && *hk.Timeout <= 0 {
				return bad(f+".timeout", "%d must be > 0", *hk.Timeout)
			}
			for j, e := range hk.Env {
				if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
					return bad(fmt.Sprintf("%s.env[%d]", f, j), "%q must have the form KEY=value", e)
				}
			}
		}
	}
	return nil
}
