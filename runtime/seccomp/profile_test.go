package seccomp

import (
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
	expect(t, prog, s, seccompData{nr: syscallsX86["socketcall"], arch: unix.AUDIT_ARCH_I386}, unix.SECCOMP_RET_ALLOW)
	expect(t, prog, s, seccompData{nr: syscallsX86["mount"], arch: unix.AUDIT_ARCH_I386}, eperm)
	expect(t, prog, s, seccompData{nr: syscallsX32["mount"], arch: unix.AUDIT_ARCH_X86_64}, eperm)

	// Capabilities grant their syscalls back.
	s = DefaultProfileFor([]string{"CAP_SYS_ADMIN", "CAP_SYS_PTRACE"})
	prog = mustCompile(t, s)
	for _, n := range []string{"mount", "unshare", "setns", "ptrace", "process_vm_readv", "clone3"} {
		expect(t, prog, s, x64(n), unix.SECCOMP_RET_ALLOW)
	}
	expect(t, prog, s, x64("clone", unix.CLONE_NEWUSER), unix.SECCOMP_RET_ALLOW)
	expect(t, prog, s, x64("kexec_load"), eperm)
}

// Compiling Docker-sized profiles must stay well under a millisecond.
func TestCompileSpeed(t *testing.T) {
	s := DefaultProfileFor([]string{"CAP_SYS_ADMIN"})
	if _, err := Compile(s); err != nil {
		t.Fatal(err)
	}
	res := testing.Benchmark(func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := Compile(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	per := time.Duration(res.NsPerOp())
	t.Logf("compile of the default profile: %v, %d allocs", per, res.AllocsPerOp())
	// The bar is 1ms; allow for a loaded machine.
	if per > 3*time.Millisecond {
		t.Fatalf("compile takes %v, want < 1ms", per)
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
