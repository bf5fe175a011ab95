package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/runtime/container"
	"github.com/berth-containers/berth/runtime/linuxproc"
	"github.com/berth-containers/berth/runtime/state"
)

func cmdExec(g *globals, args []string) (int, error) {
	fs := newFlags("exec")
	var (
		consoleSocket, cwd, user, processFile, pidFile, label, apparmor string
		tty, detach, noNewPrivs, ignorePaused                           bool
		preserveFDs                                                     int
		env, caps, gids                                                 multi
		cgroup                                                          string
	)
	fs.StringVar(&consoleSocket, "console-socket", "", "unix socket to send the pty master to")
	fs.StringVar(&cwd, "cwd", "", "working directory")
	fs.StringVar(&user, "user", "", "uid[:gid] (or name[:group])")
	fs.StringVar(&user, "u", "", "uid[:gid]")
	fs.StringVar(&processFile, "process", "", "process.json to run")
	fs.StringVar(&processFile, "p", "", "process.json to run")
	fs.StringVar(&pidFile, "pid-file", "", "write the process's pid here")
	fs.StringVar(&label, "process-label", "", "SELinux label")
	fs.StringVar(&apparmor, "apparmor", "", "AppArmor profile")
	fs.BoolVar(&tty, "tty", false, "allocate a pty")
	fs.BoolVar(&tty, "t", false, "allocate a pty")
	fs.BoolVar(&detach, "detach", false, "do not wait for the process")
	fs.BoolVar(&detach, "d", false, "do not wait for the process")
	fs.BoolVar(&noNewPrivs, "no-new-privs", false, "set no_new_privs")
	fs.BoolVar(&ignorePaused, "ignore-paused", false, "accepted for compatibility")
	fs.IntVar(&preserveFDs, "preserve-fds", 0, "pass this many fds after stdio")
	fs.Var(&env, "env", "KEY=VALUE (repeatable)")
	fs.Var(&env, "e", "KEY=VALUE (repeatable)")
	fs.Var(&caps, "cap", "add a capability (repeatable)")
	fs.Var(&caps, "c", "add a capability (repeatable)")
	fs.Var(&gids, "additional-gids", "additional gid (repeatable)")
	fs.Var(&gids, "g", "additional gid (repeatable)")
	fs.StringVar(&cgroup, "cgroup", "", "accepted for compatibility (sub-cgroup)")
	pos, err := parseLeading(fs, args)
	if err != nil {
		return 1, err
	}
	if len(pos) < 1 {
		return 1, fmt.Errorf("exec: usage: berth-runtime exec [options] <container-id> [command [args...]]")
	}
	id, cmdArgs := pos[0], pos[1:]
	if len(cmdArgs) > 0 && cmdArgs[0] == "--" {
		cmdArgs = cmdArgs[1:]
	}
	var p *specs.Process
	if processFile != "" {
		var data []byte
		if processFile == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(processFile)
		}
		if err != nil {
			return 1, fmt.Errorf("--process %s: %w", processFile, err)
		}
		if p, err = parseProcess(data); err != nil {
			return 1, fmt.Errorf("--process %s: %w", processFile, err)
		}
		if len(cmdArgs) > 0 {
			p.Args = cmdArgs
		}
	} else {
		if len(cmdArgs) == 0 {
			return 1, fmt.Errorf("exec: no command given (args or --process)")
		}
		st, err := state.Read(g.root, id)
		if err != nil {
			return 1, err
		}
		cfg, err := st.Spec()
		if err != nil {
			return 1, err
		}
		if cfg == nil || cfg.Process == nil {
			return 1, fmt.Errorf("container %q: no process configuration recorded: %w", id, errdefs.ErrFailedPrecondition)
		}
		cp := *cfg.Process
		p = &cp
		p.Args = cmdArgs
		p.Terminal = tty
		p.ConsoleSize = nil
		p.Env = append(append([]string(nil), p.Env...), env...)
		if cwd != "" {
			p.Cwd = cwd
		}
		if user != "" {
			u, err := parseUser(user, st.Rootfs)
			if err != nil {
				return 1, err
			}
			p.User = u
		}
		for _, g := range gids {
			n, err := strconv.ParseUint(g, 10, 32)
			if err != nil {
				return 1, fmt.Errorf("--additional-gids %q: %w", g, errdefs.ErrInvalidArgument)
			}
			p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(n))
		}
		if len(caps) > 0 {
			c := specs.LinuxCapabilities{}
			if p.Capabilities != nil {
				c = *p.Capabilities
			}
			for _, name := range caps {
				name = strings.ToUpper(name)
				if !strings.HasPrefix(name, "CAP_") {
					name = "CAP_" + name
				}
				c.Bounding = append(c.Bounding, name)
				c.Effective = append(c.Effective, name)
				c.Permitted = append(c.Permitted, name)
				c.Inheritable = append(c.Inheritable, name)
				c.Ambient = append(c.Ambient, name)
			}
			p.Capabilities = &c
		}
		if noNewPrivs {
			p.NoNewPrivileges = true
		}
		if label != "" {
			p.SelinuxLabel = label
		}
		if apparmor != "" {
			p.ApparmorProfile = apparmor
		}
	}
	if processFile != "" {
		if tty {
			p.Terminal = true
		}
		if cwd != "" {
			p.Cwd = cwd
		}
		p.Env = append(p.Env, env...)
		if noNewPrivs {
			p.NoNewPrivileges = true
		}
	}
	code, err := g.runtime().Exec(container.ExecOpts{ID: id, Process: p, ConsoleSocket: consoleSocket,
		PidFile: pidFile, Detach: detach, PreserveFDs: preserveFDs})
	if err != nil {
		return 255, err
	}
	return code, nil
}

// parseProcess decodes a process.json (exec --process).
func parseProcess(data []byte) (*specs.Process, error) {
	var p specs.Process
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("decode: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the process object: %w", errdefs.ErrInvalidArgument)
	}
	if len(p.Args) == 0 && p.CommandLine == "" {
		return nil, fmt.Errorf("process.args: empty: %w", errdefs.ErrInvalidArgument)
	}
	return &p, nil
}

// parseUser parses "uid[:gid]"; names are looked up in the container's files.
func parseUser(s, rootfs string) (specs.User, error) {
	uidStr, gidStr, hasGid := strings.Cut(s, ":")
	uid, uerr := strconv.ParseUint(uidStr, 10, 32)
	gid, gerr := uint64(0), error(nil)
	if hasGid {
		gid, gerr = strconv.ParseUint(gidStr, 10, 32)
	}
	if uerr == nil && gerr == nil {
		return specs.User{UID: uint32(uid), GID: uint32(gid)}, nil
	}
	u, err := linuxproc.ResolveUser(rootfs, s)
	if err != nil {
		return specs.User{}, fmt.Errorf("--user %q: %w", s, err)
	}
	return u, nil
}
