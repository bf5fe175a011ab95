package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/term"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/client"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/network"
	"github.com/berth-containers/berth/oci"
)

func init() {
	register(&command{name: "run", usage: "run [OPTIONS] IMAGE [COMMAND] [ARG...]", short: "Create and run a new container from an image", run: runRun})
	register(&command{name: "create", usage: "create [OPTIONS] IMAGE [COMMAND] [ARG...]", short: "Create a new container", run: runCreate})
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// createFlags are the flags run and create share.
type createFlags struct {
	detach, interactive, tty, rm, readOnly, privileged, init bool
	detachKeys                                               string
	name, network, restart, user, workdir, entrypoint, memory, memorySwap, cpus, pidsLimit,
	runtime, hostname, stopSignal, stopTimeout, shmSize, cpusetCpus, cpuShares string
	env, envFile, volumes, mounts, tmpfs, publish, capAdd, capDrop, ulimits, sysctls, securityOpt, labels, dns, addHost, groupAdd listFlag
	entrypointSet                                                                                                                 bool
}

func (f *createFlags) register(fs *flag.FlagSet, run bool) {
	if run {
		fs.BoolVar(&f.detach, "d", false, "run in the background and print the container ID")
		fs.BoolVar(&f.detach, "detach", false, "run in the background and print the container ID")
		fs.BoolVar(&f.rm, "rm", false, "remove the container when it exits")
		fs.StringVar(&f.detachKeys, "detach-keys", defaultDetachKeys, "keys that detach from the container's terminal")
	} else {
		fs.BoolVar(&f.rm, "rm", false, "remove the container when it exits")
	}
	fs.BoolVar(&f.interactive, "i", false, "keep stdin open")
	fs.BoolVar(&f.interactive, "interactive", false, "keep stdin open")
	fs.BoolVar(&f.tty, "t", false, "allocate a terminal")
	fs.BoolVar(&f.tty, "tty", false, "allocate a terminal")
	fs.BoolVar(&f.readOnly, "read-only", false, "mount the root filesystem read-only")
	fs.BoolVar(&f.privileged, "privileged", false, "give extended privileges")
	fs.BoolVar(&f.init, "init", false, "run an init as PID 1 that forwards signals and reaps")
	fs.StringVar(&f.name, "name", "", "container name")
	fs.StringVar(&f.network, "network", "", "network: bridge, none, host or a network name")
	fs.StringVar(&f.network, "net", "", "alias of --network")
	fs.StringVar(&f.restart, "restart", "", "restart policy: no, on-failure[:N], always, unless-stopped")
	fs.StringVar(&f.user, "u", "", "user[:group]")
	fs.StringVar(&f.user, "user", "", "user[:group]")
	fs.StringVar(&f.workdir, "w", "", "working directory")
	fs.StringVar(&f.workdir, "workdir", "", "working directory")
	fs.Func("entrypoint", "override the image's entrypoint", func(v string) error { f.entrypoint, f.entrypointSet = v, true; return nil })
	fs.StringVar(&f.memory, "m", "", "memory limit (e.g. 64m)")
	fs.StringVar(&f.memory, "memory", "", "memory limit (e.g. 64m)")
	fs.StringVar(&f.memorySwap, "memory-swap", "", "memory plus swap limit; -1 unlimited")
	fs.StringVar(&f.cpus, "cpus", "", "number of CPUs (e.g. 0.5)")
	fs.StringVar(&f.cpuShares, "cpu-shares", "", "CPU shares (relative weight)")
	fs.StringVar(&f.cpusetCpus, "cpuset-cpus", "", "CPUs allowed (0-3, 0,1)")
	fs.StringVar(&f.pidsLimit, "pids-limit", "", "process limit (-1 unlimited)")
	fs.StringVar(&f.runtime, "runtime", "", "runtime handler: berth-runtime, runc, crun")
	fs.StringVar(&f.hostname, "h", "", "container hostname")
	fs.StringVar(&f.hostname, "hostname", "", "container hostname")
	fs.StringVar(&f.stopSignal, "stop-signal", "", "signal that stops the container")
	fs.StringVar(&f.stopTimeout, "stop-timeout", "", "seconds before a stop kills")
	fs.StringVar(&f.shmSize, "shm-size", "", "size of /dev/shm")
	for _, l := range []struct {
		v     *listFlag
		names []string
		usage string
	}{
		{&f.env, []string{"e", "env"}, "set an environment variable (KEY=VALUE or KEY)"},
		{&f.envFile, []string{"env-file"}, "read environment variables from a file"},
		{&f.volumes, []string{"v", "volume"}, "bind mount or volume [SRC:]DST[:OPTS]"},
		{&f.mounts, []string{"mount"}, "mount type=bind|volume|tmpfs,src=...,dst=..."},
		{&f.tmpfs, []string{"tmpfs"}, "tmpfs mount DST[:OPTS]"},
		{&f.publish, []string{"p", "publish"}, "publish a port [ip:]host:container[/proto]"},
		{&f.capAdd, []string{"cap-add"}, "add a capability"},
		{&f.capDrop, []string{"cap-drop"}, "drop a capability"},
		{&f.ulimits, []string{"ulimit"}, "ulimit NAME=SOFT[:HARD]"},
		{&f.sysctls, []string{"sysctl"}, "namespaced kernel parameter KEY=VALUE"},
		{&f.securityOpt, []string{"security-opt"}, "security option (seccomp=..., no-new-privileges)"},
		{&f.labels, []string{"l", "label"}, "label KEY=VALUE"},
		{&f.dns, []string{"dns"}, "DNS server"},
		{&f.addHost, []string{"add-host"}, "add a host:ip line to /etc/hosts"},
		{&f.groupAdd, []string{"group-add"}, "additional group"},
	} {
		for _, n := range l.names {
			fs.Var(l.v, n, l.usage)
		}
	}
}

// options validates the flags (as the daemon will again) into create options.
func (f *createFlags) options(image string, cmd []string) (oci.CreateOptions, error) {
	o := oci.CreateOptions{Name: f.name, Hostname: f.hostname, User: f.user, WorkingDir: f.workdir, Tty: f.tty,
		OpenStdin: f.interactive, ReadOnly: f.readOnly, Privileged: f.privileged, Init: f.init, NetworkMode: f.network,
		Runtime: f.runtime, AutoRemove: f.rm, StopSignal: f.stopSignal, Cmd: cmd,
		Volumes: f.volumes, Mounts: f.mounts, Tmpfs: f.tmpfs, Ports: f.publish, SecurityOpt: f.securityOpt,
		DNS: f.dns, ExtraHosts: f.addHost, GroupAdd: f.groupAdd}
	var err error
	if f.entrypointSet {
		o.EntrypointSet = true
		if f.entrypoint != "" {
			o.Entrypoint = []string{f.entrypoint}
		}
	}
	for _, file := range f.envFile {
		env, err := oci.ParseEnvFile(file, os.LookupEnv)
		if err != nil {
			return o, err
		}
		o.Env = append(o.Env, env...)
	}
	for _, e := range f.env {
		if strings.Contains(e, "=") {
			o.Env = append(o.Env, e)
		} else if v, ok := os.LookupEnv(e); ok {
			o.Env = append(o.Env, e+"="+v)
		}
	}
	if f.memory != "" {
		if o.Memory, err = oci.ParseMemory(f.memory); err != nil {
			return o, err
		}
	}
	if f.memorySwap != "" {
		if o.MemorySwap, err = oci.ParseMemorySwap(f.memorySwap); err != nil {
			return o, err
		}
	}
	if f.cpus != "" {
		if o.NanoCPUs, err = oci.ParseCPUs(f.cpus); err != nil {
			return o, err
		}
	}
	if f.cpuShares != "" {
		if o.CPUShares, err = oci.ParseCPUShares(f.cpuShares); err != nil {
			return o, err
		}
	}
	if f.cpusetCpus != "" {
		if o.CpusetCpus, err = oci.ParseCpuset(f.cpusetCpus); err != nil {
			return o, err
		}
	}
	if f.pidsLimit != "" {
		if o.PidsLimit, err = oci.ParsePidsLimit(f.pidsLimit); err != nil {
			return o, err
		}
	}
	if f.shmSize != "" {
		if o.ShmSize, err = oci.ParseBytes(f.shmSize); err != nil {
			return o, fmt.Errorf("invalid argument %q for \"--shm-size\" flag: %v", f.shmSize, err)
		}
	}
	if f.stopTimeout != "" {
		n, err := strconv.Atoi(f.stopTimeout)
		if err != nil {
			return o, fmt.Errorf("invalid argument %q for \"--stop-timeout\" flag: not a number of seconds", f.stopTimeout)
		}
		o.StopTimeout = &n
	}
	if f.restart != "" {
		if o.RestartPolicy, err = oci.ParseRestartPolicy(f.restart); err != nil {
			return o, err
		}
		if f.rm && o.RestartPolicy.Name != oci.RestartNo {
			return o, errors.New("conflicting options: cannot specify both --restart and --rm")
		}
	}
	for _, u := range f.ulimits {
		ul, err := oci.ParseUlimit(u)
		if err != nil {
			return o, err
		}
		o.Ulimits = append(o.Ulimits, ul)
	}
	for _, s := range f.sysctls {
		k, v, err := oci.ParseSysctl(s)
		if err != nil {
			return o, err
		}
		if o.Sysctls == nil {
			o.Sysctls = map[string]string{}
		}
		o.Sysctls[k] = v
	}
	if o.CapAdd, err = oci.ParseCapabilities("--cap-add", f.capAdd); err != nil {
		return o, err
	}
	if o.CapDrop, err = oci.ParseCapabilities("--cap-drop", f.capDrop); err != nil {
		return o, err
	}
	if _, err := oci.ParseSecurityOpts(f.securityOpt); err != nil {
		return o, err
	}
	for _, v := range f.volumes {
		if _, err := oci.ParseVolumeSpec(v); err != nil {
			return o, err
		}
	}
	for _, m := range f.mounts {
		if _, err := oci.ParseMountSpec(m); err != nil {
			return o, err
		}
	}
	if _, err := network.ParsePortSpecs(f.publish); err != nil {
		return o, err
	}
	if _, err := network.ParseNetworkMode(f.network); err != nil {
		return o, err
	}
	for _, l := range f.labels {
		k, v, _ := strings.Cut(l, "=")
		if o.Labels == nil {
			o.Labels = map[string]string{}
		}
		o.Labels[k] = v
	}
	return o, nil
}

// expandShorts turns docker's combined boolean short flags ("-it", "-dit")
// into separate ones, up to the first positional argument.
func expandShorts(args []string) []string {
	var out []string
	for i, a := range args {
		if a == "--" || !strings.HasPrefix(a, "-") {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[1] != '-' && strings.Trim(a[1:], "dit") == "" {
			for _, c := range a[1:] {
				out = append(out, "-"+string(c))
			}
			continue
		}
		out = append(out, a)
		// A flag whose value is the next argument.
		if !strings.Contains(a, "=") && !isBoolFlag(strings.TrimLeft(a, "-")) && i+1 < len(args) {
			out = append(out, args[i+1])
			return append(out, expandShorts(args[i+2:])...)
		}
	}
	return out
}

func isBoolFlag(n string) bool {
	switch n {
	case "d", "detach", "rm", "i", "interactive", "t", "tty", "read-only", "privileged", "init", "a", "attach", "help", "h":
		return n != "h"
	}
	return false
}

func parseCreate(name string, args []string, run bool) (*createFlags, oci.CreateOptions, string, error) {
	fs := newFlags(name)
	f := &createFlags{}
	f.register(fs, run)
	if err := fs.Parse(expandShorts(args)); err != nil {
		return nil, oci.CreateOptions{}, "", err
	}
	pos := fs.Args()
	if len(pos) == 0 {
		return nil, oci.CreateOptions{}, "", usageError{"requires at least 1 argument"}
	}
	o, err := f.options(pos[0], pos[1:])
	return f, o, pos[0], err
}

// createContainer creates the container, pulling the image when the daemon
// does not have it (as docker does).
func createContainer(ctx context.Context, c *client.Client, image string, o oci.CreateOptions) (string, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return "", err
	}
	req := &berthv1.CreateContainerRequest{Image: image, Options: b}
	resp, err := c.Containers().Create(c.Context(ctx), req)
	if err != nil && errdefs.IsNotFound(err) && strings.Contains(err.Error(), "No such image") {
		fmt.Fprintf(os.Stderr, "Unable to find image '%s' locally\n", image)
		if _, perr := c.Pull(ctx, &berthv1.PullRequest{Ref: image}, nil); perr != nil {
			return "", perr
		}
		resp, err = c.Containers().Create(c.Context(ctx), req)
	}
	if err != nil {
		return "", err
	}
	ctr, err := client.DecodeContainer(resp.Container)
	if err != nil {
		return "", err
	}
	return ctr.ID, nil
}

func runCreate(g *globals, args []string) error {
	_, o, image, err := parseCreate("create", args, false)
	if err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	id, err := createContainer(context.Background(), c, image, o)
	if err != nil {
		return err
	}
	fmt.Println(id)
	return nil
}

func runRun(g *globals, args []string) error {
	f, o, image, err := parseCreate("run", args, true)
	if err != nil {
		return err
	}
	keys, err := parseDetachKeys(f.detachKeys)
	if err != nil {
		return usageError{err.Error()}
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	id, err := createContainer(ctx, c, image, o)
	if err != nil {
		return err
	}
	if f.detach {
		if _, err := c.StartContainer(ctx, id, false, false, client.IO{}); err != nil {
			return err
		}
		fmt.Println(id)
		return nil
	}
	code, err := attachedStart(ctx, c, id, f.interactive, f.tty, keys)
	if err != nil {
		return err
	}
	c.Close()
	os.Exit(code)
	return nil
}

// terminalIO wires the local stdio for an attached process; with tty and a
// terminal on stdin it goes raw and forwards window sizes. restore undoes it.
func terminalIO(stdin, tty bool) (client.IO, func()) {
	o := client.IO{Stdout: os.Stdout, Stderr: os.Stderr}
	if stdin {
		o.Stdin = os.Stdin
	}
	restore := func() {}
	if !tty || !term.IsTerminal(int(os.Stdin.Fd())) {
		return o, restore
	}
	var undo []func()
	if old, err := term.MakeRaw(int(os.Stdin.Fd())); err == nil {
		undo = append(undo, func() { term.Restore(int(os.Stdin.Fd()), old) })
	}
	rs := make(chan [2]uint16, 1)
	sendSize := func() {
		if w, h, err := term.GetSize(int(os.Stdin.Fd())); err == nil {
			select {
			case rs <- [2]uint16{uint16(w), uint16(h)}:
			default:
			}
		}
	}
	if w, h, err := term.GetSize(int(os.Stdin.Fd())); err == nil {
		o.Size = [2]uint16{uint16(w), uint16(h)}
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	undo = append(undo, func() { signal.Stop(winch) })
	go func() {
		for range winch {
			sendSize()
		}
	}()
	o.Resize = rs
	return o, func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
}

// attachedStart starts (or attaches to) a container with the terminal's
// stdio and returns its exit code.
func attachedStart(ctx context.Context, c *client.Client, id string, stdin, tty bool, detachKeys []byte) (int, error) {
	o, restore := terminalIO(stdin, tty)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if stdin && tty && o.Stdin != nil {
		o.Stdin = &detachReader{r: o.Stdin, keys: detachKeys, detach: cancel}
	}
	ex, err := c.StartContainer(ctx, id, true, stdin, o)
	restore()
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(os.Stderr, "\r\nread escape sequence: detached from %s, it keeps running\n", shortID(id))
			return 0, nil
		}
		return 0, err
	}
	if ex.Reason != "" {
		fmt.Fprintf(os.Stderr, "berth: container %s: %s\n", shortID(id), ex.Reason)
	}
	return ex.Code, nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
