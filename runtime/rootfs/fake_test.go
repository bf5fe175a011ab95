package rootfs

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// call is one privileged call the recorder saw. Paths naming an fd
// (/proc/self/fd/N) are replaced by what the fd pointed to, relative to the
// test's root ("/dev", "/proc", ...) or as host paths outside it.
type call struct {
	Op     string
	Source string
	Target string
	FSType string
	Flags  uintptr
	Data   string
	Attr   unix.MountAttr
}

func (c call) String() string {
	return fmt.Sprintf("%s %s -> %s type=%s flags=%#x data=%q", c.Op, c.Source, c.Target, c.FSType, c.Flags, c.Data)
}

// recorder is the fake Sys: unprivileged file-system calls run for real
// (inside a temp dir the test owns), privileged ones are only recorded.
type recorder struct {
	mu    sync.Mutex
	root  string
	calls []call
	nodes map[uint64]uint64 // inode -> rdev of the nodes "created" by Mknodat
}

func newRecorder(root string) *recorder {
	return &recorder{root: root, nodes: map[uint64]uint64{}}
}

func (f *recorder) name(p string) string {
	if strings.HasPrefix(p, "/proc/self/fd/") {
		if t, err := os.Readlink(p); err == nil {
			p = t
		}
	}
	if p == f.root {
		return "/"
	}
	if strings.HasPrefix(p, f.root+"/") {
		return strings.TrimPrefix(p, f.root)
	}
	return p
}

func (f *recorder) fdName(fd int, p string) string {
	if fd == unix.AT_FDCWD {
		return f.name(p)
	}
	return f.name(procFd(fd)) + "/" + p
}

func (f *recorder) add(c call) {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
}

func (f *recorder) Mount(source, target, fstype string, flags uintptr, data string) error {
	f.add(call{Op: "mount", Source: f.name(source), Target: f.name(target), FSType: fstype, Flags: flags, Data: data})
	return nil
}
func (f *recorder) Unmount(target string, flags int) error {
	f.add(call{Op: "umount", Target: f.name(target), Flags: uintptr(flags)})
	return nil
}
func (f *recorder) Mknodat(dirfd int, name string, mode uint32, dev int) error {
	fd, err := unix.Openat(dirfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode&0o7777)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	unix.Fstat(fd, &st)
	unix.Close(fd)
	f.mu.Lock()
	f.nodes[st.Ino] = uint64(dev)
	f.mu.Unlock()
	f.add(call{Op: "mknod", Target: f.fdName(dirfd, name), Flags: uintptr(mode), Data: fmt.Sprintf("%d:%d", unix.Major(uint64(dev)), unix.Minor(uint64(dev)))})
	return nil
}
func (f *recorder) PivotRoot(newroot, putold string) error {
	f.add(call{Op: "pivot_root", Source: newroot, Target: putold})
	return nil
}
func (f *recorder) Chroot(p string) error { f.add(call{Op: "chroot", Target: p}); return nil }
func (f *recorder) Chdir(p string) error  { f.add(call{Op: "chdir", Target: f.name(p)}); return nil }
func (f *recorder) Fchdir(fd int) error {
	f.add(call{Op: "fchdir", Target: f.name(procFd(fd))})
	return nil
}
func (f *recorder) MountSetattr(dirfd int, p string, flags uint, attr *unix.MountAttr) error {
	f.add(call{Op: "mount_setattr", Target: f.fdName(dirfd, p), Flags: uintptr(flags), Attr: *attr})
	return nil
}
func (f *recorder) OpenTree(dirfd int, p string, flags uint) (int, error) {
	f.add(call{Op: "open_tree", Source: f.fdName(dirfd, p), Flags: uintptr(flags)})
	return unix.Openat(dirfd, p, unix.O_PATH|unix.O_CLOEXEC, 0)
}
func (f *recorder) MoveMount(fromDirfd int, fromPath string, toDirfd int, toPath string, flags uint) error {
	f.add(call{Op: "move_mount", Source: f.fdName(fromDirfd, fromPath), Target: f.fdName(toDirfd, toPath), Flags: uintptr(flags)})
	return nil
}
func (f *recorder) Openat2(dirfd int, p string, how *unix.OpenHow) (int, error) {
	return unix.Openat2(dirfd, p, how)
}
func (f *recorder) Mkdirat(dirfd int, p string, mode uint32) error {
	return unix.Mkdirat(dirfd, p, mode)
}
func (f *recorder) Symlinkat(target string, dirfd int, name string) error {
	return unix.Symlinkat(target, dirfd, name)
}
func (f *recorder) Fchownat(dirfd int, p string, uid, gid int, flags int) error {
	f.add(call{Op: "chown", Target: f.fdName(dirfd, p), Data: fmt.Sprintf("%d:%d", uid, gid)})
	return nil
}
func (f *recorder) Fstat(fd int, st *unix.Stat_t) error {
	if err := unix.Fstat(fd, st); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if dev, ok := f.nodes[st.Ino]; ok {
		st.Mode = st.Mode&^unix.S_IFMT | unix.S_IFCHR
		st.Rdev = dev
	}
	return nil
}

// find returns the recorded calls with op whose target is target.
func (f *recorder) find(op, target string) []call {
	var out []call
	for _, c := range f.calls {
		if c.Op == op && c.Target == target {
			out = append(out, c)
		}
	}
	return out
}
