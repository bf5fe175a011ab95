package container

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/runtime/initproc"
	"github.com/berth-containers/berth/runtime/nsexec"
	"github.com/berth-containers/berth/runtime/state"
)

func newExecConfig(st *state.State, cfg *specs.Spec, p *specs.Process) initproc.Config {
	return initproc.Config{Kind: initproc.KindExec, ID: st.ID, Bundle: st.Bundle, Spec: cfg, SpecJSON: st.RawConfig, Process: p, Rootless: st.Rootless}
}

// joinBootstrap joins every namespace the container's init is in.
func joinBootstrap(st *state.State, cfg *specs.Spec) (nsexec.Bootstrap, error) {
	var b nsexec.Bootstrap
	if cfg == nil || cfg.Linux == nil {
		return b, fmt.Errorf("container %q: no configuration recorded: %w", st.ID, errdefs.ErrFailedPrecondition)
	}
	for _, ns := range cfg.Linux.Namespaces {
		flag, ok := nsexec.NSFlag(string(ns.Type))
		if !ok {
			continue
		}
		path := fmt.Sprintf("/proc/%d/ns/%s", st.Pid, nsexec.ProcName(string(ns.Type)))
		if ns.Type == specs.UserNamespace && sameNS(path, "/proc/self/ns/user") {
			continue // setns into our own user namespace fails
		}
		b.Join = append(b.Join, nsexec.NSPath{Flag: flag, Path: path})
	}
	return b, nil
}

func sameNS(a, b string) bool {
	var sa, sb unix.Stat_t
	if unix.Stat(a, &sa) != nil || unix.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}
