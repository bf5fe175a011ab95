package netns

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
)

// Dir returns the directory under stateDir where namespaces are pinned.
func Dir(stateDir string) string { return filepath.Join(stateDir, "netns") }

var privateMu sync.Mutex

// ValidateName checks a namespace name: 1-128 characters from [A-Za-z0-9_.-],
// not starting with a dot.
func ValidateName(name string) error {
	if name == "" || len(name) > 128 {
		return fmt.Errorf("netns name %q: must be 1-128 characters: %w", name, errdefs.ErrInvalidArgument)
	}
	if name[0] == '.' {
		return fmt.Errorf("netns name %q: must not start with '.': %w", name, errdefs.ErrInvalidArgument)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("netns name %q: invalid character %q (allowed: letters, digits, '_', '-', '.'): %w", name, c, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// New creates a network namespace with lo up and pins it at
// <stateDir>/netns/<name>, returning that path. On any error nothing is left
// behind. An existing pin of the same name is an ErrAlreadyExists error.
func New(stateDir, name string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	dir := Dir(stateDir)
	if err := ensurePrivateDir(dir); err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("netns %s: %w", p, errdefs.ErrAlreadyExists)
		}
		return "", fmt.Errorf("netns %s: create mount point: %w", p, err)
	}
	f.Close()

	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: once its namespace has changed it
		// must not run other goroutines, and the runtime discards it when
		// this goroutine returns.
		runtime.LockOSThread()
		errc <- unshareAndPin(p)
	}()
	if err := <-errc; err != nil {
		_ = unix.Unmount(p, unix.MNT_DETACH)
		_ = os.Remove(p)
		return "", fmt.Errorf("netns %s: %w", p, err)
	}
	return p, nil
}

func unshareAndPin(p string) error {
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open current netns: %w", err)
	}
	defer unix.Close(orig)
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
	}
	// Go the thread back to its namespace when done. The thread stays
	// locked regardless and is discarded; but the runtime never discards
	// the process's main thread (it parks it), and a parked thread must
	// not hold the new namespace alive after Remove.
	defer unix.Setns(orig, unix.CLONE_NEWNET)
	src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	if err := unix.Mount(src, p, "none", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount %s: %w", src, err)
	}
	if err := loopbackUp(); err != nil {
		_ = unix.Unmount(p, unix.MNT_DETACH)
		return err
	}
	return nil
}

// loopbackUp sets IFF_UP on lo in the calling thread's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("lo up: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo up: SIOCGIFFLAGS: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo up: SIOCSIFFLAGS: %w", err)
	}
	return nil
}

// Remove unpins and deletes a namespace made by New. It is idempotent: a
// path that is already gone, or not mounted, is not an error.
func Remove(p string) error {
	if p == "" {
		return fmt.Errorf("netns path: empty: %w", errdefs.ErrInvalidArgument)
	}
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("netns %s: unmount: %w", p, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("netns %s: remove: %w", p, err)
	}
	return nil
}

// IsPinned reports whether p is a mount point holding a network namespace.
func IsPinned(p string) bool {
	var fs unix.Statfs_t
	if err := unix.Statfs(p, &fs); err != nil {
		return false
	}
	return fs.Type == unix.NSFS_MAGIC
}

// ensurePrivateDir makes dir exist and be a private mount of itself.
func ensurePrivateDir(dir string) error {
	privateMu.Lock()
	defer privateMu.Unlock()
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return fmt.Errorf("netns dir %s: %w", dir, err)
	}
	mounted, err := isMountPoint(dir)
	if err != nil {
		return fmt.Errorf("netns dir %s: %w", dir, err)
	}
	if !mounted {
		if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("netns dir %s: bind mount onto itself: %w", dir, err)
		}
	}
	if err := unix.Mount("none", dir, "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("netns dir %s: make private: %w", dir, err)
	}
	return nil
}

// Cleanup unmounts the private bind mount of <stateDir>/netns made by New and
// removes the directory if it is empty. Pinned namespaces still inside are
// left alone and make Cleanup fail.
func Cleanup(stateDir string) error {
	dir := Dir(stateDir)
	privateMu.Lock()
	defer privateMu.Unlock()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("netns dir %s: %w", dir, err)
	}
	if len(ents) > 0 {
		return fmt.Errorf("netns dir %s: %d namespaces still pinned: %w", dir, len(ents), errdefs.ErrFailedPrecondition)
	}
	for {
		m, err := isMountPoint(dir)
		if err != nil || !m {
			break
		}
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("netns dir %s: unmount: %w", dir, err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("netns dir %s: %w", dir, err)
	}
	return nil
}

// isMountPoint reports whether dir is a mount point in this mount namespace.
func isMountPoint(dir string) (bool, error) {
	abs, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false, err
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMountPath(fields[4]) == abs {
			return true, nil
		}
	}
	return false, sc.Err()
}

// unescapeMountPath decodes the octal escapes (\040 etc.) of mountinfo.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// Do runs fn on a locked OS thread that has joined the namespace pinned at
// p. The thread is discarded afterwards, so fn may leave sockets it opened
// bound to that namespace (a listener made in fn keeps serving there).
func Do(p string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open current netns: %w", err)
			return
		}
		defer unix.Close(orig)
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("netns %s: open: %w", p, err)
			return
		}
		defer unix.Close(fd)
		defer unix.Setns(orig, unix.CLONE_NEWNET) // see unshareAndPin
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netns %s: setns: %w", p, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// List returns the names of the namespaces pinned under stateDir (berthd
// compares them with its containers after a restart and removes strays).
func List(stateDir string) ([]string, error) {
	ents, err := os.ReadDir(Dir(stateDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("netns dir %s: %w", Dir(stateDir), err)
	}
	var out []string
	for _, e := range ents {
		if ValidateName(e.Name()) == nil {
			out = append(out, e.Name())
		}
	}
	return out, nil
}
