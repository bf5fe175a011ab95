package seccomp

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
)

func uptr(v uint) *uint { return &v }

func x64(name string, args ...uint64) seccompData {
	d := seccompData{nr: syscallsX86_64()[name], arch: unix.AUDIT_ARCH_X86_64}
	copy(d.args[:], args)
	return d
}

func mustCompile(t testing.TB, s *specs.LinuxSeccomp) []unix.SockFilter {
	t.Helper()
	prog, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(prog); err != nil {
		t.Fatalf("program fails the kernel's checks: %v", err)
	}
	return prog
}

func expect(t *testing.T, prog []unix.SockFilter, s *specs.LinuxSeccomp, d seccompData, want uint32) {
	t.Helper()
	got, err := run(prog, d)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("nr %#x arch %#x args %#x: got %#x, want %#x", d.nr, d.arch, d.args, got, want)
	}
	if m := model(s, d); m != want {
		t.Errorf("model disagrees for nr %#x: model %#x, want %#x", d.nr, m, want)
	}
}

func TestCompileEveryAction(t *testing.T) {
	cases := []struct {
		act   specs.LinuxSeccompAction
		errno *uint
		want  uint32
	}{
		{specs.ActKill, nil, unix.SECCOMP_RET_KILL_THREAD},
		{specs.ActKillThread, nil, unix.SECCOMP_RET_KILL_THREAD},
		{specs.ActKillProcess, nil, unix.SECCOMP_RET_KILL_PROCESS},
		{specs.ActTrap, nil, unix.SECCOMP_RET_TRAP},
		{specs.ActErrno, nil, unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{specs.ActErrno, uptr(uint(unix.ENOSYS)), unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{specs.ActTrace, nil, unix.SECCOMP_RET_TRACE | uint32(unix.EPERM)},
		{specs.ActTrace, uptr(1234), unix.SECCOMP_RET_TRACE | 1234},
		{specs.ActLog, nil, unix.SECCOMP_RET_LOG},
		{specs.ActNotify, nil, unix.SECCOMP_RET_USER_NOTIF},
	}
	for _, tc := range cases {
		s := &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			ListenerPath:  "/run/x.sock",
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"getpid", "mkdirat"}, Action: tc.act, ErrnoRet: tc.errno}},
		}
		prog := mustCompile(t, s)
		expect(t, prog, s, x64("getpid"), tc.want)
		expect(t, prog, s, x64("mkdirat"), tc.want)
		expect(t, prog, s, x64("getppid"), unix.SECCOMP_RET_ALLOW)
	}
	// The default action with its errno.
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno, DefaultErrnoRet: uptr(uint(unix.EACCES)),
		Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow}},
	}
	prog := mustCompile(t, s)
	expect(t, prog, s, x64("read"), unix.SECCOMP_RET_ALLOW)
	expect(t, prog, s, x64("write"), unix.SECCOMP_RET_ERRNO|uint32(unix.EACCES))
	// Numbers newer than every syscall this build knows answer ENOSYS when
	// the default denies; unknown numbers inside the table's range do not.
	expect(t, prog, s, seccompData{nr: 9999, arch: unix.AUDIT_ARCH_X86_64}, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS))
	expect(t, prog, s, seccompData{nr: archs[specs.ArchX86_64].maxNr() + 1, arch: unix.AUDIT_ARCH_X86_64}, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS))
	expect(t, prog, s, seccompData{nr: archs[specs.ArchX86_64].maxNr(), arch: unix.AUDIT_ARCH_X86_64}, unix.SECCOMP_RET_ERRNO|uint32(unix.EACCES))
	expect(t, prog, s, seccompData{nr: 400, arch: unix.AUDIT_ARCH_X86_64}, unix.SECCOMP_RET_ERRNO|uint32(unix.EACCES)) // a gap
	s.DefaultAction, s.DefaultErrnoRet = specs.ActLog, nil
	prog = mustCompile(t, s)
	expect(t, prog, s, seccompData{nr: 9999, arch: unix.AUDIT_ARCH_X86_64}, unix.SECCOMP_RET_LOG)
}

// Every operator on 64-bit values, around both 32-bit halves.
func TestCompileArgOperators64(t *testing.T) {
	values := []uint64{0, 1, 2, 0xffffffff, 0x100000000, 0x100000001, 0x1ffffffff, 0xfffffffe00000000, math.MaxUint64 - 1, math.MaxUint64}
	ops := []specs.LinuxSeccompOperator{specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual}
	deny := unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	for _, op := range ops {
		for _, v := range values {
			for idx := uint(0); idx < 6; idx++ {
				c := specs.LinuxSeccompArg{Index: idx, Op: op, Value: v, ValueTwo: v & 0xffff0000ffff0000}
				s := &specs.LinuxSeccomp{
					DefaultAction: specs.ActAllow,
					Syscalls:      []specs.LinuxSyscall{{Names: []string{"ioctl"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{c}}},
				}
				prog := mustCompile(t, s)
				for _, a := range values {
					var args [6]uint64
					args[idx] = a
					d := x64("ioctl", args[:]...)
					want := uint32(unix.SECCOMP_RET_ALLOW)
					if holds(c, a, false) {
						want = deny
					}
					expect(t, prog, s, d, want)
				}
			}
		}
	}
	// A few by hand, so the model itself is checked too.
	hand := []struct {
		op      specs.LinuxSeccompOperator
		v, v2   uint64
		arg     uint64
		matches bool
	}{
		{specs.OpEqualTo, 0x100000000, 0, 0, false},
		{specs.OpEqualTo, 0x100000000, 0, 0x100000000, true},
		{specs.OpGreaterThan, 0xffffffff, 0, 0x100000000, true},
		{specs.OpLessThan, 0x100000000, 0, 0xffffffff, true},
		{specs.OpLessThan, 0x100000000, 0, 0x100000000, false},
		{specs.OpLessEqual, 5, 0, 0x500000000, false},
		{specs.OpGreaterEqual, 0x200000000, 0, 0x1ffffffff, false},
		{specs.OpNotEqual, 7, 0, 0x700000007, true},
		{specs.OpMaskedEqual, 0x7c020000, 0, 0x00d00011, true}, // clone without namespace flags
		{specs.OpMaskedEqual, 0x7c020000, 0, 0x20000000, false},
		{specs.OpMaskedEqual, 0xff00000000, 0x1200000000, 0x12ffffffff, true},
	}
	for _, h := range hand {
		s := &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"clone"}, Action: specs.ActKillProcess,
				Args: []specs.LinuxSeccompArg{{Index: 0, Op: h.op, Value: h.v, ValueTwo: h.v2}}}},
		}
		prog := mustCompile(t, s)
		want := uint32(unix.SECCOMP_RET_ALLOW)
		if h.matches {
			want = unix.SECCOMP_RET_KILL_PROCESS
		}
		expect(t, prog, s, x64("clone", h.arg), want)
	}
}

func TestCompileArgsAndOrSemantics(t *testing.T) {
	// Different indexes: AND.
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
			{Index: 0, Op: specs.OpEqualTo, Value: unix.AF_UNIX},
			{Index: 1, Op: specs.OpMaskedEqual, Value: 0xf, ValueTwo: unix.SOCK_STREAM},
		}}},
	}
	prog := mustCompile(t, s)
	eperm := unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	expect(t, prog, s, x64("socket", unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC), unix.SECCOMP_RET_ALLOW)
	expect(t, prog, s, x64("socket", unix.AF_UNIX, unix.SOCK_DGRAM), eperm)
	expect(t, prog, s, x64("socket", unix.AF_INET, unix.SOCK_STREAM), eperm)
	// Same index twice: each is a rule of its own (OR).
	s.Syscalls[0].Args = []specs.LinuxSeccompArg{
		{Index: 0, Op: specs.OpEqualTo, Value: unix.AF_UNIX},
		{Index: 0, Op: specs.OpEqualTo, Value: unix.AF_INET},
	}
	prog = mustCompile(t, s)
	expect(t, prog, s, x64("socket", unix.AF_UNIX), unix.SECCOMP_RET_ALLOW)
	expect(t, prog, s, x64("socket", unix.AF_INET), unix.SECCOMP_RET_ALLOW)
	expect(t, prog, s, x64("socket", unix.AF_INET6), eperm)
	// Several rules for one syscall: OR, first match wins.
	s.Syscalls = []specs.LinuxSyscall{
		{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 0}}},
		{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 8}}},
		{Names: []string{"personality"}, Action: specs.ActLog, Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpGreaterEqual, Value: 8}}},
	}
	prog = mustCompile(t, s)
	expect(t, prog, s, x64("personality", 0), unix.SECCOMP_RET_ALLOW)
	expect(t, prog, s, x64("personality", 8), unix.SECCOMP_RET_ALLOW)
	expect(t, prog, s, x64("personality", 9), unix.SECCOMP_RET_LOG)
	expect(t, prog, s, x64("personality", 3), eperm)
	// An unconditional rule overrides conditional ones for that syscall.
	s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"personality"}, Action: specs.ActTrap})
	prog = mustCompile(t, s)
	expect(t, prog, s, x64("personality", 0), unix.SECCOMP_RET_TRAP)
	expect(t, prog, s, x64("personality", 3), unix.SECCOMP_RET_TRAP)
	// A rule equal to the default action is dropped.
	s = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"read"}, Action: specs.ActAllow},
		{Names: []string{"write"}, Action: specs.ActErrno, ErrnoRet: uptr(uint(unix.EPERM))},
	}}
	prog = mustCompile(t, s)
	expect(t, prog, s, x64("read"), unix.SECCOMP_RET_ALLOW)
	expect(t, prog, s, x64("write"), eperm)
}

func TestCompileArchitectures(t *testing.T) {
	eperm := unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	base := func(arches ...specs.Arch) *specs.LinuxSeccomp {
		return &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow, Architectures: arches,
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"mkdirat", "socketcall", "arch_prctl"}, Action: specs.ActErrno},
				{Names: []string{"getpid"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpEqualTo, Value: 0x100000005}}},
			},
		}
	}
	i386 := func(name string, args ...uint64) seccompData {
		d := seccompData{nr: syscallsX86()[name], arch: unix.AUDIT_ARCH_I386}
		copy(d.args[:], args)
		return d
	}
	x32 := func(name string) seccompData {
		return seccompData{nr: syscallsX32()[name], arch: unix.AUDIT_ARCH_X86_64}
	}
	arm := seccompData{nr: syscallsAARCH64()["mkdirat"], arch: unix.AUDIT_ARCH_AARCH64}

	// Native only: 32-bit and x32 calls hit the bad-arch action.
	s := base()
	prog := mustCompile(t, s)
	expect(t, prog, s, x64("mkdirat"), eperm)
	expect(t, prog, s, x64("arch_prctl"), eperm)
	expect(t, prog, s, x64("getpid", 0, 0x100000005), eperm)
	expect(t, prog, s, x64("getpid", 0, 5), unix.SECCOMP_RET_ALLOW)
	expect(t, prog, s, i386("mkdirat"), badArchAction)
	expect(t, prog, s, x32("mkdirat"), badArchAction)
	expect(t, prog, s, arm, badArchAction)
	expect(t, prog, s, seccompData{nr: 1, arch: 0x12345678}, badArchAction)

	// Docker's list on amd64: each ABI by its own numbers.
	s = base(specs.ArchX86_64, specs.ArchX86, specs.ArchX32)
	prog = mustCompile(t, s)
	expect(t, prog, s, i386("mkdirat"), eperm)
	expect(t, prog, s, i386("socketcall"), eperm)
	expect(t, prog, s, i386("read"), unix.SECCOMP_RET_ALLOW)
	// 32-bit ABI: only the low word of an argument is compared.
	expect(t, prog, s, i386("getpid", 0, 5), eperm)
	expect(t, prog, s, x32("mkdirat"), eperm)
	expect(t, prog, s, x32("read"), unix.SECCOMP_RET_ALLOW)
	// The x86_64 number of mkdirat on the x32 ABI is not mkdirat.
	expect(t, prog, s, seccompData{nr: syscallsX32()["mkdirat"] &^ x32SyscallBit, arch: unix.AUDIT_ARCH_X86_64}, eperm)
	expect(t, prog, s, arm, badArchAction)

	s = base(specs.ArchAARCH64)
	prog = mustCompile(t, s)
	expect(t, prog, s, arm, eperm)
	expect(t, prog, s, seccompData{nr: syscallsAARCH64()["getpid"], arch: unix.AUDIT_ARCH_AARCH64, args: [6]uint64{0, 0x100000005}}, eperm)
	expect(t, prog, s, seccompData{nr: syscallsAARCH64()["getpid"], arch: unix.AUDIT_ARCH_AARCH64, args: [6]uint64{0, 5}}, unix.SECCOMP_RET_ALLOW)
	expect(t, prog, s, i386("mkdirat"), badArchAction)
}

func TestCompileUnknownNamesSkipped(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"no_such_syscall", "getpid"}, Action: specs.ActErrno},
	}}
	prog := mustCompile(t, s)
	expect(t, prog, s, x64("getpid"), unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM))
	if prog, err := Compile(nil); prog != nil || err != nil {
		t.Fatalf("Compile(nil) = %v, %v", prog, err)
	}
}

func TestValidateErrors(t *testing.T) {
	ok := func() *specs.LinuxSeccomp {
		return &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read"}, Action: specs.ActAllow},
			{Names: []string{"write"}, Action: specs.ActAllow},
		}}
	}
	cases := []struct {
		edit func(*specs.LinuxSeccomp)
		want string
	}{
		{func(s *specs.LinuxSeccomp) { s.DefaultAction = "" }, `linux.seccomp.defaultAction: missing`},
		{func(s *specs.LinuxSeccomp) { s.DefaultAction = "SCMP_ACT_FOO" }, `linux.seccomp.defaultAction: unknown action "SCMP_ACT_FOO"`},
		{func(s *specs.LinuxSeccomp) { s.DefaultAction = specs.ActNotify }, `linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action`},
		{func(s *specs.LinuxSeccomp) { s.DefaultAction = specs.ActAllow; s.DefaultErrnoRet = uptr(1) }, `linux.seccomp.defaultErrnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE`},
		{func(s *specs.LinuxSeccomp) { s.DefaultErrnoRet = uptr(70000) }, `linux.seccomp.defaultErrnoRet: 70000 does not fit in 16 bits`},
		{func(s *specs.LinuxSeccomp) { s.Architectures = []specs.Arch{"SCMP_ARCH_X86", "SCMP_ARCH_VAX"} }, `linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_VAX"`},
		{func(s *specs.LinuxSeccomp) { s.Architectures = []specs.Arch{specs.ArchMIPS} }, `linux.seccomp.architectures[0]: architecture "SCMP_ARCH_MIPS" is not supported by this build`},
		{func(s *specs.LinuxSeccomp) { s.Syscalls[1].Action = "SCMP_ACT_FOO" }, `linux.seccomp.syscalls[1].action: unknown action "SCMP_ACT_FOO"`},
		{func(s *specs.LinuxSeccomp) { s.Syscalls[1].Names = nil }, `linux.seccomp.syscalls[1].names: must name at least one syscall`},
		{func(s *specs.LinuxSeccomp) { s.Syscalls[0].Names = []string{"read", "Read!"} }, `linux.seccomp.syscalls[0].names[1]: invalid syscall name "Read!"`},
		{func(s *specs.LinuxSeccomp) { s.Syscalls[0].ErrnoRet = uptr(1) }, `linux.seccomp.syscalls[0].errnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE`},
		{func(s *specs.LinuxSeccomp) {
			s.Syscalls[1].Args = []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo}, {Index: 6, Op: specs.OpEqualTo}}
		}, `linux.seccomp.syscalls[1].args[1].index: 6 out of range 0-5`},
		{func(s *specs.LinuxSeccomp) {
			s.Syscalls[1].Args = []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_FOO"}}
		}, `linux.seccomp.syscalls[1].args[0].op: unknown operator "SCMP_CMP_FOO"`},
		{func(s *specs.LinuxSeccomp) { s.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_FOO"} }, `linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_FOO"`},
		{func(s *specs.LinuxSeccomp) {
			s.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}
		}, `linux.seccomp.flags[0]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs a SCMP_ACT_NOTIFY rule`},
		{func(s *specs.LinuxSeccomp) { s.Syscalls[0].Action = specs.ActNotify }, `linux.seccomp.listenerPath: required when a rule uses SCMP_ACT_NOTIFY`},
	}
	for i, tc := range cases {
		s := ok()
		tc.edit(s)
		for _, f := range []func() error{
			func() error { return Validate(s) },
			func() error { _, err := Compile(s); return err },
			func() error { _, err := Load(s); return err },
		} {
			err := f()
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("case %d: err = %v, want invalid argument %q", i, err, tc.want)
			}
		}
	}
	if err := Validate(ok()); err != nil {
		t.Fatal(err)
	}
	if err := Validate(nil); err != nil {
		t.Fatal(err)
	}
	s := ok()
	s.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow}
	if f, err := Flags(s); err != nil || f != unix.SECCOMP_FILTER_FLAG_LOG|unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW {
		t.Fatalf("Flags = %#x, %v", f, err)
	}
	s.Syscalls[0].Action = specs.ActNotify
	s.ListenerPath = "/run/l.sock"
	s.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}
	if f, err := Flags(s); err != nil || f != unix.SECCOMP_FILTER_FLAG_NEW_LISTENER|unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV {
		t.Fatalf("Flags = %#x, %v", f, err)
	}
}

func TestCompileTooLarge(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
	for name := range syscallsX86_64() {
		var args []specs.LinuxSeccompArg
		for i := uint(0); i < 6; i++ {
			args = append(args, specs.LinuxSeccompArg{Index: i, Op: specs.OpEqualTo, Value: 1})
		}
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{name}, Action: specs.ActErrno, Args: args})
	}
	_, err := Compile(s)
	if err == nil || !strings.Contains(err.Error(), "over the kernel's limit of 4096") {
		t.Fatalf("err = %v", err)
	}
}

// Many alternating outcomes make a search tree whose halves are too long
// for 8-bit jumps, and long rule bodies need JA.
func TestCompileLongJumps(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActKillProcess, Architectures: []specs.Arch{specs.ArchX86, specs.ArchX32}}
	acts := []specs.LinuxSeccompAction{specs.ActAllow, specs.ActLog, specs.ActTrap, specs.ActErrno}
	names := make([]string, 0, len(syscallsX86_64()))
	for name := range syscallsX86_64() {
		names = append(names, name)
	}
	names = removeName(names, "futex_waitv")
	sortByNr(names)
	for i, name := range names {
		sc := specs.LinuxSyscall{Names: []string{name}, Action: acts[i%len(acts)]}
		if i%7 == 0 {
			sc.Args = []specs.LinuxSeccompArg{{Index: uint(i % 6), Op: specs.OpGreaterThan, Value: uint64(i) << 30}}
		}
		s.Syscalls = append(s.Syscalls, sc)
	}
	var args []specs.LinuxSeccompArg
	for i := 0; i < 60; i++ { // 60 same-index args: 60 OR'ed rules in one body
		args = append(args, specs.LinuxSeccompArg{Index: 0, Op: specs.OpEqualTo, Value: uint64(i) << 31})
	}
	s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"futex_waitv"}, Action: specs.ActErrno, ErrnoRet: uptr(7), Args: args})
	prog := mustCompile(t, s)
	t.Logf("%d instructions", len(prog))
	for i, name := range names {
		for _, arg := range []uint64{0, uint64(i)<<30 + 1, math.MaxUint64} {
			var a [6]uint64
			a[i%6] = arg
			for _, d := range []seccompData{
				x64(name, a[:]...),
				{nr: syscallsX86()[name], arch: unix.AUDIT_ARCH_I386, args: a},
				{nr: syscallsX32()[name], arch: unix.AUDIT_ARCH_X86_64, args: a},
			} {
				got, err := run(prog, d)
				if err != nil {
					t.Fatal(err)
				}
				if want := model(s, d); got != want {
					t.Fatalf("%s nr %#x arch %#x args %#x: got %#x, model %#x", name, d.nr, d.arch, d.args, got, want)
				}
			}
		}
	}
	expect(t, prog, s, x64("futex_waitv", 59<<31), unix.SECCOMP_RET_ERRNO|7)
	// nr -1 on x86_64 is not an x32 call: it meets the native rules.
	expect(t, prog, s, seccompData{nr: ^uint32(0), arch: unix.AUDIT_ARCH_X86_64}, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS))
}

func sortByNr(names []string) {
	slices.SortFunc(names, func(a, b string) int { return int(syscallsX86_64()[a]) - int(syscallsX86_64()[b]) })
}

func removeName(list []string, n string) []string {
	var out []string
	for _, x := range list {
		if x != n {
			out = append(out, x)
		}
	}
	return out
}

// randomSpec builds a spec from a byte stream (fuzz input or a seeded
// random source).
type byteSource struct {
	b []byte
	i int
}

func (r *byteSource) next() byte {
	if r.i >= len(r.b) {
		return 0
	}
	r.i++
	return r.b[r.i-1]
}

func (r *byteSource) u64() uint64 {
	var v uint64
	switch r.next() % 5 { // favour edge values
	case 0:
		return uint64(r.next())
	case 1:
		return uint64(r.next()) << 32
	case 2:
		return math.MaxUint64 - uint64(r.next())
	case 3:
		return 0xffffffff + uint64(r.next()%3) - 1
	}
	for i := 0; i < 8; i++ {
		v = v<<8 | uint64(r.next())
	}
	return v
}

var sampleNames = []string{"read", "write", "getpid", "mkdirat", "ioctl", "clone", "socket", "socketcall",
	"arch_prctl", "personality", "bogus_call", "open", "openat", "_llseek", "prctl"}

func randomSpec(r *byteSource) *specs.LinuxSeccomp {
	acts := KnownActions()
	ops := KnownOperators()
	arches := []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64}
	s := &specs.LinuxSeccomp{DefaultAction: specs.LinuxSeccompAction(acts[int(r.next())%len(acts)]), ListenerPath: "/run/l.sock"}
	if s.DefaultAction == specs.ActNotify {
		s.DefaultAction = specs.ActAllow
	}
	if (s.DefaultAction == specs.ActErrno || s.DefaultAction == specs.ActTrace) && r.next()%2 == 0 {
		s.DefaultErrnoRet = uptr(uint(r.next()))
	}
	for n := int(r.next() % 4); n > 0; n-- {
		s.Architectures = append(s.Architectures, arches[int(r.next())%len(arches)])
	}
	for n := int(r.next() % 12); n > 0; n-- {
		sc := specs.LinuxSyscall{Action: specs.LinuxSeccompAction(acts[int(r.next())%len(acts)])}
		for k := int(r.next()%3) + 1; k > 0; k-- {
			sc.Names = append(sc.Names, sampleNames[int(r.next())%len(sampleNames)])
		}
		if (sc.Action == specs.ActErrno || sc.Action == specs.ActTrace) && r.next()%2 == 0 {
			sc.ErrnoRet = uptr(uint(r.next()))
		}
		for k := int(r.next() % 4); k > 0; k-- {
			sc.Args = append(sc.Args, specs.LinuxSeccompArg{
				Index: uint(r.next() % 6), Op: specs.LinuxSeccompOperator(ops[int(r.next())%len(ops)]),
				Value: r.u64(), ValueTwo: r.u64(),
			})
		}
		s.Syscalls = append(s.Syscalls, sc)
	}
	return s
}

func randomData(r *byteSource, s *specs.LinuxSeccomp) seccompData {
	audits := []uint32{unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_AARCH64, 0xdeadbeef}
	d := seccompData{arch: audits[int(r.next())%len(audits)]}
	name := sampleNames[int(r.next())%len(sampleNames)]
	switch d.arch {
	case unix.AUDIT_ARCH_X86_64:
		if r.next()%3 == 0 {
			d.nr = syscallsX32()[name]
		} else {
			d.nr = syscallsX86_64()[name]
		}
	case unix.AUDIT_ARCH_I386:
		d.nr = syscallsX86()[name]
	default:
		d.nr = syscallsAARCH64()[name]
	}
	if r.next()%8 == 0 {
		d.nr = uint32(r.next())<<8 | uint32(r.next()) // maybe beyond every table
		if r.next()%2 == 0 {
			d.nr |= x32SyscallBit
		}
	}
	// Arguments near the values the rules compare with.
	for i := range d.args {
		d.args[i] = r.u64()
		if len(s.Syscalls) > 0 && r.next()%2 == 0 {
			sc := s.Syscalls[int(r.next())%len(s.Syscalls)]
			if len(sc.Args) > 0 {
				a := sc.Args[int(r.next())%len(sc.Args)]
				d.args[i] = a.Value + uint64(int8(r.next()%5)-2)
			}
		}
	}
	return d
}

// checkRandom compiles a random spec and compares the program with the model.
func checkRandom(t *testing.T, b []byte) {
	r := &byteSource{b: b}
	s := randomSpec(r)
	prog, err := Compile(s)
	if err != nil {
		if errors.Is(err, errdefs.ErrInvalidArgument) {
			return
		}
		t.Fatalf("Compile: %v", err)
	}
	if err := verify(prog); err != nil {
		js, _ := json.Marshal(s)
		t.Fatalf("%v\nspec: %s", err, js)
	}
	for k := 0; k < 16; k++ {
		d := randomData(r, s)
		got, err := run(prog, d)
		if err != nil {
			t.Fatal(err)
		}
		if want := model(s, d); got != want {
			js, _ := json.Marshal(s)
			t.Fatalf("nr %#x arch %#x args %#x: program %#x, model %#x\nspec: %s", d.nr, d.arch, d.args, got, want, js)
		}
	}
}

func TestCompileRandomAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	deadline := time.Now().Add(2 * time.Second)
	for i := 0; i < 20000 && time.Now().Before(deadline); i++ {
		b := make([]byte, 512)
		rng.Read(b)
		checkRandom(t, b)
	}
}

func FuzzCompile(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte("seccomp profile bytes with some entropy in them 0123456789"))
	f.Fuzz(func(t *testing.T, b []byte) { checkRandom(t, b) })
}

// FuzzCompileJSON feeds arbitrary JSON profiles: never a panic, and every
// program that compiles passes the kernel's checks.
func FuzzCompileJSON(f *testing.F) {
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":1,"value":4294967296,"op":"SCMP_CMP_GE"}]}]}`))
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"],"syscalls":[{"names":["getpid"],"action":"SCMP_ACT_NOTIFY"}],"listenerPath":"/x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s specs.LinuxSeccomp
		if json.Unmarshal(b, &s) != nil {
			return
		}
		prog, err := Compile(&s)
		if err != nil {
			return
		}
		if err := verify(prog); err != nil {
			t.Fatal(err)
		}
	})
}
