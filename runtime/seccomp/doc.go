// Package seccomp compiles a runtime-spec seccomp profile into a classic BPF
// program in pure Go (no libseccomp, no cgo), loads it on the calling OS
// thread with seccomp(2), and hands a user-notification listener fd to the
// socket named by listenerPath. It also provides a Docker-like default
// profile. It must not fork, exec, change credentials or filter any thread
// other than the caller's: the runtime's init calls Load on its locked thread
// right before execve of the container process.
package seccomp
