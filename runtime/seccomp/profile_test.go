package seccomp

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestDefaultProfile(t *testing.T) {
	s := DefaultProfile()
	if err := Validate(s); err != nil {
		t.Fatal(err)
	}
	prog := mustCompile(t, s)
	t.Logf("default profile: %d instructions", len(prog))
	eperm := unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	for _, n := range []string{"read", "write", "openat", "execve", "mmap", "futex", "rt_sigreturn", "socket", "exit_group", "epoll_pwait", "getrandom"} {
		expect(t, prog, s, x64(n), unix.SECCOMP_RET_ALLOW)
	}
	for _, n := range []string{"mount", "umount2", "kexec_load", "open_by_handle_at", "bpf", "keyctl", "add_key",
		"ptrace", "init_module", "reboot", "swapon", "unshare", "setns", "pivot_root", "io_uring_setup",
		"userfaultfd", "perf_event_open", "clock_settime", "acct", "chroot", "modify_ldt"} {
		expect(t, prog, s, x64(n), eperm)
	}
	expect(t, prog, s, x64("clone", unix.CLONE_VM|unix.CLONE_FS|unix.CLONE_FILES|unix.CLONE_SIGHAND|unix.CLONE_THREAD), unix.SECCOMP_RET_ALLOW)
	expect(t, prog, s, x64("clone", unix.CLONE_NEWUSER|uint64(unix.SIGCHLD)), eperm)
	expect(t, prog, s, x64("clone3"), unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS))
	expect(t, prog, s, x64("personality", 0xffffffff), unix.SECCOMP_RET_ALLOW)
	expect(t, prog, s, x64("personality", 0x0040000), eperm) // ADDR_NO_RANDOMIZE
	// 32-bit programs are filtered by their own numbers.
	expect(t, prog, s, seccompData{nr: syscallsX86()["socketcall"], arch: unix.AUDIT_ARCH_I386}, unix.SECCOMP_RET_ALLOW)
	expect(t, prog, s, seccompData{nr: syscallsX86()["mount"], arch: unix.AUDIT_ARCH_I386}, eperm)
	expect(t, prog, s, seccompData{nr: syscallsX32()["mount"], arch: unix.AUDIT_ARCH_X86_64}, eperm)

	// Capabilities grant their syscalls back.
	s = DefaultProfileFor([]string{"CAP_SYS_ADMIN", "CAP_SYS_PTRACE"})
	prog = mustCompile(t, s)
	for _, n := range []string{"mount", "unshare", "setns", "ptrace", "process_vm_readv", "clone3"} {
		expect(t, prog, s, x64(n), unix.SECCOMP_RET_ALLOW)
	}
	expect(t, prog, s, x64("clone", unix.CLONE_NEWUSER), unix.SECCOMP_RET_ALLOW)
	expect(t, prog, s, x64("kexec_load"), eperm)
}

// Compiling Docker-sized profiles must take under a millisecond. The
// machine running the suite is shared, so this measures the thread's CPU
// time (not wall time) and keeps the best of a few batches.
func TestCompileSpeed(t *testing.T) {
	s := DefaultProfileFor([]string{"CAP_SYS_ADMIN"})
	if _, err := Compile(s); err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu := func() time.Duration {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ts.Nano())
	}
	const n = 50
	best := time.Hour
	for batch := 0; batch < 5; batch++ {
		start := cpu()
		for i := 0; i < n; i++ {
			if _, err := Compile(s); err != nil {
				t.Fatal(err)
			}
		}
		best = min(best, (cpu()-start)/n)
	}
	t.Logf("compile of the default profile: %v CPU", best)
	if best > time.Millisecond {
		t.Fatalf("compile takes %v of CPU, want < 1ms", best)
	}
}

func BenchmarkCompileDefaultProfile(b *testing.B) {
	s := DefaultProfile()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Compile(s); err != nil {
			b.Fatal(err)
		}
	}
}
