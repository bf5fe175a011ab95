package seccomp

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
)

// Flags returns the seccomp(2) flags s asks for, NEW_LISTENER included when
// a rule uses SCMP_ACT_NOTIFY.
func Flags(s *specs.LinuxSeccomp) (uintptr, error) {
	notify, err := validate(s)
	if err != nil || s == nil {
		return 0, err
	}
	var f uintptr
	for _, fl := range s.Flags {
		f |= flags[fl]
	}
	if notify {
		f |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	}
	return f, nil
}

// Load compiles s and installs it on the calling OS thread only (the caller
// has locked it) with seccomp(SECCOMP_SET_MODE_FILTER). The thread must have
// no_new_privs set or hold CAP_SYS_ADMIN. When a rule uses SCMP_ACT_NOTIFY it
// returns the notification listener fd (close-on-exec), else -1. A nil s
// loads nothing and returns -1.
func Load(s *specs.LinuxSeccomp) (listenerFD int, err error) {
	if s == nil {
		return -1, nil
	}
	prog, err := Compile(s)
	if err != nil {
		return -1, err
	}
	fl, err := Flags(s)
	if err != nil {
		return -1, err
	}
	return loadProgram(prog, fl)
}

func loadProgram(prog []unix.SockFilter, fl uintptr) (int, error) {
	if len(prog) == 0 {
		return -1, fmt.Errorf("linux.seccomp: empty program: %w", errdefs.ErrInvalidArgument)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, fl, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		err := error(errno)
		switch {
		case errors.Is(errno, unix.EACCES):
			err = fmt.Errorf("%w (the thread needs no_new_privs or CAP_SYS_ADMIN)", errno)
		case errors.Is(errno, unix.EINVAL):
			err = fmt.Errorf("%w (a flag or action this kernel does not support?)", errno)
		}
		return -1, fmt.Errorf("load seccomp filter (%d instructions, flags %#x): %w", len(prog), fl, err)
	}
	if fl&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
		return int(r), nil
	}
	return -1, nil
}

// SendListener connects to the unix socket at listenerPath and sends the
// container process state (with fds ["seccompFd"] and listenerMetadata) as
// JSON in one message carrying fd as SCM_RIGHTS, as runtime-spec's
// seccomp user-notification section describes. It does not close fd.
//
// Called after Load, it needs socket, connect, sendmsg and close through the
// filter; DialListener before Load and SendListenerOn after it need only
// sendmsg and close.
func SendListener(listenerPath, listenerMetadata string, fd int, st specs.ContainerProcessState) error {
	sock, err := DialListener(listenerPath)
	if err != nil {
		return err
	}
	defer unix.Close(sock)
	return SendListenerOn(sock, listenerPath, listenerMetadata, fd, st)
}

// DialListener connects a close-on-exec unix stream socket to listenerPath.
func DialListener(listenerPath string) (int, error) {
	if listenerPath == "" {
		return -1, fmt.Errorf("linux.seccomp.listenerPath: empty: %w", errdefs.ErrInvalidArgument)
	}
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("seccomp listener socket: %w", err)
	}
	if err := unix.Connect(sock, &unix.SockaddrUnix{Name: listenerPath}); err != nil {
		unix.Close(sock)
		return -1, fmt.Errorf("connect to seccomp listener %s: %w", listenerPath, err)
	}
	return sock, nil
}

// SendListenerOn sends the state and fd on sock, a socket from DialListener
// (listenerPath only names it in errors). It does not close sock or fd.
func SendListenerOn(sock int, listenerPath, listenerMetadata string, fd int, st specs.ContainerProcessState) error {
	st.Fds = []string{specs.SeccompFdName}
	st.Metadata = listenerMetadata
	if st.Version == "" {
		st.Version = specs.Version
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode seccomp listener state: %w", err)
	}
	n, err := unix.SendmsgN(sock, b, unix.UnixRights(fd), nil, 0)
	if err != nil {
		return fmt.Errorf("send seccomp fd to %s: %w", listenerPath, err)
	}
	if n != len(b) {
		return fmt.Errorf("send seccomp fd to %s: short write (%d of %d bytes)", listenerPath, n, len(b))
	}
	return nil
}
