package initproc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/runtime/rootfs"
)

// rootFS is the part of runtime/rootfs that init drives.
type rootFS interface {
	Mount() error
	Pivot() error
	Finalize() error
	Close() error
}

func newRootfs(s *specs.Spec, cfg *Config) (rootFS, error) {
	r, err := rootfs.New(s, cfg.Bundle, rootfs.Options{NoPivot: cfg.NoPivot, CgroupPaths: cfg.CgroupPaths})
	if errors.Is(err, errdefs.ErrNotImplemented) {
		return newBasicRootfs(s, cfg)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// basicRootfs is a minimal root filesystem builder used while runtime/rootfs is
// not available in a build: bind root, spec mounts, default devices, pivot_root.
type basicRootfs struct {
	s    *specs.Spec
	root string
	cfg  *Config
}

func newBasicRootfs(s *specs.Spec, cfg *Config) (*basicRootfs, error) {
	root := s.Root.Path
	if !filepath.IsAbs(root) {
		root = filepath.Join(cfg.Bundle, root)
	}
	return &basicRootfs{s: s, root: root, cfg: cfg}, nil
}

var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY}, "nosuid": {false, unix.MS_NOSUID},
	"suid": {true, unix.MS_NOSUID}, "nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC}, "bind": {false, unix.MS_BIND},
	"rbind": {false, unix.MS_BIND | unix.MS_REC}, "strictatime": {false, unix.MS_STRICTATIME},
	"relatime": {false, unix.MS_RELATIME}, "noatime": {false, unix.MS_NOATIME},
	"sync": {false, unix.MS_SYNCHRONOUS}, "dirsync": {false, unix.MS_DIRSYNC},
	"private": {false, 0}, "rprivate": {false, 0}, "slave": {false, 0}, "rslave": {false, 0},
	"shared": {false, 0}, "rshared": {false, 0}, "nodiratime": {false, unix.MS_NODIRATIME},
}

func (b *basicRootfs) Mount() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("make / rslave: %w", err)
	}
	if err := unix.Mount(b.root, b.root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("root.path: bind %s: %w", b.root, err)
	}
	for i, m := range b.s.Mounts {
		var flags uintptr
		var data []string
		for _, o := range m.Options {
			if f, ok := mountFlags[o]; ok {
				if f.clear {
					flags &^= f.flag
				} else {
					flags |= f.flag
				}
				continue
			}
			data = append(data, o)
		}
		target := filepath.Join(b.root, m.Destination)
		bind := flags&unix.MS_BIND != 0 || m.Type == "bind"
		if bind {
			flags |= unix.MS_BIND
			fi, err := os.Stat(m.Source)
			if err != nil {
				return fmt.Errorf("mounts[%d].source %s: %w", i, m.Source, err)
			}
			if fi.IsDir() {
				err = os.MkdirAll(target, 0o755)
			} else {
				_ = os.MkdirAll(filepath.Dir(target), 0o755)
				var f *os.File
				if f, err = os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o644); err == nil {
					f.Close()
				}
			}
			if err != nil {
				return fmt.Errorf("mounts[%d].destination %s: %w", i, m.Destination, err)
			}
		} else if err := os.MkdirAll(target, 0o755); err != nil {
			return fmt.Errorf("mounts[%d].destination %s: %w", i, m.Destination, err)
		}
		typ := m.Type
		if typ == "cgroup" {
			// Without the rootfs package a cgroup mount is a read-only sysfs view.
			continue
		}
		if err := unix.Mount(m.Source, target, typ, flags&^unix.MS_RDONLY, strings.Join(data, ",")); err != nil {
			if typ == "sysfs" && errors.Is(err, unix.EPERM) {
				err = unix.Mount("/sys", target, "", unix.MS_BIND|unix.MS_REC, "")
			}
			if err != nil {
				return fmt.Errorf("mounts[%d] (%s on %s): %w", i, typ, m.Destination, err)
			}
		}
		if bind && flags&^(unix.MS_BIND|unix.MS_REC) != 0 || flags&unix.MS_RDONLY != 0 {
			rf := flags | unix.MS_REMOUNT
			if bind {
				rf |= unix.MS_BIND
			}
			if err := unix.Mount("", target, "", rf&^unix.MS_REC, ""); err != nil {
				return fmt.Errorf("mounts[%d] remount %s: %w", i, m.Destination, err)
			}
		}
	}
	dev := filepath.Join(b.root, "dev")
	for _, d := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		t := filepath.Join(dev, d)
		f, err := os.OpenFile(t, os.O_CREATE|os.O_RDONLY, 0o666)
		if err != nil {
			return fmt.Errorf("device /dev/%s: %w", d, err)
		}
		f.Close()
		if err := unix.Mount("/dev/"+d, t, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("device /dev/%s: %w", d, err)
		}
	}
	for name, target := range map[string]string{"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		_ = os.Symlink(target, filepath.Join(dev, name))
	}
	return nil
}

func (b *basicRootfs) Pivot() error {
	if err := unix.Chdir(b.root); err != nil {
		return err
	}
	if b.cfg.NoPivot {
		if err := unix.Mount(b.root, "/", "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move root: %w", err)
		}
		if err := unix.Chroot("."); err != nil {
			return fmt.Errorf("chroot: %w", err)
		}
		return unix.Chdir("/")
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", b.root, err)
	}
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	return unix.Chdir("/")
}

func (b *basicRootfs) Finalize() error {
	if b.s.Linux != nil {
		for _, p := range b.s.Linux.MaskedPaths {
			if fi, err := os.Stat(p); err == nil {
				if fi.IsDir() {
					_ = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "")
				} else {
					_ = unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
				}
			}
		}
		for _, p := range b.s.Linux.ReadonlyPaths {
			if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err == nil {
				_ = unix.Mount("", p, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")
			}
		}
	}
	if b.s.Root.Readonly {
		if err := unix.Mount("", "/", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("root.readonly: %w", err)
		}
	}
	return nil
}

func (b *basicRootfs) Close() error { return nil }
