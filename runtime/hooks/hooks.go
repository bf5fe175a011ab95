package hooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Kinds of hooks, as named in config.json.
const (
	Prestart        = "prestart"
	CreateRuntime   = "createRuntime"
	CreateContainer = "createContainer"
	StartContainer  = "startContainer"
	Poststart       = "poststart"
	Poststop        = "poststop"
)

// List returns the hooks of kind from h (nil-safe).
func List(h *specs.Hooks, kind string) []specs.Hook {
	if h == nil {
		return nil
	}
	switch kind {
	case Prestart:
		return h.Prestart //nolint:staticcheck // deprecated in the spec, still honoured
	case CreateRuntime:
		return h.CreateRuntime
	case CreateContainer:
		return h.CreateContainer
	case StartContainer:
		return h.StartContainer
	case Poststart:
		return h.Poststart
	case Poststop:
		return h.Poststop
	}
	return nil
}

// RunAll runs every hook of kind in order, stopping at the first failure.
func RunAll(h *specs.Hooks, kind string, st *specs.State) error {
	list := List(h, kind)
	if len(list) == 0 {
		return nil
	}
	in, err := json.Marshal(st)
	if err != nil {
		return err
	}
	for i, hk := range list {
		if err := Run(hk, in); err != nil {
			return fmt.Errorf("hooks.%s[%d] (%s): %w", kind, i, hk.Path, err)
		}
	}
	return nil
}

// RunAllContinue runs every hook of kind even when some fail (poststart and
// poststop: a failure is a warning and the remaining hooks still run). It
// returns the failures joined, nil when all succeeded.
func RunAllContinue(h *specs.Hooks, kind string, st *specs.State) error {
	list := List(h, kind)
	if len(list) == 0 {
		return nil
	}
	in, err := json.Marshal(st)
	if err != nil {
		return err
	}
	var errs []error
	for i, hk := range list {
		if err := Run(hk, in); err != nil {
			errs = append(errs, fmt.Errorf("hooks.%s[%d] (%s): %w", kind, i, hk.Path, err))
		}
	}
	return errors.Join(errs...)
}

// Run executes one hook with stateJSON on its stdin.
func Run(h specs.Hook, stateJSON []byte) error {
	cmd := &exec.Cmd{Path: h.Path, Args: h.Args, Env: h.Env, Stdin: bytes.NewReader(stateJSON)}
	if len(cmd.Args) == 0 {
		cmd.Args = []string{h.Path}
	}
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// The hook must not inherit the caller's death signal or process group games.
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var timeout <-chan time.Time
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("timeout must be > 0, got %d", *h.Timeout)
		}
		t := time.NewTimer(time.Duration(*h.Timeout) * time.Second)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case err := <-done:
		if err != nil {
			if msg := strings.TrimSpace(out.String()); msg != "" {
				return fmt.Errorf("%w: %s", err, msg)
			}
			return err
		}
		return nil
	case <-timeout:
		_ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("timed out after %ds", *h.Timeout)
	}
}
