package rootfs

import (
	"golang.org/x/sys/unix"
)

// Sys is the seam over the kernel calls rootfs makes. Real uses the kernel;
// tests use a recording fake that performs the unprivileged file-system calls
// for real (in a temp dir) and records the privileged ones.
type Sys interface {
	Mount(source, target, fstype string, flags uintptr, data string) error
	Unmount(target string, flags int) error
	Mknodat(dirfd int, name string, mode uint32, dev int) error
	PivotRoot(newroot, putold string) error
	Chroot(path string) error
	Chdir(path string) error
	Fchdir(fd int) error
	MountSetattr(dirfd int, path string, flags uint, attr *unix.MountAttr) error
	OpenTree(dirfd int, path string, flags uint) (int, error)
	MoveMount(fromDirfd int, fromPath string, toDirfd int, toPath string, flags uint) error
	Openat2(dirfd int, path string, how *unix.OpenHow) (int, error)
	Mkdirat(dirfd int, path string, mode uint32) error
	Symlinkat(target string, dirfd int, name string) error
	Fchownat(dirfd int, path string, uid, gid int, flags int) error
	// Fstat is in the seam so a fake can report the device numbers of the
	// nodes it "created" with Mknodat.
	Fstat(fd int, st *unix.Stat_t) error
}

// Real is Sys over the running kernel.
type Real struct{}

var _ Sys = Real{}

func (Real) Mount(source, target, fstype string, flags uintptr, data string) error {
	return unix.Mount(source, target, fstype, flags, data)
}
func (Real) Unmount(target string, flags int) error { return unix.Unmount(target, flags) }
func (Real) Mknodat(dirfd int, name string, mode uint32, dev int) error {
	return unix.Mknodat(dirfd, name, mode, dev)
}
func (Real) PivotRoot(newroot, putold string) error { return unix.PivotRoot(newroot, putold) }
func (Real) Chroot(path string) error               { return unix.Chroot(path) }
func (Real) Chdir(path string) error                { return unix.Chdir(path) }
func (Real) Fchdir(fd int) error                    { return unix.Fchdir(fd) }
func (Real) MountSetattr(dirfd int, path string, flags uint, attr *unix.MountAttr) error {
	return unix.MountSetattr(dirfd, path, flags, attr)
}
func (Real) OpenTree(dirfd int, path string, flags uint) (int, error) {
	return unix.OpenTree(dirfd, path, flags)
}
func (Real) MoveMount(fromDirfd int, fromPath string, toDirfd int, toPath string, flags uint) error {
	return unix.MoveMount(fromDirfd, fromPath, toDirfd, toPath, int(flags))
}
func (Real) Openat2(dirfd int, path string, how *unix.OpenHow) (int, error) {
	return unix.Openat2(dirfd, path, how)
}
func (Real) Mkdirat(dirfd int, path string, mode uint32) error {
	return unix.Mkdirat(dirfd, path, mode)
}
func (Real) Symlinkat(target string, dirfd int, name string) error {
	return unix.Symlinkat(target, dirfd, name)
}
func (Real) Fchownat(dirfd int, path string, uid, gid int, flags int) error {
	return unix.Fchownat(dirfd, path, uid, gid, flags)
}
func (Real) Fstat(fd int, st *unix.Stat_t) error { return unix.Fstat(fd, st) }
