package main

import "github.com/berth-containers/berth/runtime/container"

func cmdRun(g *globals, args []string) (int, error) {
	fs := newFlags("run")
	var c createFlags
	c.register(fs)
	var ro container.RunOpts
	fs.BoolVar(&ro.Detach, "detach", false, "return once the container started")
	fs.BoolVar(&ro.Detach, "d", false, "return once the container started")
	fs.BoolVar(&ro.Keep, "keep", false, "do not delete the container after it exits")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 1, err
	}
	if err := needArgs("run", pos, 1, 1, "[options] <container-id>"); err != nil {
		return 1, err
	}
	if err := g.checkCgroupDriver(); err != nil {
		return 1, err
	}
	code, err := g.runtime().Run(c.opts(pos[0]), ro)
	if err != nil {
		return 1, err
	}
	return code, nil
}
