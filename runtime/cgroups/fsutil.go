package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// writeFile writes value to dir/file the way cgroupfs wants it: one write(2)
// on an existing file, no create, no truncate games.
func writeFile(dir, file, value string) error {
	p := filepath.Join(dir, file)
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer unix.Close(fd)
	for {
		_, err = unix.Write(fd, []byte(value))
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, p, err)
	}
	return nil
}

// readFile reads a control file with plain system calls (os.ReadFile would
// also try, and fail, to put the file in Go's poller). Errors are
// *os.PathError, as os.ReadFile's.
func readFile(dir, file string) (string, error) {
	p := filepath.Join(dir, file)
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(fd)
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return "", &os.PathError{Op: "read", Path: p, Err: err}
		case n == 0:
			return string(out), nil
		}
		out = append(out, buf[:n]...)
	}
}

func readTrim(dir, file string) (string, error) {
	s, err := readFile(dir, file)
	return strings.TrimSpace(s), err
}

// readUint reads a single number; "max" reads as MaxUint64.
func readUint(dir, file string) (uint64, error) {
	s, err := readTrim(dir, file)
	if err != nil {
		return 0, err
	}
	return parseUint(s, filepath.Join(dir, file))
}

func parseUint(s, where string) (uint64, error) {
	if s == "max" {
		return ^uint64(0), nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		// Negative values (e.g. -1 in some v1 files) saturate to 0.
		if i, err2 := strconv.ParseInt(s, 10, 64); err2 == nil && i < 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("parse %q from %s: %w", s, where, err)
	}
	return v, nil
}

// parseKV parses "key value" lines (memory.stat, cpu.stat, memory.events).
func parseKV(s string) map[string]uint64 {
	m := map[string]uint64{}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			m[f[0]] = v
		}
	}
	return m
}

func readKV(dir, file string) (map[string]uint64, error) {
	s, err := readFile(dir, file)
	if err != nil {
		return nil, err
	}
	return parseKV(s), nil
}

// mkdirAll creates the cgroup directory dir below hierarchy root, one level at
// a time, calling init on each directory it creates.
func mkdirAll(root, dir string, init func(parent, d string) error) error {
	rel, err := filepath.Rel(root, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("cgroup dir %s is not below %s", dir, root)
	}
	// The common case first: only the leaf is missing.
	switch err := unix.Mkdir(dir, 0o755); err {
	case nil:
		if init != nil && dir != root {
			return init(filepath.Dir(dir), dir)
		}
		return nil
	case unix.EEXIST:
		return nil
	}
	cur := root
	for _, e := range strings.Split(rel, "/") {
		parent := cur
		cur = filepath.Join(cur, e)
		err := unix.Mkdir(cur, 0o755)
		if err == nil {
			if init != nil {
				if err := init(parent, cur); err != nil {
					return err
				}
			}
			continue
		}
		if err != unix.EEXIST {
			return fmt.Errorf("mkdir %s: %w", cur, err)
		}
	}
	return nil
}

// readPids lists the pids in cgroup.procs of dir and, if recursive, of every
// directory below it.
func readPids(dir string, recursive bool) ([]int, error) {
	var pids []int
	var walk func(d string) error
	walk = func(d string) error {
		s, err := readFile(d, "cgroup.procs")
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(s) {
			if p, err := strconv.Atoi(f); err == nil {
				pids = append(pids, p)
			}
		}
		if !recursive {
			return nil
		}
		ents, err := os.ReadDir(d)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if e.IsDir() {
				if err := walk(filepath.Join(d, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(dir); err != nil {
		return nil, err
	}
	sort.Ints(pids)
	return pids, nil
}

// fakeTrees lets removeTree delete the regular files that stand in for
// control files in a test's fake cgroupfs tree. Only tests set it: in
// production Destroy never unlinks a file.
var fakeTrees = false

// destroyBudget bounds how long Destroy waits for a busy cgroup (processes
// that are still exiting) across all of its directories.
const destroyBudget = 500 * time.Millisecond

// removeTree removes the cgroup directory dir and every cgroup below it,
// deepest first. Only directories are removed (cgroupfs control files vanish
// with their directory). EBUSY (processes still exiting) is retried with a
// short backoff until deadline.
func removeTree(dir string, deadline time.Time) error {
	// A container's cgroup rarely has children: try the directory itself
	// first, and list it (dozens of control files) only when it is not empty.
	delay := 500 * time.Microsecond
	listed := false
	for {
		err := unix.Rmdir(dir)
		switch {
		case err == nil, err == unix.ENOENT:
			return nil
		case (err == unix.ENOTEMPTY || err == unix.EBUSY) && !listed:
			// Children first (EBUSY too: a v1 hierarchy reports a cgroup
			// with child cgroups as busy).
			listed = true
			if err := removeChildren(dir, deadline); err != nil {
				return err
			}
			continue
		case err == unix.ENOTEMPTY && fakeTrees && isFakeDir(dir):
			// A fake (test) tree holds regular files standing in for control
			// files: remove them too.
			if err := removeFakeFiles(dir); err != nil {
				return err
			}
			continue
		case (err == unix.EBUSY || err == unix.EAGAIN) && time.Now().Before(deadline):
			time.Sleep(delay)
			if delay < 50*time.Millisecond {
				delay *= 2
			}
			continue
		}
		if err == unix.EBUSY {
			return fmt.Errorf("remove cgroup %s: %w (processes are still in it)", dir, err)
		}
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
}

// removeChildren removes the child cgroups of dir.
func removeChildren(dir string, deadline time.Time) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name()), deadline); err != nil {
				return err
			}
		}
	}
	return nil
}

// isFakeDir reports whether dir is on an ordinary filesystem rather than a
// cgroup filesystem (test trees).
func isFakeDir(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	return st.Type != unix.CGROUP_SUPER_MAGIC && st.Type != unix.CGROUP2_SUPER_MAGIC
}

func removeFakeFiles(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.IsDir() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func isPerm(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EROFS)
}
