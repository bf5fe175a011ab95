package seccomp

//go:generate go run mksyscalls.go

import (
	"fmt"
	"runtime"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
)

// archInfo describes one seccomp architecture this build can filter.
type archInfo struct {
	name  specs.Arch
	audit uint32                   // seccomp_data.arch value (AUDIT_ARCH_*)
	table func() map[string]uint32 // syscall name → number as seen in seccomp_data.nr
	// bits32: syscall arguments are 32-bit; only the low word of each
	// argument is compared, as libseccomp does for 32-bit ABIs.
	bits32 bool

	maxOnce sync.Once
	max     uint32
}

var archs = map[specs.Arch]*archInfo{
	specs.ArchX86_64:  {name: specs.ArchX86_64, audit: unix.AUDIT_ARCH_X86_64, table: sync.OnceValue(syscallsX86_64)},
	specs.ArchX86:     {name: specs.ArchX86, audit: unix.AUDIT_ARCH_I386, table: sync.OnceValue(syscallsX86), bits32: true},
	specs.ArchX32:     {name: specs.ArchX32, audit: unix.AUDIT_ARCH_X86_64, table: sync.OnceValue(syscallsX32), bits32: true},
	specs.ArchAARCH64: {name: specs.ArchAARCH64, audit: unix.AUDIT_ARCH_AARCH64, table: sync.OnceValue(syscallsAARCH64)},
}

// x32SyscallBit marks x32 syscall numbers on the x86_64 audit arch.
const x32SyscallBit = 0x40000000

// nativeArch is the seccomp architecture of the running binary, or "".
func nativeArch() specs.Arch {
	switch runtime.GOARCH {
	case "amd64":
		return specs.ArchX86_64
	case "arm64":
		return specs.ArchAARCH64
	}
	return ""
}

// actions maps spec actions to their SECCOMP_RET_* base values.
var actions = map[specs.LinuxSeccompAction]uint32{
	specs.ActKill:        unix.SECCOMP_RET_KILL_THREAD,
	specs.ActKillThread:  unix.SECCOMP_RET_KILL_THREAD,
	specs.ActKillProcess: unix.SECCOMP_RET_KILL_PROCESS,
	specs.ActTrap:        unix.SECCOMP_RET_TRAP,
	specs.ActErrno:       unix.SECCOMP_RET_ERRNO,
	specs.ActTrace:       unix.SECCOMP_RET_TRACE,
	specs.ActAllow:       unix.SECCOMP_RET_ALLOW,
	specs.ActLog:         unix.SECCOMP_RET_LOG,
	specs.ActNotify:      unix.SECCOMP_RET_USER_NOTIF,
}

var operators = map[specs.LinuxSeccompOperator]bool{
	specs.OpNotEqual: true, specs.OpLessThan: true, specs.OpLessEqual: true, specs.OpEqualTo: true,
	specs.OpGreaterEqual: true, specs.OpGreaterThan: true, specs.OpMaskedEqual: true,
}

// flagTSYNC is accepted and ignored, as runc does: the filter is loaded by a
// single-purpose init on its own thread right before execve.
const flagTSYNC = "SECCOMP_FILTER_FLAG_TSYNC"

var flags = map[specs.LinuxSeccompFlag]uintptr{
	specs.LinuxSeccompFlagLog:              unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow:        unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
	specs.LinuxSeccompFlagWaitKillableRecv: unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
	flagTSYNC:                              0,
}

// badArchAction is returned for a syscall made under an architecture the
// filter does not list. It is libseccomp's default (SCMP_FLTATR_ACT_BADARCH
// = SCMP_ACT_KILL), which runc and crun keep: the calling thread is killed.
const badArchAction = unix.SECCOMP_RET_KILL_THREAD

// maxInsns is the kernel's limit on a classic BPF program (BPF_MAXINSNS).
const maxInsns = 4096

// validSyscallName: 1-64 characters of [a-z0-9_].
func validSyscallName(n string) bool {
	if len(n) == 0 || len(n) > 64 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func invalid(field, format string, a ...any) error {
	return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, a...), errdefs.ErrInvalidArgument)
}

// Validate checks s syntactically and names the offending field; it does not
// need the kernel. A nil s is valid (no filter).
func Validate(s *specs.LinuxSeccomp) error {
	_, err := validate(s)
	return err
}

// validate returns whether any rule uses SCMP_ACT_NOTIFY.
func validate(s *specs.LinuxSeccomp) (notify bool, err error) {
	if s == nil {
		return false, nil
	}
	if err := checkAction("linux.seccomp.defaultAction", "linux.seccomp.defaultErrnoRet", s.DefaultAction, s.DefaultErrnoRet); err != nil {
		return false, err
	}
	if s.DefaultAction == specs.ActNotify {
		return false, invalid("linux.seccomp.defaultAction", "SCMP_ACT_NOTIFY cannot be the default action")
	}
	for i, a := range s.Architectures {
		if _, ok := archs[a]; !ok {
			if knownSpecArch(a) {
				return false, invalid(fmt.Sprintf("linux.seccomp.architectures[%d]", i), "architecture %q is not supported by this build (supported: %v)", a, KnownArchs())
			}
			return false, invalid(fmt.Sprintf("linux.seccomp.architectures[%d]", i), "unknown architecture %q", a)
		}
	}
	for i, sc := range s.Syscalls {
		field := fmt.Sprintf("linux.seccomp.syscalls[%d]", i)
		if len(sc.Names) == 0 {
			return false, invalid(field+".names", "must name at least one syscall")
		}
		for j, n := range sc.Names {
			if !validSyscallName(n) {
				return false, invalid(fmt.Sprintf("%s.names[%d]", field, j), "invalid syscall name %q", n)
			}
		}
		if err := checkAction(field+".action", field+".errnoRet", sc.Action, sc.ErrnoRet); err != nil {
			return false, err
		}
		if sc.Action == specs.ActNotify {
			notify = true
		}
		for j, a := range sc.Args {
			af := fmt.Sprintf("%s.args[%d]", field, j)
			if a.Index > 5 {
				return false, invalid(af+".index", "%d out of range 0-5", a.Index)
			}
			if !operators[a.Op] {
				return false, invalid(af+".op", "unknown operator %q", a.Op)
			}
		}
	}
	for i, f := range s.Flags {
		if _, ok := flags[f]; !ok {
			return false, invalid(fmt.Sprintf("linux.seccomp.flags[%d]", i), "unknown flag %q", f)
		}
		if f == specs.LinuxSeccompFlagWaitKillableRecv {
			if !notify {
				return false, invalid(fmt.Sprintf("linux.seccomp.flags[%d]", i), "%s needs a SCMP_ACT_NOTIFY rule", f)
			}
		}
	}
	if notify && s.ListenerPath == "" {
		return false, invalid("linux.seccomp.listenerPath", "required when a rule uses SCMP_ACT_NOTIFY")
	}
	return notify, nil
}

func checkAction(field, errnoField string, a specs.LinuxSeccompAction, errnoRet *uint) error {
	if _, ok := actions[a]; !ok {
		if a == "" {
			return invalid(field, "missing")
		}
		return invalid(field, "unknown action %q", a)
	}
	if errnoRet != nil {
		if a != specs.ActErrno && a != specs.ActTrace {
			return invalid(errnoField, "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not %s", a)
		}
		if *errnoRet > unix.SECCOMP_RET_DATA {
			return invalid(errnoField, "%d does not fit in 16 bits", *errnoRet)
		}
	}
	return nil
}

// actionValue is the SECCOMP_RET_* value of a (validated) action.
func actionValue(a specs.LinuxSeccompAction, errnoRet *uint) uint32 {
	v := actions[a]
	if a == specs.ActErrno || a == specs.ActTrace {
		data := uint32(unix.EPERM)
		if errnoRet != nil {
			data = uint32(*errnoRet)
		}
		v |= data & unix.SECCOMP_RET_DATA
	}
	return v
}

func knownSpecArch(a specs.Arch) bool {
	switch a {
	case specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64,
		specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL, specs.ArchMIPSEL64,
		specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64, specs.ArchPPC64LE, specs.ArchS390,
		specs.ArchS390X, specs.ArchPARISC, specs.ArchPARISC64, specs.ArchRISCV64,
		specs.ArchLOONGARCH64, specs.ArchM68K, specs.ArchSH, specs.ArchSHEB:
		return true
	}
	return false
}

// KnownActions lists the actions this build supports.
func KnownActions() []string {
	return []string{
		string(specs.ActKill), string(specs.ActKillProcess), string(specs.ActKillThread),
		string(specs.ActTrap), string(specs.ActErrno), string(specs.ActTrace),
		string(specs.ActAllow), string(specs.ActLog), string(specs.ActNotify),
	}
}

// KnownArchs lists the architectures this build can filter.
func KnownArchs() []string {
	return []string{string(specs.ArchX86_64), string(specs.ArchX86), string(specs.ArchX32), string(specs.ArchAARCH64)}
}

// KnownOperators lists the argument operators this build supports.
func KnownOperators() []string {
	return []string{
		string(specs.OpNotEqual), string(specs.OpLessThan), string(specs.OpLessEqual),
		string(specs.OpEqualTo), string(specs.OpGreaterEqual), string(specs.OpGreaterThan),
		string(specs.OpMaskedEqual),
	}
}

// KnownFlags lists the filter flags this build accepts.
func KnownFlags() []string {
	return []string{
		flagTSYNC, string(specs.LinuxSeccompFlagSpecAllow), string(specs.LinuxSeccompFlagLog),
		string(specs.LinuxSeccompFlagWaitKillableRecv),
	}
}
