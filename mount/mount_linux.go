package mount

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// flagOptions maps mount(8) options to mount(2) flags; clear means the option
// removes the flag.
var flagOptions = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro":          {false, unix.MS_RDONLY},
	"rw":          {true, unix.MS_RDONLY},
	"bind":        {false, unix.MS_BIND},
	"rbind":       {false, unix.MS_BIND | unix.MS_REC},
	"nosuid":      {false, unix.MS_NOSUID},
	"suid":        {true, unix.MS_NOSUID},
	"nodev":       {false, unix.MS_NODEV},
	"dev":         {true, unix.MS_NODEV},
	"noexec":      {false, unix.MS_NOEXEC},
	"exec":        {true, unix.MS_NOEXEC},
	"sync":        {false, unix.MS_SYNCHRONOUS},
	"async":       {true, unix.MS_SYNCHRONOUS},
	"noatime":     {false, unix.MS_NOATIME},
	"atime":       {true, unix.MS_NOATIME},
	"relatime":    {false, unix.MS_RELATIME},
	"norelatime":  {true, unix.MS_RELATIME},
	"nodiratime":  {false, unix.MS_NODIRATIME},
	"strictatime": {false, unix.MS_STRICTATIME},
	"remount":     {false, unix.MS_REMOUNT},
	"defaults":    {false, 0},
}

// parseOptions splits options into mount(2) flags and the data string.
func parseOptions(options []string) (uintptr, []string) {
	var flags uintptr
	var data []string
	for _, o := range options {
		if f, ok := flagOptions[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		data = append(data, o)
	}
	return flags, data
}

// pageLimit is the largest data string mount(2) accepts (one page, minus the NUL).
const pageLimit = 4095

// Mount mounts m on target.
func (m Mount) Mount(target string) error {
	flags, data := parseOptions(m.Options)
	typ := m.Type
	if flags&unix.MS_BIND != 0 {
		typ = ""
	}
	if typ == "bind" || typ == "rbind" {
		typ = ""
		flags |= unix.MS_BIND
		if m.Type == "rbind" {
			flags |= unix.MS_REC
		}
	}
	joined := strings.Join(data, ",")
	if m.Type == "overlay" && len(joined) > pageLimit {
		if err := mountOverlayFS(m.Source, target, flags, data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.Type, target, err)
		}
		return nil
	}
	if err := unix.Mount(m.Source, target, typ, flags&^unix.MS_RDONLY|roUnlessBind(flags), joined); err != nil {
		return fmt.Errorf("mount %s %s on %s (options %q): %w", m.Type, m.Source, target, strings.Join(m.Options, ","), err)
	}
	// A bind mount ignores MS_RDONLY on creation: remount to make it read-only.
	if flags&unix.MS_BIND != 0 && flags&unix.MS_RDONLY != 0 {
		rf := unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | (flags & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC))
		if err := unix.Mount("", target, "", rf, ""); err != nil {
			_ = unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("remount %s read-only: %w", target, err)
		}
	}
	return nil
}

func roUnlessBind(flags uintptr) uintptr {
	if flags&unix.MS_BIND != 0 {
		return 0
	}
	return flags & unix.MS_RDONLY
}

// mountOverlayFS mounts an overlay whose options do not fit in one page, with
// the new mount API: each lower directory is passed on its own ("lowerdir+",
// Linux 6.8 and later), so the number of layers is not limited by the page size.
func mountOverlayFS(source, target string, flags uintptr, data []string) error {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(fd)
	set := func(k, v string) error {
		if err := unix.FsconfigSetString(fd, k, v); err != nil {
			return fmt.Errorf("fsconfig %s=%q: %w", k, v, err)
		}
		return nil
	}
	if source != "" {
		if err := set("source", source); err != nil {
			return err
		}
	}
	for _, o := range data {
		k, v, hasValue := strings.Cut(o, "=")
		switch {
		case k == "lowerdir":
			for _, l := range strings.Split(v, ":") {
				if err := set("lowerdir+", l); err != nil {
					return err
				}
			}
		case hasValue:
			if err := set(k, v); err != nil {
				return err
			}
		default:
			if err := unix.FsconfigSetFlag(fd, k); err != nil {
				return fmt.Errorf("fsconfig %s: %w", k, err)
			}
		}
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		return fmt.Errorf("fsconfig create: %w", err)
	}
	var attr int
	if flags&unix.MS_RDONLY != 0 {
		attr |= unix.MOUNT_ATTR_RDONLY
	}
	if flags&unix.MS_NOSUID != 0 {
		attr |= unix.MOUNT_ATTR_NOSUID
	}
	if flags&unix.MS_NODEV != 0 {
		attr |= unix.MOUNT_ATTR_NODEV
	}
	if flags&unix.MS_NOEXEC != 0 {
		attr |= unix.MOUNT_ATTR_NOEXEC
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, attr)
	if err != nil {
		return fmt.Errorf("fsmount: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount to %s: %w", target, err)
	}
	return nil
}

// All mounts every mount in order on target; on error the ones already
// mounted are unmounted again.
func All(mounts []Mount, target string) error {
	for i, m := range mounts {
		if err := m.Mount(target); err != nil {
			if i > 0 {
				_ = UnmountAll(target, unix.MNT_DETACH)
			}
			return err
		}
	}
	return nil
}

// Unmount unmounts target once, retrying while the kernel reports EBUSY.
func Unmount(target string, flags int) error {
	var err error
	for i := 0; i < 50; i++ {
		err = unix.Unmount(target, flags)
		if err == nil || !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	return nil
}

// UnmountAll unmounts every mount stacked on target. A target that is not a
// mount point (or does not exist) is not an error.
func UnmountAll(target string, flags int) error {
	for {
		err := Unmount(target, flags)
		if err == nil {
			continue
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
}

// WithTempMount mounts mounts on a fresh temporary directory, runs fn with its
// path, and unmounts and removes the directory whatever fn returns.
func WithTempMount(ctx context.Context, mounts []Mount, fn func(root string) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "berth-mount-")
	if err != nil {
		return fmt.Errorf("temporary mount point: %w", err)
	}
	defer func() {
		if uerr := UnmountAll(dir, 0); uerr != nil {
			// Lazy detach so the directory can at least go away.
			_ = UnmountAll(dir, unix.MNT_DETACH)
			if err == nil {
				err = uerr
			}
		}
		if rerr := os.Remove(dir); rerr != nil && err == nil {
			err = fmt.Errorf("remove temporary mount point: %w", rerr)
		}
	}()
	if err := All(mounts, dir); err != nil {
		return err
	}
	return fn(dir)
}
