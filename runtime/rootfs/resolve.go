package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// inRoot is the openat2 resolution used for every path inside the container's
// root: ".." and absolute symlinks stay inside it, and magic links (/proc/*/fd,
// /proc/*/root, ...) are refused.
const inRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// maxSymlinks bounds the dangling-symlink chasing of ensure.
const maxSymlinks = 40

// relPath turns a container path ("/a/b", "a/b", "/a/../b") into a clean path
// relative to the root ("a/b", "b"; "." for the root itself).
func relPath(p string) string {
	c := path.Clean("/" + p)
	if c == "/" {
		return "."
	}
	return c[1:]
}

// procFd is the magic-link path of fd, used as mount(2) source or target so
// the kernel acts on exactly the file we opened, whatever happens to the path.
func procFd(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// openIn opens p (a container path) inside the root dirfd with openat2
// RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS.
func (r *Rootfs) openIn(rootfd int, p string, flags int) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: inRoot}
	for {
		fd, err := r.sys.Openat2(rootfd, relPath(p), &how)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		return fd, err
	}
}

// kind of object ensure creates when the path is missing.
type kind int

const (
	dirKind kind = iota
	fileKind
)

// ensure opens p inside the root (O_PATH), creating missing directories, and
// a missing final component as k, one step at a time, always resolving inside
// the root. A dangling symlink on the way is followed inside the root and its
// target created, as runc does. It returns an O_PATH fd the caller closes.
func (r *Rootfs) ensure(rootfd int, p string, k kind, mode uint32) (int, error) {
	p = relPath(p)
	for hops := 0; hops < maxSymlinks; hops++ {
		fd, err := r.openIn(rootfd, p, unix.O_PATH)
		if err == nil {
			if k == dirKind {
				var st unix.Stat_t
				if err := unix.Fstat(fd, &st); err != nil {
					unix.Close(fd)
					return -1, err
				}
				if st.Mode&unix.S_IFMT != unix.S_IFDIR {
					unix.Close(fd)
					return -1, fmt.Errorf("/%s: exists and is not a directory", p)
				}
			}
			return fd, nil
		}
		if err != unix.ENOENT {
			return -1, fmt.Errorf("open /%s in root: %w", p, err)
		}
		if p == "." {
			return -1, fmt.Errorf("root directory vanished: %w", err)
		}
		parent, base := path.Split(p)
		pfd, err := r.ensure(rootfd, parent, dirKind, 0o755)
		if err != nil {
			return -1, err
		}
		var cerr error
		if k == dirKind {
			cerr = r.sys.Mkdirat(pfd, base, mode)
		} else {
			var nfd int
			nfd, cerr = unix.Openat(pfd, base, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, mode)
			if cerr == nil {
				unix.Close(nfd)
			}
		}
		if cerr == nil || cerr != unix.EEXIST {
			unix.Close(pfd)
			if cerr != nil {
				return -1, fmt.Errorf("create /%s in root: %w", p, cerr)
			}
			continue // open it now
		}
		// EEXIST after ENOENT: a dangling symlink (or a race). Follow it
		// inside the root.
		target, lerr := readlinkat(pfd, base)
		if lerr != nil {
			unix.Close(pfd)
			return -1, fmt.Errorf("create /%s in root: %w", p, cerr)
		}
		if strings.HasPrefix(target, "/") {
			p = relPath(target)
		} else {
			ppath, perr := r.containerPath(pfd)
			if perr != nil {
				unix.Close(pfd)
				return -1, perr
			}
			p = relPath(path.Join(ppath, target))
		}
		unix.Close(pfd)
	}
	return -1, fmt.Errorf("/%s: too many levels of symbolic links", p)
}

func readlinkat(dirfd int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// containerPath returns where fd is, as a path inside the root being built.
func (r *Rootfs) containerPath(fd int) (string, error) {
	host, err := os.Readlink(procFd(fd))
	if err != nil {
		return "", err
	}
	root := r.curRoot()
	if root == "/" {
		return host, nil
	}
	if host == root {
		return "/", nil
	}
	if !strings.HasPrefix(host, root+"/") {
		return "", fmt.Errorf("%s escaped the root %s", host, root)
	}
	return strings.TrimPrefix(host, root), nil
}

// isNotExist reports a missing file from openat2.
func isNotExist(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, os.ErrNotExist)
}
