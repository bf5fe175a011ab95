package linuxproc

import (
	"errors"
	"fmt"
	"os"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/runtime/spec"
)

// SetHostname sets s.Hostname and s.Domainname (each only when non-empty) in
// the calling process's UTS namespace.
func SetHostname(s *specs.Spec) error {
	if s == nil {
		return nil
	}
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("hostname %q: %w", s.Hostname, err)
		}
	}
	if s.Domainname != "" {
		if err := unix.Setdomainname([]byte(s.Domainname)); err != nil {
			return fmt.Errorf("domainname %q: %w", s.Domainname, err)
		}
	}
	return nil
}

// OpenProc opens path, which must be under /proc, and makes sure the file is
// on the real procfs: /proc itself must be a procfs mount, the path is
// resolved beneath it without crossing into another mount and without magic
// links, and the opened file is checked again with fstatfs. A file system
// mounted over /proc or part of it (CVE-2019-16884 class) cannot redirect the
// write. flags are open(2) flags; O_CLOEXEC is always added.
func OpenProc(p string, flags int) (*os.File, error) {
	clean := path.Clean(p)
	if !strings.HasPrefix(clean, "/proc/") {
		return nil, fmt.Errorf("%s: not under /proc: %w", p, errdefs.ErrInvalidArgument)
	}
	procfd, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /proc: %w", err)
	}
	defer unix.Close(procfd)
	if err := isProcfs(procfd); err != nil {
		return nil, fmt.Errorf("/proc: %w", err)
	}
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC | unix.O_NOCTTY),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_XDEV | unix.RESOLVE_NO_MAGICLINKS,
	}
	var fd int
	for {
		fd, err = unix.Openat2(procfd, strings.TrimPrefix(clean, "/proc/"), &how)
		if err != unix.EINTR && err != unix.EAGAIN {
			break
		}
	}
	if err != nil {
		if err == unix.EXDEV {
			return nil, fmt.Errorf("%s: another mount covers it inside /proc; refusing: %w", p, err)
		}
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	if err := isProcfs(fd); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return os.NewFile(uintptr(fd), clean), nil
}

func isProcfs(fd int) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return err
	}
	if st.Type != unix.PROC_SUPER_MAGIC {
		return fmt.Errorf("not on procfs (file system magic %#x); refusing", st.Type)
	}
	return nil
}

// writeProc writes value to a procfs file opened with OpenProc.
func writeProc(p, value string) error {
	f, err := OpenProc(p, unix.O_WRONLY)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte(value))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ApplySysctl writes each key (sysctl(8) notation, e.g. "net.ipv4.ip_forward")
// under /proc/sys through OpenProc, in sorted key order.
func ApplySysctl(m map[string]string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p, err := spec.SysctlPath(k)
		if err != nil {
			return fmt.Errorf("linux.sysctl[%q]: %v: %w", k, err, errdefs.ErrInvalidArgument)
		}
		if err := writeProc(p, m[k]); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("linux.sysctl[%q]: no such sysctl (%s): %w", k, p, errdefs.ErrInvalidArgument)
			}
			return fmt.Errorf("linux.sysctl[%q] = %q: %w", k, m[k], err)
		}
	}
	return nil
}

// SetRlimits applies rlimits to the calling process. Raising a hard limit
// needs CAP_SYS_RESOURCE; without it the error says so.
func SetRlimits(rl []specs.POSIXRlimit) error {
	for i, r := range rl {
		res, ok := spec.RlimitNames[r.Type]
		if !ok {
			return fmt.Errorf("process.rlimits[%d].type: unknown rlimit %q: %w", i, r.Type, errdefs.ErrInvalidArgument)
		}
		var old unix.Rlimit
		if err := unix.Prlimit(0, res, nil, &old); err != nil {
			return fmt.Errorf("process.rlimits[%d] %s: read current limit: %w", i, r.Type, err)
		}
		// Through the syscall package: for RLIMIT_NOFILE it tells the Go
		// runtime not to restore, at exec, the soft limit it raised at start-up.
		nl := syscall.Rlimit{Cur: r.Soft, Max: r.Hard}
		if err := syscall.Setrlimit(res, &nl); err != nil {
			if err == unix.EPERM && r.Hard > old.Max {
				return fmt.Errorf("process.rlimits[%d] %s: raising the hard limit from %s to %s requires CAP_SYS_RESOURCE, which this runtime does not have: %w",
					i, r.Type, limitString(old.Max), limitString(r.Hard), errdefs.ErrFailedPrecondition)
			}
			if err == unix.EINVAL && r.Soft > r.Hard {
				return fmt.Errorf("process.rlimits[%d] %s: soft limit %d above hard limit %d: %w", i, r.Type, r.Soft, r.Hard, errdefs.ErrInvalidArgument)
			}
			return fmt.Errorf("process.rlimits[%d] %s (soft %s, hard %s): %w", i, r.Type, limitString(r.Soft), limitString(r.Hard), err)
		}
	}
	return nil
}

func limitString(v uint64) string {
	if v == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

// SetOOMScoreAdj writes v to /proc/<pid>/oom_score_adj (pid 0: the calling
// process); nil v is a no-op. Lowering the value needs CAP_SYS_RESOURCE; the
// error says so.
func SetOOMScoreAdj(pid int, v *int) error {
	if v == nil {
		return nil
	}
	if *v < -1000 || *v > 1000 {
		return fmt.Errorf("process.oomScoreAdj %d: out of range [-1000, 1000]: %w", *v, errdefs.ErrInvalidArgument)
	}
	who := "self"
	if pid > 0 {
		who = strconv.Itoa(pid)
	}
	p := "/proc/" + who + "/oom_score_adj"
	err := writeProc(p, strconv.Itoa(*v))
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		cur := "?"
		if f, oerr := OpenProc(p, unix.O_RDONLY); oerr == nil {
			b := make([]byte, 16)
			n, _ := f.Read(b)
			f.Close()
			cur = strings.TrimSpace(string(b[:n]))
		}
		return fmt.Errorf("process.oomScoreAdj %d: lowering (current %s) requires CAP_SYS_RESOURCE, which this runtime does not have: %w", *v, cur, errdefs.ErrFailedPrecondition)
	}
	return fmt.Errorf("process.oomScoreAdj %d: %w", *v, err)
}

// Personality values from linux/personality.h.
const (
	perLinux   = 0x0000
	perLinux32 = 0x0008
)

// SetPersonality applies the execution domain; nil is a no-op.
func SetPersonality(p *specs.LinuxPersonality) error {
	if p == nil {
		return nil
	}
	var persona uintptr
	switch p.Domain {
	case specs.PerLinux:
		persona = perLinux
	case specs.PerLinux32:
		persona = perLinux32
	default:
		return fmt.Errorf("linux.personality.domain: unknown %q: %w", p.Domain, errdefs.ErrInvalidArgument)
	}
	if len(p.Flags) > 0 {
		return fmt.Errorf("linux.personality.flags: unknown flag %q: %w", p.Flags[0], errdefs.ErrInvalidArgument)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, persona, 0, 0); e != 0 {
		return fmt.Errorf("linux.personality %s: %w", p.Domain, e)
	}
	return nil
}

// I/O priority encoding from linux/ioprio.h.
const (
	ioprioWhoProcess = 1
	ioprioClassShift = 13
)

var ioprioClasses = map[specs.IOPriorityClass]int{
	specs.IOPRIO_CLASS_RT: 1, specs.IOPRIO_CLASS_BE: 2, specs.IOPRIO_CLASS_IDLE: 3,
}

// SetIOPriority sets the calling thread's I/O priority; nil is a no-op.
func SetIOPriority(p *specs.LinuxIOPriority) error {
	if p == nil {
		return nil
	}
	class, ok := ioprioClasses[p.Class]
	if !ok {
		return fmt.Errorf("process.ioPriority.class: unknown %q: %w", p.Class, errdefs.ErrInvalidArgument)
	}
	if p.Priority < 0 || p.Priority > 7 {
		return fmt.Errorf("process.ioPriority.priority: %d out of range [0, 7]: %w", p.Priority, errdefs.ErrInvalidArgument)
	}
	v := class<<ioprioClassShift | p.Priority
	if _, _, e := unix.RawSyscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, uintptr(v)); e != 0 {
		return fmt.Errorf("process.ioPriority (%s, %d): %w", p.Class, p.Priority, e)
	}
	return nil
}

var schedPolicies = map[specs.LinuxSchedulerPolicy]uint32{
	specs.SchedOther: 0, specs.SchedFIFO: 1, specs.SchedRR: 2, specs.SchedBatch: 3,
	specs.SchedISO: 4, specs.SchedIdle: 5, specs.SchedDeadline: 6,
}

var schedFlags = map[specs.LinuxSchedulerFlag]uint64{
	specs.SchedFlagResetOnFork: 0x01, specs.SchedFlagReclaim: 0x02, specs.SchedFlagDLOverrun: 0x04,
	specs.SchedFlagKeepPolicy: 0x08, specs.SchedFlagKeepParams: 0x10,
	specs.SchedFlagUtilClampMin: 0x20, specs.SchedFlagUtilClampMax: 0x40,
}

// schedAttr converts the spec's scheduler to sched_setattr's argument.
func schedAttr(s *specs.Scheduler) (*unix.SchedAttr, error) {
	pol, ok := schedPolicies[s.Policy]
	if !ok {
		return nil, fmt.Errorf("process.scheduler.policy: unknown %q: %w", s.Policy, errdefs.ErrInvalidArgument)
	}
	a := &unix.SchedAttr{
		Policy: pol, Nice: s.Nice, Priority: uint32(s.Priority),
		Runtime: s.Runtime, Deadline: s.Deadline, Period: s.Period,
	}
	for i, f := range s.Flags {
		v, ok := schedFlags[f]
		if !ok {
			return nil, fmt.Errorf("process.scheduler.flags[%d]: unknown %q: %w", i, f, errdefs.ErrInvalidArgument)
		}
		a.Flags |= v
	}
	return a, nil
}

// SetScheduler applies sched_setattr to the calling thread; nil is a no-op.
func SetScheduler(s *specs.Scheduler) error {
	if s == nil {
		return nil
	}
	a, err := schedAttr(s)
	if err != nil {
		return err
	}
	if err := unix.SchedSetAttr(0, a, 0); err != nil {
		return fmt.Errorf("process.scheduler (%s): %w", s.Policy, err)
	}
	return nil
}

// SetUmask sets the umask; nil is a no-op.
func SetUmask(m *uint32) error {
	if m == nil {
		return nil
	}
	if *m > 0o777 {
		return fmt.Errorf("process.user.umask %#o: out of range: %w", *m, errdefs.ErrInvalidArgument)
	}
	unix.Umask(int(*m))
	return nil
}

// SwitchUser sets supplementary groups, gid and uid of the calling thread,
// keeping permitted capabilities (PR_SET_KEEPCAPS) so that capabilities can
// be applied afterwards. Clearing the supplementary groups is skipped where
// setgroups(2) is denied (a user namespace with setgroups "deny") and none
// were asked for.
//
// Like capabilities, the credentials change on this thread only (raw
// system calls): the caller is a container's init locked to the thread that
// execs the user program, and execve leaves no other thread. The C library's
// process-wide variants would stop every thread of the Go runtime with a
// signal, three times, on the way to every container's start.
func SwitchUser(u specs.User) error {
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("process.user: keep capabilities: %w", err)
	}
	gids := make([]uint32, len(u.AdditionalGids))
	copy(gids, u.AdditionalGids)
	var list uintptr
	if len(gids) > 0 {
		list = uintptr(unsafe.Pointer(&gids[0]))
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(gids)), list, 0); e != 0 {
		if !(len(gids) == 0 && e == unix.EPERM) {
			return fmt.Errorf("process.user.additionalGids %v: setgroups: %w", u.AdditionalGids, e)
		}
	}
	runtime.KeepAlive(gids)
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("process.user.gid %d: %w (is it mapped in the user namespace?)", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("process.user.uid %d: %w (is it mapped in the user namespace?)", u.UID, e)
	}
	return nil
}
