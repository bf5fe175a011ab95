// Package atomicfile replaces files so that readers, and a process killed at
// any point, see the old content or the new, never a torn file: data goes to a
// temp file in the same directory, which is then renamed over the target. Write
// also makes the result durable (fsync of the file and its directory) for state
// that must survive a machine crash; Replace skips the flushes for state that
// a machine crash makes meaningless anyway (a live process's records). It
// knows nothing of what the files hold.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces path with data (mode perm) through a temp file, fsync and
// rename, then fsyncs the directory.
func Write(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, true)
}

// Replace is Write without the fsyncs: atomic against a crash of the process,
// not of the machine.
func Replace(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, false)
}

func write(path string, data []byte, perm os.FileMode, durable bool) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if durable {
		if err = f.Sync(); err != nil {
			return err
		}
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if durable {
		d, derr := os.Open(dir)
		if derr != nil {
			return fmt.Errorf("write %s: sync directory: %w", path, derr)
		}
		defer d.Close()
		if derr := d.Sync(); derr != nil {
			return fmt.Errorf("write %s: sync directory: %w", path, derr)
		}
	}
	return nil
}
