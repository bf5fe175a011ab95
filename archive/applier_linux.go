package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
)

const (
	xattrPAXPrefix   = "SCHILY.xattr."
	overlayXattrPref = "trusted.overlay."
	opaqueXattr      = "trusted.overlay.opaque"
	maxCachedDirs    = 128
	// Files at least this large start their writeback early (WithEarlyWriteback).
	writebackMin = 128 << 10
)

type deferredTime struct {
	name string
	ts   [2]unix.Timespec
}

// applier holds the state of one Apply: the root directory's fd, a small
// cache of open parent directories (tar entries come in directory order), and
// the directory times to set once their contents are in place.
type applier struct {
	ctx      context.Context
	opts     applyOptions
	root     int
	rootPath string
	dirs     map[string]int
	retired  []int
	times    []deferredTime
	created  map[string]struct{} // WhiteoutDelete only: paths this layer wrote
	entries  int64
	bytes    int64
	buf      *[]byte
}

func newApplier(root string, o applyOptions) (*applier, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("layer root %s: %w", root, err)
	}
	a := &applier{opts: o, root: fd, rootPath: root, dirs: map[string]int{}, buf: copyBufPool.Get().(*[]byte)}
	if o.whiteouts == WhiteoutDelete {
		a.created = map[string]struct{}{}
	}
	return a, nil
}

func (a *applier) close() {
	a.dropDirs()
	a.closeRetired()
	unix.Close(a.root)
	copyBufPool.Put(a.buf)
}

// dropDirs empties the parent directory cache. The fds are closed only
// when the current entry is done (closeRetired): the entry may be using one.
func (a *applier) dropDirs() {
	for k, fd := range a.dirs {
		a.retired = append(a.retired, fd)
		delete(a.dirs, k)
	}
}

func (a *applier) closeRetired() {
	for _, fd := range a.retired {
		unix.Close(fd)
	}
	a.retired = a.retired[:0]
}

func (a *applier) markCreated(name string) {
	if a.created != nil {
		a.created[name] = struct{}{}
	}
}

// resolve opens the directory dir (relative to the root) with every symlink
// on the way resolved as if the root were "/": nothing outside can be reached.
func (a *applier) resolve(dir string) (int, error) {
	if dir == "." {
		return unix.Dup(a.root)
	}
	how := unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(a.root, dir, &how)
		if err == unix.EAGAIN && i < 16 {
			continue
		}
		return fd, err
	}
}

// parent returns an fd of directory dir, creating missing directories.
func (a *applier) parent(dir string) (int, error) {
	if dir == "." {
		return a.root, nil
	}
	if fd, ok := a.dirs[dir]; ok {
		return fd, nil
	}
	fd, err := a.resolve(dir)
	if errors.Is(err, unix.ENOENT) {
		if err := a.mkdirAll(dir); err != nil {
			return -1, err
		}
		fd, err = a.resolve(dir)
	}
	if err != nil {
		return -1, fmt.Errorf("parent directory %q: %w", dir, err)
	}
	if len(a.dirs) >= maxCachedDirs {
		a.dropDirs()
	}
	a.dirs[dir] = fd
	return fd, nil
}

// mkdirAll creates the missing directories of dir (mode 0755, root-owned),
// resolving in the root as parent does.
func (a *applier) mkdirAll(dir string) error {
	parts := strings.Split(dir, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		fd, err := a.resolve(p)
		if err == nil {
			unix.Close(fd)
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("parent directory %q: %w", p, err)
		}
		pp := "."
		if i > 0 {
			pp = strings.Join(parts[:i], "/")
		}
		pfd, err := a.resolve(pp)
		if err != nil {
			return fmt.Errorf("parent directory %q: %w", pp, err)
		}
		err = unix.Mkdirat(pfd, parts[i], 0o755)
		unix.Close(pfd)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create parent directory %q: %w", p, err)
		}
		a.markCreated(p)
	}
	return nil
}

// removeAt removes name in dirfd, recursively if it is a directory.
func (a *applier) removeAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil {
		// The name may have been a symlink that cached parent directories
		// were resolved through: resolve afresh from now on.
		a.dropDirs()
		return nil
	}
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) {
		return err
	}
	// A directory goes away: cached fds below it would now point nowhere.
	a.dropDirs()
	return removeDirAt(dirfd, name)
}

func removeDirAt(dirfd int, name string) error {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	for {
		names, err := f.Readdirnames(1024)
		for _, n := range names {
			if err := unix.Unlinkat(fd, n, 0); err != nil {
				if !errors.Is(err, unix.EISDIR) {
					f.Close()
					return err
				}
				if err := removeDirAt(fd, n); err != nil {
					f.Close()
					return err
				}
			}
		}
		if err == io.EOF || len(names) == 0 {
			break
		}
		if err != nil {
			f.Close()
			return err
		}
	}
	f.Close()
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

func timespec(t time.Time) unix.Timespec {
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

func times(hdr *tar.Header) [2]unix.Timespec {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	return [2]unix.Timespec{timespec(at), timespec(hdr.ModTime)}
}

func procPath(dirfd int, name string) string {
	return "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + name
}

// xattrs returns the entry's extended attributes (PAX SCHILY.xattr.*),
// without overlayfs' own (a layer must not steer the overlay).
func xattrs(hdr *tar.Header) map[string]string {
	var out map[string]string
	for k, v := range hdr.PAXRecords {
		if !strings.HasPrefix(k, xattrPAXPrefix) {
			continue
		}
		name := strings.TrimPrefix(k, xattrPAXPrefix)
		if name == "" || strings.HasPrefix(name, overlayXattrPref) {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[name] = v
	}
	return out
}

// setMeta applies ownership, xattrs and mode to the open file fd (ownership
// first: chown clears setuid bits and file capabilities).
func (a *applier) setMeta(fd int, hdr *tar.Header) error {
	if !a.opts.noSameOwner {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("chown %d:%d: %w", hdr.Uid, hdr.Gid, err)
		}
	}
	for k, v := range xattrs(hdr) {
		if err := unix.Fsetxattr(fd, k, []byte(v), 0); err != nil {
			if errors.Is(err, unix.ENOTSUP) {
				continue
			}
			return fmt.Errorf("xattr %s: %w", k, err)
		}
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
		return fmt.Errorf("chmod %o: %w", hdr.Mode&0o7777, err)
	}
	return nil
}

// setMetaAt is setMeta for entries that cannot be opened (symlinks, device
// nodes, fifos): by name in dirfd, never following the name.
func (a *applier) setMetaAt(dirfd int, name string, hdr *tar.Header, chmod bool) error {
	if !a.opts.noSameOwner {
		if err := unix.Fchownat(dirfd, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown %d:%d: %w", hdr.Uid, hdr.Gid, err)
		}
	}
	if x := xattrs(hdr); len(x) > 0 {
		p := procPath(dirfd, name)
		for k, v := range x {
			if err := unix.Lsetxattr(p, k, []byte(v), 0); err != nil {
				if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) {
					continue
				}
				return fmt.Errorf("xattr %s: %w", k, err)
			}
		}
	}
	if chmod {
		// mknod's mode went through the umask. The name is a device node or
		// fifo this entry just made, so following it is following nothing.
		if err := unix.Fchmodat(dirfd, name, uint32(hdr.Mode&0o7777), 0); err != nil {
			return fmt.Errorf("chmod %o: %w", hdr.Mode&0o7777, err)
		}
	}
	ts := times(hdr)
	if err := unix.UtimesNanoAt(dirfd, name, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("times: %w", err)
	}
	return nil
}

// create makes the entry base (full name name) in the directory pfd.
func (a *applier) create(pfd int, dir, base, name string, hdr *tar.Header, tr *tar.Reader) error {
	a.markCreated(name)
	switch hdr.Typeflag {
	case tar.TypeDir:
		return a.mkdir(pfd, base, name, hdr)
	case tar.TypeReg, tar.TypeRegA:
		return a.regular(pfd, base, hdr, tr)
	case tar.TypeSymlink:
		if hdr.Linkname == "" {
			return fmt.Errorf("symlink with an empty target: %w", errdefs.ErrInvalidArgument)
		}
		if err := a.retryExisting(pfd, base, func() error { return unix.Symlinkat(hdr.Linkname, pfd, base) }); err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
		return a.setMetaAt(pfd, base, hdr, false)
	case tar.TypeLink:
		return a.hardlink(pfd, base, name, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode |= unix.S_IFCHR
		case tar.TypeBlock:
			mode |= unix.S_IFBLK
		default:
			mode |= unix.S_IFIFO
		}
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		if err := a.retryExisting(pfd, base, func() error { return unix.Mknodat(pfd, base, mode, dev) }); err != nil {
			return fmt.Errorf("mknod: %w", err)
		}
		return a.setMetaAt(pfd, base, hdr, true)
	}
	return fmt.Errorf("unsupported entry type %q: %w", hdr.Typeflag, errdefs.ErrNotImplemented)
}

// retryExisting runs mk; if the name exists, it removes it and runs mk again.
func (a *applier) retryExisting(pfd int, base string, mk func() error) error {
	err := mk()
	if !errors.Is(err, unix.EEXIST) {
		return err
	}
	if err := a.removeAt(pfd, base); err != nil {
		return fmt.Errorf("replace existing: %w", err)
	}
	return mk()
}

func (a *applier) mkdir(pfd int, base, name string, hdr *tar.Header) error {
	err := unix.Mkdirat(pfd, base, 0o700)
	opaque := false
	if errors.Is(err, unix.EEXIST) {
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			// A directory replacing this layer's own whiteout of the name is
			// a new directory: what the layers below had there stays hidden.
			opaque = a.opts.whiteouts == WhiteoutOverlay && st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
			if err := a.removeAt(pfd, base); err != nil {
				return fmt.Errorf("replace existing: %w", err)
			}
			err = unix.Mkdirat(pfd, base, 0o700)
		} else {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("mkdir: %w", err)
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	err = a.setMeta(fd, hdr)
	if err == nil && opaque {
		if err = unix.Fsetxattr(fd, opaqueXattr, []byte("y"), 0); err != nil {
			err = fmt.Errorf("set %s: %w", opaqueXattr, err)
		}
	}
	unix.Close(fd)
	if err != nil {
		return err
	}
	a.times = append(a.times, deferredTime{name: name, ts: times(hdr)})
	return nil
}

func (a *applier) rootDir(hdr *tar.Header) error {
	if err := a.setMeta(a.root, hdr); err != nil {
		return err
	}
	a.times = append(a.times, deferredTime{name: ".", ts: times(hdr)})
	return nil
}

func (a *applier) regular(pfd int, base string, hdr *tar.Header, tr *tar.Reader) error {
	if hdr.Size < 0 {
		return fmt.Errorf("negative size %d: %w", hdr.Size, errdefs.ErrInvalidArgument)
	}
	if a.bytes+hdr.Size > a.opts.maxBytes {
		return fmt.Errorf("size %d: layer over %d bytes: %w", hdr.Size, a.opts.maxBytes, errLimit)
	}
	var fd int
	flags := unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	if err := a.retryExisting(pfd, base, func() (err error) {
		fd, err = unix.Openat(pfd, base, flags, 0o600)
		return err
	}); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	err := a.writeData(fd, hdr, tr)
	if err == nil && a.opts.writeback && hdr.Size >= writebackMin {
		// Best effort: a failure here only means the final sync waits longer.
		_ = unix.SyncFileRange(fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	}
	if err == nil {
		err = a.setMeta(fd, hdr)
	}
	if err == nil {
		ts := times(hdr)
		err = unix.UtimesNanoAt(pfd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW)
	}
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

func (a *applier) writeData(fd int, hdr *tar.Header, tr *tar.Reader) error {
	buf := *a.buf
	var written int64
	for chunk := 1; ; chunk++ {
		if chunk%64 == 0 {
			if err := a.ctx.Err(); err != nil {
				return err
			}
		}
		n, rerr := tr.Read(buf)
		for off := 0; off < n; {
			w, err := unix.Write(fd, buf[off:n])
			if err != nil {
				if err == unix.EINTR {
					continue
				}
				return fmt.Errorf("write: %w", err)
			}
			off += w
		}
		written += int64(n)
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("read data: %w", rerr)
		}
	}
	a.bytes += written
	if written != hdr.Size {
		return fmt.Errorf("data: %d of %d bytes: %w", written, hdr.Size, io.ErrUnexpectedEOF)
	}
	return nil
}

func (a *applier) hardlink(pfd int, base, name string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
	}
	if target == name {
		return nil
	}
	if target == "." {
		return fmt.Errorf("hardlink target %q: the root: %w", hdr.Linkname, errdefs.ErrInvalidArgument)
	}
	tdir, tbase := path.Split(target)
	tdir = strings.TrimSuffix(tdir, "/")
	if tdir == "" {
		tdir = "."
	}
	tfd, err := a.resolve(tdir)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
	}
	defer unix.Close(tfd)
	var st unix.Stat_t
	if err := unix.Fstatat(tfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return fmt.Errorf("hardlink target %q: is a directory: %w", hdr.Linkname, errdefs.ErrInvalidArgument)
	case unix.S_IFLNK:
		l, err := readlinkAt(tfd, tbase)
		if err != nil {
			return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
		}
		if !symlinkStaysInside(tdir, l) {
			return fmt.Errorf("hardlink target %q: a symlink to %q, outside the layer: %w", hdr.Linkname, l, errdefs.ErrInvalidArgument)
		}
	}
	if err := a.retryExisting(pfd, base, func() error { return unix.Linkat(tfd, tbase, pfd, base, 0) }); err != nil {
		return fmt.Errorf("hardlink to %q: %w", hdr.Linkname, err)
	}
	return nil
}

func readlinkAt(dirfd int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// symlinkStaysInside reports whether a symlink in dir with target l resolves
// (lexically) inside the root.
func symlinkStaysInside(dir, l string) bool {
	if strings.HasPrefix(l, "/") {
		return false
	}
	depth := 0
	if dir != "." {
		depth = strings.Count(dir, "/") + 1
	}
	for _, p := range strings.Split(l, "/") {
		switch p {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return false
			}
		default:
			depth++
		}
	}
	return true
}

// opaque handles ".wh..wh..opq" in dir: the directory hides what its
// parents' layers have there.
func (a *applier) opaque(dir string) error {
	if a.opts.whiteouts == WhiteoutOverlay {
		fd, err := a.parent(dir)
		if err != nil {
			return err
		}
		if err := unix.Fsetxattr(fd, opaqueXattr, []byte("y"), 0); err != nil {
			return fmt.Errorf("opaque directory %q: set %s: %w", dir, opaqueXattr, err)
		}
		return nil
	}
	fd, err := a.resolve(dir)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opaque directory %q: %w", dir, err)
	}
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("opaque directory %q: %w", dir, err)
	}
	for _, n := range names {
		p := n
		if dir != "." {
			p = dir + "/" + n
		}
		if _, ok := a.created[p]; ok {
			continue
		}
		if err := a.removeAt(fd, n); err != nil {
			return fmt.Errorf("opaque directory %q: remove %q: %w", dir, n, err)
		}
	}
	return nil
}

// whiteout handles ".wh.<target>" in dir: target is deleted.
func (a *applier) whiteout(dir, target string) error {
	if a.opts.whiteouts == WhiteoutOverlay {
		fd, err := a.parent(dir)
		if err != nil {
			return err
		}
		if err := a.retryExisting(fd, target, func() error { return unix.Mknodat(fd, target, unix.S_IFCHR, 0) }); err != nil {
			return fmt.Errorf("whiteout %q: %w", target, err)
		}
		return nil
	}
	fd, err := a.resolve(dir)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("whiteout %q: %w", target, err)
	}
	defer unix.Close(fd)
	if err := a.removeAt(fd, target); err != nil {
		return fmt.Errorf("whiteout %q: %w", target, err)
	}
	return nil
}

// finish sets directory times, deepest last-written first.
func (a *applier) finish() error {
	for i := len(a.times) - 1; i >= 0; i-- {
		t := a.times[i]
		if t.name == "." {
			if err := unix.UtimesNanoAt(a.root, ".", t.ts[:], 0); err != nil {
				return fmt.Errorf("layer entry \".\": times: %w", err)
			}
			continue
		}
		dir, base := path.Split(t.name)
		dir = strings.TrimSuffix(dir, "/")
		if dir == "" {
			dir = "."
		}
		fd, err := a.resolve(dir)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("layer entry %q: times: %w", t.name, err)
		}
		err = unix.UtimesNanoAt(fd, base, t.ts[:], unix.AT_SYMLINK_NOFOLLOW)
		unix.Close(fd)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("layer entry %q: times: %w", t.name, err)
		}
	}
	return nil
}
