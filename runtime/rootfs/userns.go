package rootfs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// cloneHolder forks a child into a new user namespace that does nothing but
// sleep until killed. It is nosplit and makes raw system calls only, because
// the child is a copy of a multithreaded Go process with a single thread and
// must never enter the Go runtime.
//
//go:nosplit
func cloneHolder() (uintptr, syscall.Errno) {
	pid, _, errno := syscall.RawSyscall6(unix.SYS_CLONE, uintptr(unix.CLONE_NEWUSER|unix.SIGCHLD), 0, 0, 0, 0, 0)
	if errno != 0 || pid != 0 {
		return pid, errno
	}
	for {
		syscall.RawSyscall6(unix.SYS_PPOLL, 0, 0, 0, 0, 0, 0)
	}
}

func formatMappings(m []specs.LinuxIDMapping) string {
	var b strings.Builder
	for _, e := range m {
		fmt.Fprintf(&b, "%d %d %d\n", e.ContainerID, e.HostID, e.Size)
	}
	return b.String()
}

// newUserns creates a user namespace with the given mappings, for
// MOUNT_ATTR_IDMAP, and returns an fd of it and a cleanup that closes it and
// reaps the process that held it.
func newUserns(uids, gids []specs.LinuxIDMapping) (int, func(), error) {
	pid, errno := cloneHolder()
	if errno != 0 {
		return -1, nil, fmt.Errorf("clone(CLONE_NEWUSER): %w", errno)
	}
	reap := func() {
		_ = unix.Kill(int(pid), unix.SIGKILL)
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(int(pid), &ws, 0, nil)
			if err != unix.EINTR {
				break
			}
		}
	}
	procPid, err := procfsPid(int(pid))
	if err != nil {
		reap()
		return -1, nil, err
	}
	base := fmt.Sprintf("/proc/%d/", procPid)
	if err := os.WriteFile(base+"uid_map", []byte(formatMappings(uids)), 0); err != nil {
		reap()
		return -1, nil, fmt.Errorf("write uid_map: %w", err)
	}
	if err := os.WriteFile(base+"gid_map", []byte(formatMappings(gids)), 0); err != nil {
		reap()
		return -1, nil, fmt.Errorf("write gid_map: %w", err)
	}
	fd, err := unix.Open(base+"ns/user", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	reap()
	if err != nil {
		return -1, nil, fmt.Errorf("open user namespace: %w", err)
	}
	return fd, func() { unix.Close(fd) }, nil
}

// procfsPid translates pid (in our pid namespace) to its number in the pid
// namespace of the procfs mounted at /proc, which before pivot is the host's
// even though we may run in a new pid namespace. The fdinfo of a pidfd shows
// the pid as the procfs instance sees it.
func procfsPid(pid int) (int, error) {
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return 0, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(pfd)
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(pfd))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Pid:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("process %d is not visible in /proc", pid)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("pidfd fdinfo has no Pid field")
}
