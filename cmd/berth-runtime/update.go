package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
)

func cmdUpdate(g *globals, args []string) (int, error) {
	fs := newFlags("update")
	resources := fs.String("resources", "", "JSON file with linux.resources (\"-\" for stdin)")
	fs.StringVar(resources, "r", "", "JSON file with linux.resources")
	vals := map[string]*string{}
	for _, name := range []string{"memory", "memory-reservation", "memory-swap", "kernel-memory", "kernel-memory-tcp",
		"cpu-shares", "cpu-quota", "cpu-period", "cpu-rt-period", "cpu-rt-runtime", "cpuset-cpus", "cpuset-mems",
		"pids-limit", "blkio-weight", "l3-cache-schema", "mem-bw-schema", "cpu-idle"} {
		vals[name] = fs.String(name, "", name)
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 1, err
	}
	if err := needArgs("update", pos, 1, 1, "[options] <container-id>"); err != nil {
		return 1, err
	}
	if err := g.checkCgroupDriver(); err != nil {
		return 1, err
	}
	set := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		if v, ok := vals[f.Name]; ok {
			set[f.Name] = *v
		}
	})
	r, err := buildResources(*resources, set)
	if err != nil {
		return 1, err
	}
	return 0, g.runtime().Update(pos[0], r)
}

// buildResources reads --resources and applies the individual flags over it.
func buildResources(file string, set map[string]string) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	if file != "" {
		var data []byte
		var err error
		if file == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(file)
		}
		if err != nil {
			return nil, fmt.Errorf("--resources %s: %w", file, err)
		}
		if r, err = parseResources(data); err != nil {
			return nil, fmt.Errorf("--resources %s: %w", file, err)
		}
	}
	for name, v := range set {
		bad := func(err error) error {
			return fmt.Errorf("--%s %q: %v: %w", name, v, err, errdefs.ErrInvalidArgument)
		}
		mem := func() *specs.LinuxMemory {
			if r.Memory == nil {
				r.Memory = &specs.LinuxMemory{}
			}
			return r.Memory
		}
		cpu := func() *specs.LinuxCPU {
			if r.CPU == nil {
				r.CPU = &specs.LinuxCPU{}
			}
			return r.CPU
		}
		switch name {
		case "memory", "memory-reservation", "memory-swap", "kernel-memory", "kernel-memory-tcp":
			n, err := parseSize(v)
			if err != nil {
				return nil, bad(err)
			}
			switch name {
			case "memory":
				mem().Limit = &n
			case "memory-reservation":
				mem().Reservation = &n
			case "memory-swap":
				mem().Swap = &n
			case "kernel-memory":
				mem().Kernel = &n //nolint:staticcheck // accepted like runc
			case "kernel-memory-tcp":
				mem().KernelTCP = &n //nolint:staticcheck
			}
		case "cpu-shares", "cpu-period", "cpu-rt-period":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, bad(err)
			}
			switch name {
			case "cpu-shares":
				cpu().Shares = &n
			case "cpu-period":
				cpu().Period = &n
			case "cpu-rt-period":
				cpu().RealtimePeriod = &n
			}
		case "cpu-quota", "cpu-rt-runtime", "cpu-idle":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, bad(err)
			}
			switch name {
			case "cpu-quota":
				cpu().Quota = &n
			case "cpu-rt-runtime":
				cpu().RealtimeRuntime = &n
			case "cpu-idle":
				cpu().Idle = &n
			}
		case "cpuset-cpus":
			cpu().Cpus = v
		case "cpuset-mems":
			cpu().Mems = v
		case "pids-limit":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, bad(err)
			}
			r.Pids = &specs.LinuxPids{Limit: &n}
		case "blkio-weight":
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return nil, bad(err)
			}
			w := uint16(n)
			if r.BlockIO == nil {
				r.BlockIO = &specs.LinuxBlockIO{}
			}
			r.BlockIO.Weight = &w
		case "l3-cache-schema", "mem-bw-schema":
			return nil, fmt.Errorf("--%s: Intel RDT is not supported on this host: %w", name, errdefs.ErrNotImplemented)
		}
	}
	return r, nil
}

func parseResources(data []byte) (*specs.LinuxResources, error) {
	var r specs.LinuxResources
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("decode linux.resources: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return &r, nil
}

// parseSize parses "-1", "1024", "100k", "512m", "2g" (binary units).
func parseSize(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	t = strings.TrimSuffix(t, "i")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a size")
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("too large")
	}
	return n * mult, nil
}
