package client

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/shim"
)

// ReasonShimDied is the ExitStatus.Reason Recover gives a container whose
// exit the shim could not see.
const ReasonShimDied = "shim died"

// Recover cleans up after the shim of stateDir when it no longer answers:
// it kills what is left of the shim, kills and deletes the container through
// the OCI runtime, removes the socket and the state directory, and returns
// the container's exit status — the one the shim recorded if it saw the
// exit, else code 137 (SIGKILL) with Reason "shim died". A shim that
// answers is left alone (ErrFailedPrecondition: use Connect).
func Recover(ctx context.Context, stateDir string) (*shim.ExitStatus, error) {
	cfg, err := shim.ReadConfig(stateDir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("recover shim in %s: %w", stateDir, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("recover shim in %s: %w", stateDir, err)
	}
	c := &Client{cfg: *cfg}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err = c.Ping(pctx)
	cancel()
	if err == nil {
		return nil, fmt.Errorf("recover shim of %s: it answers: %w", cfg.ID, errdefs.ErrFailedPrecondition)
	}
	// A hung shim: kill it, if the pid is still that shim.
	if b, err := os.ReadFile(filepath.Join(stateDir, shim.PidFile)); err == nil {
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 && isShim(pid, stateDir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			waitPidGone(pid, 5*time.Second)
		}
	}
	st, err := shim.ReadExit(filepath.Join(stateDir, shim.ExitFile))
	if err != nil || st == nil {
		st = &shim.ExitStatus{Code: 128 + int(syscall.SIGKILL), Signal: int(syscall.SIGKILL), ExitedAt: time.Now().UTC(), Reason: ReasonShimDied}
	}
	runtime := func(args ...string) ([]byte, error) {
		argv := []string{}
		if cfg.RuntimeRoot != "" {
			argv = append(argv, "--root", cfg.RuntimeRoot)
		}
		argv = append(argv, cfg.RuntimeArgs...)
		argv = append(argv, args...)
		cmd := exec.CommandContext(ctx, cfg.Runtime, argv...)
		return cmd.CombinedOutput()
	}
	_, _ = runtime("kill", "--all", cfg.ID, "KILL")
	if out, err := runtime("delete", "--force", cfg.ID); err != nil && !notExist(out) {
		return nil, fmt.Errorf("recover shim of %s: %s delete: %v: %s", cfg.ID, filepath.Base(cfg.Runtime), err, bytes.TrimSpace(out))
	}
	os.Remove(cfg.Socket)
	if strings.HasPrefix(cfg.Socket, shim.SocketDir+"/") {
		prefix := strings.TrimSuffix(cfg.Socket, "shim.sock")
		if m, _ := filepath.Glob(prefix + "console*.sock"); m != nil {
			for _, p := range m {
				os.Remove(p)
			}
		}
	}
	if err := os.RemoveAll(stateDir); err != nil {
		return nil, fmt.Errorf("recover shim of %s: %w", cfg.ID, err)
	}
	return st, nil
}

func notExist(out []byte) bool {
	s := strings.ToLower(string(out))
	return strings.Contains(s, "does not exist") || strings.Contains(s, "not found") || strings.Contains(s, "no such")
}

// isShim reports whether pid is the berth-shim serving stateDir.
func isShim(pid int, stateDir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(string(b), "\x00")
	if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "berth-shim") {
		return false
	}
	for _, a := range args {
		if a == stateDir {
			return true
		}
	}
	return false
}
