package container

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// protectedExe returns an fd of the runtime's own executable that the container
// cannot write through (CVE-2019-5736): a detached, read-only bind mount of
// /proc/self/exe, or, where that is refused, a sealed memfd copy.
func protectedExe() (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, "/proc/self/exe", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err == nil {
		attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NODEV}
		if err = unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err == nil {
			return os.NewFile(uintptr(fd), "berth-runtime"), nil
		}
		unix.Close(fd)
	}
	return sealedCopy()
}

func sealedCopy() (*os.File, error) {
	fd, err := unix.MemfdCreate("berth-runtime", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("protect runtime binary: memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "berth-runtime")
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		mem.Close()
		return nil, fmt.Errorf("protect runtime binary: %w", err)
	}
	defer src.Close()
	if _, err := io.Copy(mem, src); err != nil {
		mem.Close()
		return nil, fmt.Errorf("protect runtime binary: copy: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		mem.Close()
		return nil, fmt.Errorf("protect runtime binary: seal: %w", err)
	}
	return mem, nil
}
