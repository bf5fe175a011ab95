package store

import (
	"context"
	"io/fs"
	"path/filepath"
	"syscall"

	"github.com/berth-containers/berth/snapshot"
)

// DiskUsage measures dir as du(1) does: allocated blocks and inodes, each
// hardlinked inode counted once.
func DiskUsage(ctx context.Context, dir string) (snapshot.Usage, error) {
	var u snapshot.Usage
	seen := map[uint64]struct{}{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		if st.Nlink > 1 && !d.IsDir() {
			if _, dup := seen[st.Ino]; dup {
				return nil
			}
			seen[st.Ino] = struct{}{}
		}
		u.Inodes++
		u.Size += st.Blocks * 512
		return nil
	})
	return u, err
}
