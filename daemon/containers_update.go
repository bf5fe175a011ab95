package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/container"
	"github.com/berth-containers/berth/internal/atomicfile"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/namespaces"
	"github.com/berth-containers/berth/oci"
)

// Update changes a container's limits (and restart policy): a running
// task gets them at once, the record and bundle keep them for later starts.
func (s *ContainersService) Update(ctx context.Context, req *berthv1.UpdateContainerRequest) (*berthv1.ContainerResponse, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.store.Get(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	o := c.Options
	delta := &specs.LinuxResources{}
	changed := false
	if req.Memory != "" {
		if o.Memory, err = oci.ParseMemory(req.Memory); err != nil {
			return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
		}
		swap := o.MemorySwap
		if swap == 0 {
			swap = 2 * o.Memory
		}
		delta.Memory = &specs.LinuxMemory{Limit: &o.Memory, Swap: &swap}
		changed = true
	}
	if req.MemorySwap != "" {
		if o.MemorySwap, err = oci.ParseMemorySwap(req.MemorySwap); err != nil {
			return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
		}
		if delta.Memory == nil {
			delta.Memory = &specs.LinuxMemory{}
		}
		delta.Memory.Swap = &o.MemorySwap
		changed = true
	}
	if req.Cpus != "" || req.CpuShares != "" || req.CpusetCpus != "" {
		delta.CPU = &specs.LinuxCPU{}
		if req.Cpus != "" {
			if o.NanoCPUs, err = oci.ParseCPUs(req.Cpus); err != nil {
				return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
			}
			period := uint64(100000)
			quota := o.NanoCPUs * int64(period) / 1e9
			delta.CPU.Period, delta.CPU.Quota = &period, &quota
		}
		if req.CpuShares != "" {
			if o.CPUShares, err = oci.ParseCPUShares(req.CpuShares); err != nil {
				return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
			}
			sh := uint64(o.CPUShares)
			delta.CPU.Shares = &sh
		}
		if req.CpusetCpus != "" {
			if o.CpusetCpus, err = oci.ParseCpuset(req.CpusetCpus); err != nil {
				return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
			}
			delta.CPU.Cpus = o.CpusetCpus
		}
		changed = true
	}
	if req.PidsLimit != "" {
		if o.PidsLimit, err = oci.ParsePidsLimit(req.PidsLimit); err != nil {
			return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
		}
		lim := o.PidsLimit
		if lim <= 0 {
			lim = -1
		}
		delta.Pids = &specs.LinuxPids{Limit: &lim}
		changed = true
	}
	policy := c.RestartPolicy
	if req.Restart != "" {
		if policy, err = oci.ParseRestartPolicy(req.Restart); err != nil {
			return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
		}
		if o.AutoRemove && policy.Name != oci.RestartNo {
			return nil, fmt.Errorf("Restart policy cannot be updated because AutoRemove is enabled for the container: %w", errdefs.ErrInvalidArgument)
		}
	}
	unlock := s.lock(c.ID)
	defer unlock()
	if t := s.getTask(c.ID); t != nil && changed {
		if err := t.shim.Update(ctx, delta); err != nil {
			return nil, fmt.Errorf("update %s: %w", c.ID, err)
		}
	}
	c, err = s.store.Update(ctx, c.ID, func(rec *container.Container) error {
		rec.Options = o
		rec.Options.RestartPolicy = policy
		rec.RestartPolicy = policy
		if rec.Spec != nil && rec.Spec.Linux != nil && changed {
			if rec.Spec.Linux.Resources == nil {
				rec.Spec.Linux.Resources = &specs.LinuxResources{}
			}
			r := rec.Spec.Linux.Resources
			if delta.Memory != nil {
				r.Memory = mergeMemory(r.Memory, delta.Memory)
			}
			if delta.CPU != nil {
				r.CPU = mergeCPU(r.CPU, delta.CPU)
			}
			if delta.Pids != nil {
				r.Pids = delta.Pids
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if changed && c.Spec != nil {
		b, err := json.MarshalIndent(c.Spec, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := atomicfile.Write(filepath.Join(s.bundleDir(ns, c.ID), "config.json"), b, 0o600); err != nil {
			return nil, fmt.Errorf("update %s: write bundle: %w", c.ID, err)
		}
	}
	s.ev.Publish(ns, "container", "update", c.ID, map[string]string{"name": c.Name})
	return marshalContainer(c)
}

func mergeMemory(old, d *specs.LinuxMemory) *specs.LinuxMemory {
	if old == nil {
		return d
	}
	n := *old
	if d.Limit != nil {
		n.Limit = d.Limit
	}
	if d.Swap != nil {
		n.Swap = d.Swap
	}
	return &n
}

func mergeCPU(old, d *specs.LinuxCPU) *specs.LinuxCPU {
	if old == nil {
		return d
	}
	n := *old
	if d.Period != nil {
		n.Period, n.Quota = d.Period, d.Quota
	}
	if d.Shares != nil {
		n.Shares = d.Shares
	}
	if d.Cpus != "" {
		n.Cpus = d.Cpus
	}
	return &n
}
