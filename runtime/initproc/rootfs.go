package initproc

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/runtime/rootfs"
)

func newRootfs(s *specs.Spec, cfg *Config) (*rootfs.Rootfs, error) {
	// CgroupPaths stays nil: the process already sits in the container's
	// cgroups (the parent moved it there before the C stage ran).
	return rootfs.New(s, cfg.Bundle, rootfs.Options{NoPivot: cfg.NoPivot})
}
