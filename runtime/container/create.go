package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/atomicfile"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/runtime/cgroups"
	"github.com/berth-containers/berth/runtime/console"
	"github.com/berth-containers/berth/runtime/hooks"
	"github.com/berth-containers/berth/runtime/initproc"
	"github.com/berth-containers/berth/runtime/linuxproc"
	"github.com/berth-containers/berth/runtime/nsexec"
	"github.com/berth-containers/berth/runtime/spec"
	"github.com/berth-containers/berth/runtime/state"
)

// CreateOpts are create's (and run's) options.
type CreateOpts struct {
	ID            string
	Bundle        string
	PidFile       string
	ConsoleSocket string
	NoPivot       bool
	NoNewKeyring  bool
	PreserveFDs   int
	Stdio         Stdio
	// Spec, when set, is used instead of loading bundle/config.json.
	Spec *specs.Spec
	// attach: the caller will copy the terminal itself (run in the foreground
	// without --console-socket); create returns the pty master in Created.
	attach bool
	// keepLocked: run starts the container right away under the same lock.
	keepLocked bool
}

// Created describes a container create made.
type Created struct {
	Pid    int
	Master *os.File // pty master when the caller attaches (run)
	proc   *spawned
	// Set only for run: the still-locked state, so start needs no reload.
	h  *state.Handle
	st *state.State
}

// Create creates a container: after it returns, the init process waits on the
// exec fifo and no user code has run. On failure nothing is left behind.
func (r *Runtime) Create(o CreateOpts) (*Created, error) {
	if err := spec.ValidateID(o.ID); err != nil {
		return nil, err
	}
	t0 := time.Now()
	log := r.log()
	phase := func(name string) { log.Debug("create", "id", o.ID, "phase", name, "elapsed", time.Since(t0)) }
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, fmt.Errorf("--bundle %s: %w", o.Bundle, err)
	}
	s := o.Spec
	var raw []byte // config.json as it is, when the spec came from there
	if s == nil {
		if s, raw, err = loadSpec(bundle); err != nil {
			return nil, err
		}
	}
	// The runtime spec lets create run without a process (start then fails).
	proc0 := s.Process
	if proc0 == nil {
		proc0 = &specs.Process{}
	}
	if proc0.Terminal && o.ConsoleSocket == "" && !o.attach {
		return nil, fmt.Errorf("process.terminal is set but no --console-socket was given (it is needed when the runtime detaches): %w", errdefs.ErrInvalidArgument)
	}
	if !proc0.Terminal && o.ConsoleSocket != "" {
		return nil, fmt.Errorf("--console-socket given but process.terminal is false: %w", errdefs.ErrInvalidArgument)
	}
	if err := checkBindSources(s, bundle); err != nil {
		return nil, err
	}
	phase("spec loaded")
	boot, err := bootstrapFor(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}
	var cgPath string
	var res *specs.LinuxResources
	var uidMap, gidMap []specs.LinuxIDMapping
	if s.Linux != nil {
		cgPath, res, uidMap, gidMap = s.Linux.CgroupsPath, s.Linux.Resources, s.Linux.UIDMappings, s.Linux.GIDMappings
	}
	cg, err := cgroups.New(cgroups.Config{Root: r.CgroupRoot, Path: cgPath, ID: o.ID, Resources: res, Rootless: r.Rootless})
	if err != nil {
		return nil, err
	}
	if cg.Exists() {
		// Another container's cgroup, or one a crash left: joining it would mix
		// their processes, so refuse rather than share.
		if pids, _ := cg.Pids(); len(pids) > 0 {
			return nil, fmt.Errorf("linux.cgroupsPath %q: cgroup is in use by other processes: %w", cg.Save().Path, errdefs.ErrAlreadyExists)
		}
	}
	rootfsPath := s.Root.Path
	if !filepath.IsAbs(rootfsPath) {
		rootfsPath = filepath.Join(bundle, rootfsPath)
	}

	phase("cgroup checked")
	h, err := state.Create(r.root(), o.ID)
	if err != nil {
		return nil, err
	}
	var proc *spawned
	cgExisted := cg.Exists()
	ok := false
	defer func() {
		if ok {
			return
		}
		proc.kill()
		if !cgExisted {
			_ = cg.Destroy()
		}
		_ = h.Remove()
	}()

	fifoPath := h.Path(state.FifoFile)
	if err := unix.Mkfifo(fifoPath, 0o622); err != nil {
		return nil, fmt.Errorf("exec fifo: %w", err)
	}
	_ = unix.Chmod(fifoPath, 0o622)
	// init opens the fifo relative to the state directory (see initproc.FifoName).
	fifo, err := os.OpenFile(h.Dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("exec fifo: %w", err)
	}
	defer fifo.Close()

	var consoleSock, recvSock *os.File
	if proc0.Terminal {
		if o.ConsoleSocket != "" {
			if consoleSock, err = console.Connect(o.ConsoleSocket); err != nil {
				return nil, err
			}
		} else {
			if consoleSock, recvSock, err = socketPair(); err != nil {
				return nil, err
			}
			defer recvSock.Close()
		}
		defer consoleSock.Close()
	}

	var selfJoin cgroups.SelfJoiner
	if sj, ok := cg.(cgroups.SelfJoiner); ok && canSelfJoin(boot, r.Rootless) {
		selfJoin = sj
	} else {
		r.Prewarm()
	}
	req := &spawnReq{
		selfJoin:    selfJoin,
		boot:        boot,
		preserveFDs: o.PreserveFDs,
		fifo:        fifo,
		console:     consoleSock,
		stdio:       o.Stdio,
		cgroup:      cg,
		resources:   withDefaultDevices(res, s.Linux),
		uidMap:      uidMap,
		gidMap:      gidMap,
		rootless:    r.Rootless,
		// Create's init stops at "mounted" until the parent answers.
		overlapCgroup: true,
		cfg: initproc.Config{
			Kind: initproc.KindCreate, ID: o.ID, Bundle: bundle, Spec: s, SpecJSON: raw, Process: s.Process,
			NoPivot: o.NoPivot, NoNewKeyring: o.NoNewKeyring, Rootless: r.Rootless,
		},
	}
	phase("state dir ready")
	proc, err = spawn(req)
	if err != nil {
		return nil, fmt.Errorf("create container %q: %w", o.ID, err)
	}
	phase("init spawned")
	ps, err := state.Stat(proc.pid)
	if err != nil {
		return nil, fmt.Errorf("create container %q: init exited early: %w", o.ID, err)
	}
	savedCg, _ := json.Marshal(cg.Save())
	st := &state.State{
		ID: o.ID, Bundle: bundle, Rootfs: rootfsPath, Pid: proc.pid, StartTime: ps.StartTime,
		Created: time.Now().UTC(), Owner: owner(), Annotations: s.Annotations, Cgroup: savedCg,
		Rootless: r.Rootless,
	}
	st.SetSpec(s, raw)
	// Recorded before anything else runs, so `delete --force` can clean up
	// after a crash from here on.
	if err := h.Save(st); err != nil {
		return nil, err
	}
	if proc0.OOMScoreAdj != nil {
		if err := linuxproc.SetOOMScoreAdj(proc.pid, proc0.OOMScoreAdj); err != nil {
			return nil, err
		}
	}
	ociState := &specs.State{Version: specs.Version, ID: o.ID, Status: specs.StateCreating, Pid: proc.pid, Bundle: bundle, Annotations: s.Annotations}
	for done := false; !done; {
		m, err := readInit(proc.sync)
		if err != nil {
			if err == io.EOF {
				err = errors.New("init exited without reporting")
			}
			return nil, fmt.Errorf("create container %q: %w", o.ID, err)
		}
		switch m.Type {
		case initproc.MsgMounted:
			phase("rootfs mounted")
			// The runtime-tools suite and runc hand prestart hooks "created".
			pre := *ociState
			pre.Status = specs.StateCreated
			if err := hooks.RunAll(s.Hooks, hooks.Prestart, &pre); err != nil {
				return nil, err
			}
			if err := hooks.RunAll(s.Hooks, hooks.CreateRuntime, ociState); err != nil {
				return nil, err
			}
			if err := initproc.Send(proc.sync, initproc.Message{Type: initproc.MsgHooksDone, State: ociState}); err != nil {
				return nil, err
			}
		case initproc.MsgReady:
			phase("init ready")
			done = true
		default:
			return nil, fmt.Errorf("create container %q: unexpected message %q from init", o.ID, m.Type)
		}
	}
	c := &Created{Pid: proc.pid, proc: proc}
	if recvSock != nil {
		if c.Master, err = console.RecvFd(recvSock); err != nil {
			return nil, err
		}
	}
	st.CreateDone = true
	if err := h.Save(st); err != nil {
		return nil, err
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, proc.pid); err != nil {
			return nil, err
		}
	}
	proc.sync.Close()
	proc.sync = nil
	ok = true
	if o.keepLocked {
		c.h, c.st = h, st
	} else {
		h.Unlock()
	}
	return c, nil
}

// checkBindSources fails create, before anything exists, when a bind
// mount's source is missing (init would find it so only after the
// namespaces, cgroups and the first mounts were made). Sources are host paths
// (relative: to the bundle); in a mount namespace joined by path they are
// that namespace's, and init checks them there.
func checkBindSources(s *specs.Spec, bundle string) error {
	if s.Linux != nil {
		for _, ns := range s.Linux.Namespaces {
			if ns.Type == specs.MountNamespace && ns.Path != "" {
				return nil
			}
		}
	}
	for i, m := range s.Mounts {
		if !spec.IsBind(m) {
			continue
		}
		src := m.Source
		if !filepath.IsAbs(src) {
			src = filepath.Join(bundle, src)
		}
		if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("mounts[%d].source: %s does not exist: %w", i, m.Source, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// loadSpec loads and validates bundle/config.json. A configuration without a
// process is valid for create (the runtime spec requires process only at
// start): everything else in it is still validated. It also returns
// config.json's content.
func loadSpec(bundle string) (*specs.Spec, []byte, error) {
	s, raw, _, err := spec.LoadDocument(bundle)
	if err == nil || !strings.Contains(err.Error(), "process: missing") {
		return s, raw, err
	}
	data, rerr := os.ReadFile(filepath.Join(bundle, spec.ConfigName))
	if rerr != nil {
		return nil, nil, err
	}
	s, perr := spec.Parse(data)
	if perr != nil || s.Process != nil {
		return nil, nil, err
	}
	s.Process = &specs.Process{Args: []string{"/"}, Cwd: "/"}
	verr := spec.Validate(s, bundle)
	s.Process = nil
	if verr != nil {
		return nil, nil, fmt.Errorf("%s: %w", filepath.Join(bundle, spec.ConfigName), verr)
	}
	return s, data, nil
}

// canSelfJoin: the C stage can open and write the host's cgroup files itself
// only with the runtime's credentials and mount namespace (no user namespace,
// no joined mount namespace); rootless cgroups are best effort and stay with
// the parent.
func canSelfJoin(b nsexec.Bootstrap, rootless bool) bool {
	if rootless || b.CloneFlags&unix.CLONE_NEWUSER != 0 {
		return false
	}
	for _, j := range b.Join {
		if j.Flag == unix.CLONE_NEWUSER || j.Flag == unix.CLONE_NEWNS {
			return false
		}
	}
	return true
}

func hasNamespace(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	if s.Linux == nil {
		return false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

func socketPair() (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("console socket pair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "console"), os.NewFile(uintptr(fds[1]), "console-recv"), nil
}

// writePidFile writes pid atomically (containerd and podman read it at once).
func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("--pid-file %s: %w", path, err)
	}
	if err := atomicfile.Replace(abs, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("--pid-file: %w", err)
	}
	return nil
}

func owner() string {
	return strconv.Itoa(os.Geteuid())
}

// withDefaultDevices returns the resources create writes: the spec's device
// rules between a deny-all and the standard allowlist (which always wins, as in
// runc), plus an allow rule for every linux.devices entry.
func withDefaultDevices(res *specs.LinuxResources, l *specs.Linux) *specs.LinuxResources {
	out := specs.LinuxResources{}
	if res != nil {
		out = *res
	}
	def := cgroups.DefaultDeviceRules()
	rules := append([]specs.LinuxDeviceCgroup{def[0]}, out.Devices...)
	rules = append(rules, def[1:]...)
	if l != nil {
		for _, d := range l.Devices {
			typ := d.Type
			switch typ {
			case "u":
				typ = "c"
			case "c", "b":
			default:
				continue // fifos are not device-controlled
			}
			maj, min := d.Major, d.Minor
			rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &maj, Minor: &min, Access: "rwm"})
		}
	}
	out.Devices = rules
	return &out
}
