// Package seccomp compiles a runtime-spec seccomp profile into a classic BPF
// program in pure Go (no libseccomp, no cgo), loads it on the calling OS
// thread with seccomp(2), and hands a user-notification listener fd to the
// socket named by listenerPath. It also provides a Docker-like default
// profile (DefaultProfile, DefaultProfileFor). It must not fork, exec,
// change credentials or filter any thread other than the caller's: the
// runtime's init calls Load on its locked thread right before execve of the
// container process, and the filter reaches the container through execve.
//
// Architectures: x86_64, x86 (i386), x32 and aarch64, from tables generated
// out of the kernel's UAPI headers (mksyscalls.go, `go generate`). Other
// runtime-spec architectures (ARM, MIPS, PPC, s390, RISC-V, ...) are refused
// with an error naming the field; a filter always covers the native
// architecture. Compile documents the matching semantics, which follow
// libseccomp as runc and crun use it: unlisted architectures get
// libseccomp's bad-arch action (kill the thread), unknown syscall names are
// skipped, same-index args are OR'ed as in runc, 64-bit compares check both
// halves. Flags: SECCOMP_FILTER_FLAG_LOG, SPEC_ALLOW and WAIT_KILLABLE_RECV
// are passed to the kernel, NEW_LISTENER is added for SCMP_ACT_NOTIFY rules,
// and TSYNC is accepted and ignored (runc does the same).
//
// The caller makes sure the thread can load a filter (no_new_privs or
// CAP_SYS_ADMIN) and that the profile lets through whatever runs between
// Load and execve (SendListener needs socket, connect, sendmsg and close).
package seccomp
