package native

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

type dirTime struct {
	path string
	ts   [2]unix.Timespec
}

// CopyTree copies the tree at src into the existing directory dst, keeping
// ownership, modes, times, xattrs, hardlinks, symlinks, device nodes and
// fifos. File data is reflinked when the filesystem can, else copied in the
// kernel.
func CopyTree(ctx context.Context, dst, src string) error {
	links := map[uint64]string{} // inode → first copied path
	var dirs []dirTime
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return fmt.Errorf("copy %s: %w", rel, err)
		}
		mode := st.Mode & unix.S_IFMT
		if mode != unix.S_IFDIR && st.Nlink > 1 {
			if first, ok := links[st.Ino]; ok {
				if err := os.Link(first, target); err != nil {
					return fmt.Errorf("copy %s: hardlink: %w", rel, err)
				}
				return nil
			}
			links[st.Ino] = target
		}
		switch mode {
		case unix.S_IFDIR:
			if rel != "." {
				if err := os.Mkdir(target, 0o700); err != nil {
					return fmt.Errorf("copy %s: %w", rel, err)
				}
			}
		case unix.S_IFREG:
			if err := copyFile(target, p); err != nil {
				return fmt.Errorf("copy %s: %w", rel, err)
			}
		case unix.S_IFLNK:
			l, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("copy %s: %w", rel, err)
			}
			if err := os.Symlink(l, target); err != nil {
				return fmt.Errorf("copy %s: %w", rel, err)
			}
		case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
			if err := unix.Mknod(target, st.Mode, int(st.Rdev)); err != nil {
				return fmt.Errorf("copy %s: mknod: %w", rel, err)
			}
		default:
			return fmt.Errorf("copy %s: unsupported file type %o", rel, mode)
		}
		if err := unix.Lchown(target, int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("copy %s: lchown: %w", rel, err)
		}
		if err := copyXattrs(target, p); err != nil {
			return fmt.Errorf("copy %s: %w", rel, err)
		}
		if mode != unix.S_IFLNK {
			// After chown, which clears setuid/setgid.
			if err := unix.Fchmodat(unix.AT_FDCWD, target, st.Mode&07777, 0); err != nil {
				return fmt.Errorf("copy %s: chmod: %w", rel, err)
			}
		}
		ts := [2]unix.Timespec{st.Atim, st.Mtim}
		if mode == unix.S_IFDIR {
			dirs = append(dirs, dirTime{target, ts})
			return nil
		}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, target, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("copy %s: times: %w", rel, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, dirs[i].path, dirs[i].ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("copy %s: times: %w", dirs[i].path, err)
		}
	}
	return nil
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	if err := unix.IoctlFileClone(int(out.Fd()), int(in.Fd())); err == nil {
		return nil
	}
	_, err = io.Copy(out, in) // copy_file_range under the hood
	return err
}

func copyXattrs(dst, src string) error {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(src, buf)
	if errors.Is(err, unix.ERANGE) {
		sz, err2 := unix.Llistxattr(src, nil)
		if err2 != nil {
			return err2
		}
		buf = make([]byte, sz)
		n, err = unix.Llistxattr(src, buf)
	}
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			return nil
		}
		return fmt.Errorf("list xattrs: %w", err)
	}
	for _, name := range splitNull(buf[:n]) {
		sz, err := unix.Lgetxattr(src, name, nil)
		if err != nil {
			return fmt.Errorf("xattr %s: %w", name, err)
		}
		val := make([]byte, sz)
		if sz > 0 {
			if sz, err = unix.Lgetxattr(src, name, val); err != nil {
				return fmt.Errorf("xattr %s: %w", name, err)
			}
		}
		if err := unix.Lsetxattr(dst, name, val[:sz], 0); err != nil && !errors.Is(err, syscall.ENOTSUP) {
			return fmt.Errorf("xattr %s: %w", name, err)
		}
	}
	return nil
}

func splitNull(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == 0 {
			if i > start {
				out = append(out, string(b[start:i]))
			}
			start = i + 1
		}
	}
	return out
}
