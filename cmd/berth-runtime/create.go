package main

import (
	"flag"

	"github.com/berth-containers/berth/runtime/container"
)

type createFlags struct {
	bundle, pidFile, consoleSocket string
	noPivot, noNewKeyring          bool
	preserveFDs                    int
}

func (c *createFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.bundle, "bundle", ".", "bundle directory")
	fs.StringVar(&c.bundle, "b", ".", "bundle directory")
	fs.StringVar(&c.pidFile, "pid-file", "", "write the init's pid here")
	fs.StringVar(&c.consoleSocket, "console-socket", "", "unix socket to send the pty master to")
	fs.BoolVar(&c.noPivot, "no-pivot", false, "use MS_MOVE + chroot instead of pivot_root")
	fs.BoolVar(&c.noNewKeyring, "no-new-keyring", false, "keep the caller's session keyring")
	fs.IntVar(&c.preserveFDs, "preserve-fds", 0, "pass this many fds after stdio to the container")
}

func (c *createFlags) opts(id string) container.CreateOpts {
	return container.CreateOpts{ID: id, Bundle: c.bundle, PidFile: c.pidFile, ConsoleSocket: c.consoleSocket,
		NoPivot: c.noPivot, NoNewKeyring: c.noNewKeyring, PreserveFDs: c.preserveFDs}
}

func cmdCreate(g *globals, args []string) (int, error) {
	fs := newFlags("create")
	var c createFlags
	c.register(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 1, err
	}
	if err := needArgs("create", pos, 1, 1, "[options] <container-id>"); err != nil {
		return 1, err
	}
	if err := g.checkCgroupDriver(); err != nil {
		return 1, err
	}
	_, err = g.runtime().Create(c.opts(pos[0]))
	return 0, err
}
