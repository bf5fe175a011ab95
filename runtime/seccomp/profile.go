package seccomp

import (
	"runtime"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The default profile is an allow-list: what a containerised program needs
// to run, talk to the network, manage its own processes and memory. What it
// leaves out fails with EPERM: syscalls that act on the whole machine
// (modules, kexec, reboot, clocks, swap, accounting, quotas), reach the
// kernel's keyring or BPF, change the mount or namespace layout, inspect
// other processes' memory, or have a history of kernel exploits (io_uring,
// userfaultfd, perf events, modify_ldt, old ABIs such as uselib, vm86,
// nfsservctl). Some of those are granted back when the container holds the
// capability that makes them meaningful (DefaultProfileFor).
var (
	allowFiles = `access faccessat faccessat2 chdir fchdir chmod fchmod fchmodat fchmodat2
		chown chown32 fchown fchown32 fchownat lchown lchown32 close close_range creat
		dup dup2 dup3 fcntl fcntl64 flock fadvise64 fadvise64_64 arm_fadvise64_64 fallocate
		fdatasync fsync sync syncfs sync_file_range sync_file_range2 ftruncate ftruncate64
		truncate truncate64 getcwd getdents getdents64 link linkat lseek _llseek mkdir mkdirat
		mknod mknodat open openat openat2 pread64 preadv preadv2 pwrite64 pwritev pwritev2
		read readv readlink readlinkat rename renameat renameat2 rmdir stat stat64 lstat
		lstat64 fstat fstat64 fstatat64 newfstatat statx statfs statfs64 fstatfs fstatfs64
		symlink symlinkat unlink unlinkat umask utime utimes utimensat utimensat_time64
		futimesat write writev sendfile sendfile64 splice tee vmsplice copy_file_range
		getxattr lgetxattr fgetxattr getxattrat setxattr lsetxattr fsetxattr setxattrat
		listxattr llistxattr flistxattr listxattrat removexattr lremovexattr fremovexattr
		removexattrat file_getattr file_setattr readahead memfd_create cachestat
		inotify_init inotify_init1 inotify_add_watch inotify_rm_watch ioctl
		io_setup io_destroy io_submit io_cancel io_getevents io_pgetevents io_pgetevents_time64`
	allowWait = `poll ppoll ppoll_time64 select _newselect pselect6 pselect6_time64
		epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_wait epoll_wait_old
		epoll_pwait epoll_pwait2 eventfd eventfd2 signalfd signalfd4 timerfd_create
		timerfd_settime timerfd_settime64 timerfd_gettime timerfd_gettime64 pause alarm
		nanosleep clock_nanosleep clock_nanosleep_time64 clock_gettime clock_gettime64
		clock_getres clock_getres_time64 gettimeofday time getitimer setitimer timer_create
		timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime
		timer_settime64 futex futex_time64 futex_waitv futex_wake futex_wait futex_requeue`
	allowMemory = `brk mmap mmap2 munmap mremap mprotect pkey_mprotect pkey_alloc pkey_free
		madvise mincore mlock mlock2 mlockall munlock munlockall msync membarrier
		remap_file_pages get_mempolicy mseal map_shadow_stack`
	allowProcess = `arch_prctl capget capset fork vfork execve execveat exit exit_group
		getpid getppid gettid getpgid getpgrp getsid setsid setpgid getuid getuid32 geteuid
		geteuid32 getgid getgid32 getegid getegid32 getresuid getresuid32 getresgid
		getresgid32 getgroups getgroups32 setuid setuid32 setgid setgid32 setreuid
		setreuid32 setregid setregid32 setresuid setresuid32 setresgid setresgid32
		setgroups setgroups32 setfsuid setfsuid32 setfsgid setfsgid32 prctl getpriority
		setpriority sched_getaffinity sched_setaffinity sched_getattr sched_setattr
		sched_getparam sched_setparam sched_getscheduler sched_setscheduler
		sched_get_priority_max sched_get_priority_min sched_rr_get_interval
		sched_rr_get_interval_time64 sched_yield getrlimit setrlimit ugetrlimit prlimit64
		getrusage times set_tid_address set_robust_list get_robust_list rseq wait4 waitid
		waitpid kill tkill tgkill pidfd_open pidfd_send_signal restart_syscall rt_sigaction
		rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
		rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sigaction sigaltstack
		signal sigpending sigprocmask sigreturn sigsuspend uname sysinfo getrandom getcpu
		ioprio_get ioprio_set landlock_create_ruleset landlock_add_rule
		landlock_restrict_self seccomp set_thread_area get_thread_area set_tls get_tls
		lsm_get_self_attr lsm_list_modules riscv_flush_icache cacheflush breakpoint`
	allowIPC = `msgctl msgget msgrcv msgsnd semctl semget semop semtimedop
		semtimedop_time64 shmat shmctl shmdt shmget mq_open mq_unlink mq_timedsend
		mq_timedsend_time64 mq_timedreceive mq_timedreceive_time64 mq_notify mq_getsetattr
		ipc pipe pipe2`
	allowNet = `socket socketpair bind connect listen accept accept4 getsockname getpeername
		getsockopt setsockopt sendto recvfrom sendmsg recvmsg sendmmsg recvmmsg
		recvmmsg_time64 recv send shutdown socketcall`

	// Granted back by capability.
	byCapability = map[string]string{
		"CAP_SYS_ADMIN": `mount umount umount2 mount_setattr move_mount open_tree open_tree_attr
			fsopen fsconfig fsmount fspick pivot_root unshare setns sethostname setdomainname
			clone3 fanotify_init quotactl quotactl_fd lookup_dcookie statmount listmount
			lsm_set_self_attr bpf perf_event_open`,
		"CAP_SYS_BOOT":        `reboot kexec_load kexec_file_load`,
		"CAP_SYS_MODULE":      `init_module finit_module delete_module`,
		"CAP_SYS_CHROOT":      `chroot`,
		"CAP_SYS_PTRACE":      `ptrace process_vm_readv process_vm_writev kcmp pidfd_getfd userfaultfd process_madvise`,
		"CAP_SYS_TIME":        `settimeofday stime clock_settime clock_settime64 adjtimex clock_adjtime clock_adjtime64`,
		"CAP_SYS_PACCT":       `acct`,
		"CAP_SYS_RAWIO":       `iopl ioperm pciconfig_read pciconfig_write pciconfig_iobase`,
		"CAP_SYS_NICE":        `mbind set_mempolicy set_mempolicy_home_node move_pages migrate_pages`,
		"CAP_SYS_TTY_CONFIG":  `vhangup`,
		"CAP_SYSLOG":          `syslog`,
		"CAP_DAC_READ_SEARCH": `open_by_handle_at name_to_handle_at`,
		"CAP_BPF":             `bpf`,
		"CAP_PERFMON":         `perf_event_open`,
	}
)

// nsCloneFlags are the clone flags that create namespaces; without
// CAP_SYS_ADMIN the profile lets clone through only without them.
const nsCloneFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
	unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP

// DefaultProfile returns Berth's default seccomp profile for a container
// with the default (unprivileged) capabilities.
func DefaultProfile() *specs.LinuxSeccomp { return DefaultProfileFor(nil) }

// DefaultProfileFor returns the default profile for a container whose
// capability set is caps ("CAP_SYS_ADMIN", ...): syscalls gated on a
// capability are allowed when caps holds it.
func DefaultProfileFor(caps []string) *specs.LinuxSeccomp {
	has := map[string]bool{}
	for _, c := range caps {
		has[c] = true
	}
	eperm := uint(unix.EPERM)
	s := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: &eperm,
		Architectures:   profileArches(),
	}
	var allowed []string
	for _, group := range []string{allowFiles, allowWait, allowMemory, allowProcess, allowIPC, allowNet} {
		allowed = append(allowed, strings.Fields(group)...)
	}
	seen := map[string]bool{}
	for _, n := range allowed {
		seen[n] = true
	}
	for _, c := range sortedKeys(byCapability) {
		if !has[c] {
			continue
		}
		for _, n := range strings.Fields(byCapability[c]) {
			if !seen[n] {
				seen[n] = true
				allowed = append(allowed, n)
			}
		}
	}
	s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: allowed, Action: specs.ActAllow})
	// personality: the usual personas and the query, nothing that turns
	// address-space randomisation off.
	for _, p := range []uint64{0, 8, 0x20000, 0x20008, 0xffffffff} {
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"personality"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: p, Op: specs.OpEqualTo}}})
	}
	if has["CAP_SYS_ADMIN"] {
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"clone"}, Action: specs.ActAllow})
	} else {
		// clone without namespace flags; clone3 hides its flags in memory,
		// so it answers ENOSYS and the C library falls back to clone.
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"clone"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: nsCloneFlags, ValueTwo: 0, Op: specs.OpMaskedEqual}}})
		enosys := uint(unix.ENOSYS)
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys})
	}
	return s
}

func profileArches() []specs.Arch {
	switch runtime.GOARCH {
	case "amd64":
		return []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	case "arm64":
		return []specs.Arch{specs.ArchAARCH64}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
