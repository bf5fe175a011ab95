package oci

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"syscall"
)

// copyUp copies the image's content at rel (inside root, read with every
// path resolved in root) into the fresh volume directory dst, keeping
// modes, owners, symlinks and hard-to-follow entries as they are, as Docker
// fills a new volume. A missing rel copies nothing. Device nodes, fifos and
// sockets are skipped.
func copyUp(root *os.Root, rel, dst string) error {
	if rel == "" {
		rel = "."
	}
	st, err := root.Stat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return nil
	}
	out, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	// The volume's root takes the directory's mode and owner.
	if err := out.Chmod(".", st.Mode().Perm()|st.Mode()&(fs.ModeSetgid|fs.ModeSetuid|fs.ModeSticky)); err != nil {
		return err
	}
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		if err := out.Lchown(".", int(s.Uid), int(s.Gid)); err != nil {
			return err
		}
	}
	// Walk below the resolved directory so a symlinked rel is followed
	// once (inside root), as the mount would be.
	src, err := root.OpenRoot(rel)
	if err != nil {
		return err
	}
	defer src.Close()
	return fs.WalkDir(src.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		info, err := src.Lstat(p)
		if err != nil {
			return err
		}
		mode := info.Mode()
		switch {
		case mode.IsDir():
			if err := out.Mkdir(p, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
		case mode&fs.ModeSymlink != 0:
			target, err := src.Readlink(p)
			if err != nil {
				return err
			}
			if err := out.Symlink(target, p); err != nil {
				return err
			}
		case mode.IsRegular():
			if err := copyFile(src, out, p, mode.Perm()); err != nil {
				return err
			}
		default:
			return nil
		}
		if s, ok := info.Sys().(*syscall.Stat_t); ok {
			if err := out.Lchown(p, int(s.Uid), int(s.Gid)); err != nil {
				return fmt.Errorf("chown %s: %w", path.Join("/", p), err)
			}
		}
		if mode&fs.ModeSymlink == 0 {
			if err := out.Chmod(p, mode.Perm()|mode&(fs.ModeSetgid|fs.ModeSetuid|fs.ModeSticky)); err != nil {
				return err
			}
		}
		return nil
	})
}

func copyFile(src, dst *os.Root, p string, perm fs.FileMode) error {
	in, err := src.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := dst.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, in); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
