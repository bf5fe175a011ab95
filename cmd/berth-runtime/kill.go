package main

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
)

func cmdKill(g *globals, args []string) (int, error) {
	fs := newFlags("kill")
	all := fs.Bool("all", false, "signal every process of the container")
	fs.BoolVar(all, "a", false, "signal every process of the container")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 1, err
	}
	if err := needArgs("kill", pos, 1, 2, "[--all] <container-id> [signal]"); err != nil {
		return 1, err
	}
	sig := unix.SIGTERM
	if len(pos) == 2 {
		if sig, err = parseSignal(pos[1]); err != nil {
			return 1, err
		}
	}
	return 0, g.runtime().Kill(pos[0], sig, *all)
}

// parseSignal accepts "KILL", "SIGKILL", "kill", "9", "RTMIN+3".
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %d: out of range: %w", n, errdefs.ErrInvalidArgument)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	for _, base := range []struct {
		prefix string
		num    int
		dir    int
	}{{"SIGRTMIN", 34, 1}, {"SIGRTMAX", 64, -1}} {
		if rest, ok := strings.CutPrefix(name, base.prefix); ok {
			off := 0
			if rest != "" {
				var err error
				if off, err = strconv.Atoi(strings.TrimLeft(rest, "+-")); err != nil || (rest[0] != '+' && rest[0] != '-') {
					break
				}
				if rest[0] == '-' {
					off = -off
				}
			}
			n := base.num + off
			if n < 34 || n > 64 {
				break
			}
			return unix.Signal(n), nil
		}
	}
	return 0, fmt.Errorf("unknown signal %q: %w", s, errdefs.ErrInvalidArgument)
}
