package container

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/runtime/cgroups"
	"github.com/berth-containers/berth/runtime/initproc"
	"github.com/berth-containers/berth/runtime/nsexec"
)

// Stdio is what the container process gets as fds 0, 1 and 2.
type Stdio struct {
	Stdin, Stdout, Stderr *os.File
}

func (s Stdio) orDefault() Stdio {
	if s.Stdin == nil {
		s.Stdin = os.Stdin
	}
	if s.Stdout == nil {
		s.Stdout = os.Stdout
	}
	if s.Stderr == nil {
		s.Stderr = os.Stderr
	}
	return s
}

type spawnReq struct {
	boot        nsexec.Bootstrap
	cfg         initproc.Config
	preserveFDs int
	fifo        *os.File // O_PATH fd of the exec fifo (create)
	console     *os.File // connected console socket
	stdio       Stdio
	cgroup      cgroups.Manager
	resources   *specs.LinuxResources // written after the cgroup is joined (create)
	uidMap      []specs.LinuxIDMapping
	gidMap      []specs.LinuxIDMapping
	rootless    bool
	// overlapCgroup lets init start before its cgroups are written (create:
	// init waits for the parent before any container code runs).
	overlapCgroup bool
	// selfJoin: init joins its cgroups itself (see cgroups.SelfJoiner),
	// once they are made and their limits written.
	selfJoin cgroups.SelfJoiner
}

// spawned is a running init whose C stage is done and which has its config.
type spawned struct {
	pid   int // the final init, in the runtime's pid namespace
	first int // the process we started (== pid when no fork happened)
	sync  *os.File
	prep  chan error // cgroup creation and limits, written in the background
}

// kill stops a spawned init (failure paths).
func (p *spawned) kill() {
	if p == nil {
		return
	}
	// The caller removes the cgroups next: nothing may still be making them.
	_ = p.waitPrep()
	if p.pid > 0 {
		_ = unix.Kill(p.pid, unix.SIGKILL)
	}
	if p.first > 0 {
		_ = unix.Kill(p.first, unix.SIGKILL)
		reap(p.first)
	}
	if p.pid > 0 && p.pid != p.first {
		reap(p.pid)
	}
	if p.sync != nil {
		p.sync.Close()
	}
}

func spawn(req *spawnReq) (_ *spawned, retErr error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("sync socket: %w", err)
	}
	// The parent's end is non-blocking, so its reads wait in Go's network
	// poller: while init works, no thread of ours sits in a system call and
	// the Go runtime's monitor thread sleeps instead of polling every 20 µs.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, fmt.Errorf("sync socket: %w", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "sync-parent")
	child := os.NewFile(uintptr(fds[1]), "sync-child")
	defer child.Close()
	exe, err := protectedExe()
	if err != nil {
		parent.Close()
		return nil, err
	}
	defer exe.Close()

	// Preserved fds keep their numbers; ours follow them.
	var extra []*os.File
	for i := 0; i < req.preserveFDs; i++ {
		extra = append(extra, os.NewFile(uintptr(3+i), "preserved"))
	}
	add := func(f *os.File) int {
		if f == nil {
			return -1
		}
		extra = append(extra, f)
		return 3 + len(extra) - 1
	}
	syncFD := add(child)
	exeFD := add(exe)
	req.cfg.FifoFD = add(req.fifo)
	req.cfg.ConsoleFD = add(req.console)
	req.cfg.PreserveFDs = req.preserveFDs

	var sys *syscall.SysProcAttr
	if req.selfJoin != nil {
		req.boot.SelfJoin = true
		if dir := req.selfJoin.UnifiedDir(); dir != "" {
			// The cgroup2 directory of a hybrid host holds no limits: made
			// now, init is forked into it (CLONE_INTO_CGROUP).
			if err := os.MkdirAll(dir, 0o755); err != nil {
				parent.Close()
				return nil, fmt.Errorf("cgroups: create %s: %w", dir, err)
			}
			cgfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				parent.Close()
				return nil, fmt.Errorf("cgroups: open %s: %w", dir, err)
			}
			defer unix.Close(cgfd)
			sys = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgfd}
		}
	}
	stdio := req.stdio.orDefault()
	// syscall.ForkExec rather than os/exec: no pidfd probe, no helper
	// goroutines; the runtime waits for its children itself.
	files := []uintptr{stdio.Stdin.Fd(), stdio.Stdout.Fd(), stdio.Stderr.Fd()}
	for _, f := range extra {
		files = append(files, f.Fd())
	}
	p := &spawned{sync: parent}
	if req.cgroup != nil && (req.resources != nil || req.selfJoin != nil) {
		// A new container's cgroups are made and their limits written while
		// the init starts (from before the fork: the fork and exec take the
		// calling thread a while); the init joins them only once that is
		// done, so it never runs under half-written rules (a deny-all device
		// rule before its allow list, say).
		p.prep = make(chan error, 1)
		go func() {
			err := req.cgroup.Apply(0)
			if err == nil {
				if req.resources != nil {
					err = req.cgroup.Set(req.resources)
				}
				// Rootless: cgroups the user may not create are skipped,
				// and so are their limits.
				if req.rootless && (errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission)) {
					err = nil
				}
			}
			p.prep <- err
		}()
	}
	first, err := syscall.ForkExec("/proc/self/fd/"+strconv.Itoa(exeFD), []string{"berth-runtime", "init"}, &syscall.ProcAttr{
		Env:   []string{nsexec.EnvInitPipe + "=" + strconv.Itoa(syncFD), "GOMAXPROCS=1", "GOGC=off"},
		Files: files,
		Sys:   sys,
	})
	if err != nil {
		// The caller removes the cgroups next: nothing may still be making them.
		_ = p.waitPrep()
		parent.Close()
		return nil, fmt.Errorf("start init: %w", err)
	}
	p.first = first
	defer func() {
		if retErr != nil {
			p.kill()
		}
	}()
	child.Close()

	if err := nsexec.WriteFrame(parent, req.boot.Encode()); err != nil {
		return p, fmt.Errorf("send bootstrap: %w", err)
	}
	for p.pid == 0 {
		msg, err := nsexec.ReadFrame(parent)
		if err != nil || len(msg) == 0 {
			return p, fmt.Errorf("init exited during namespace setup: %w", waitErr(err))
		}
		switch msg[0] {
		case nsexec.ReplyError:
			return p, errors.New(string(msg[1:]))
		case nsexec.ReplyUserMap:
			if err := writeIDMaps(first, req.uidMap, req.gidMap, req.rootless); err != nil {
				return p, err
			}
			if err := nsexec.WriteFrame(parent, []byte{'u'}); err != nil {
				return p, err
			}
		case nsexec.ReplyPid:
			if len(msg) != 5 {
				return p, fmt.Errorf("init: malformed pid reply")
			}
			p.pid = int(int32(binary.NativeEndian.Uint32(msg[1:])))
		default:
			return p, fmt.Errorf("init: unexpected reply %q", msg[0])
		}
	}
	// The final process is placed in the container's cgroups. With a new
	// cgroup namespace the C stage waits for that before creating it; without
	// one, init starts (Go runtime, mounts) while the cgroups are written, and
	// the parent finishes before it answers "mounted", so no container code
	// runs outside them.
	cgroupNS := req.boot.CloneFlags&unix.CLONE_NEWCGROUP != 0
	if req.selfJoin != nil {
		// Init waits in the C stage (single-threaded) until its cgroups are
		// ready, then joins them itself.
		if err := p.waitPrep(); err != nil {
			return p, err
		}
		frame, err := nsexec.CgroupFrame(req.selfJoin.TaskFiles())
		if err != nil {
			return p, err
		}
		if err := nsexec.WriteFrame(parent, frame); err != nil {
			return p, err
		}
	} else if cgroupNS || !req.overlapCgroup {
		if err := p.applyCgroup(req); err != nil {
			return p, err
		}
		if cgroupNS {
			if err := nsexec.WriteFrame(parent, []byte{'c'}); err != nil {
				return p, err
			}
		}
	}
	req.cfg.HostPid = p.pid
	b, err := initproc.EncodeConfig(&req.cfg)
	if err != nil {
		return p, err
	}
	if err := nsexec.WriteFrame(parent, b); err != nil {
		return p, fmt.Errorf("send init config: %w", err)
	}
	if !cgroupNS && req.overlapCgroup && req.selfJoin == nil {
		if err := p.applyCgroup(req); err != nil {
			return p, err
		}
	}
	if p.pid != first {
		// The intermediate process exits as soon as it has reported the pid.
		if ws := reap(first); !ws.Exited() || ws.ExitStatus() != 0 {
			return p, fmt.Errorf("init: intermediate process failed (status %v)", ws)
		}
		p.first = 0
	}
	return p, nil
}

func (p *spawned) applyCgroup(req *spawnReq) error {
	if req.cgroup == nil {
		return nil
	}
	if err := p.waitPrep(); err != nil {
		return err
	}
	return req.cgroup.Apply(p.pid)
}

// waitPrep waits for the cgroup preparation, if one is running.
func (p *spawned) waitPrep() error {
	if p.prep == nil {
		return nil
	}
	err := <-p.prep
	p.prep = nil
	return err
}

// reap waits for a child of ours.
func reap(pid int) unix.WaitStatus {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			return ws
		}
	}
}

func waitErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errors.New("no reply")
	}
	return err
}

func writeIDMaps(pid int, uids, gids []specs.LinuxIDMapping, rootless bool) error {
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	format := func(m []specs.LinuxIDMapping) []byte {
		var b strings.Builder
		for _, e := range m {
			fmt.Fprintf(&b, "%d %d %d\n", e.ContainerID, e.HostID, e.Size)
		}
		return []byte(b.String())
	}
	if rootless {
		if err := os.WriteFile(dir+"setgroups", []byte("deny"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("write setgroups: %w", err)
		}
	}
	if len(uids) > 0 {
		if err := os.WriteFile(dir+"uid_map", format(uids), 0); err != nil {
			return fmt.Errorf("linux.uidMappings: write uid_map: %w", err)
		}
	}
	if len(gids) > 0 {
		if err := os.WriteFile(dir+"gid_map", format(gids), 0); err != nil {
			return fmt.Errorf("linux.gidMappings: write gid_map: %w", err)
		}
	}
	return nil
}

// bootstrapFor builds the C stage's message for a new container.
func bootstrapFor(s *specs.Spec) (nsexec.Bootstrap, error) {
	var b nsexec.Bootstrap
	if s.Linux == nil {
		return b, fmt.Errorf("linux: missing")
	}
	for i, ns := range s.Linux.Namespaces {
		flag, ok := nsexec.NSFlag(string(ns.Type))
		if !ok {
			return b, fmt.Errorf("linux.namespaces[%d].type %q: unknown", i, ns.Type)
		}
		if ns.Path != "" {
			b.Join = append(b.Join, nsexec.NSPath{Flag: flag, Path: ns.Path})
		} else {
			b.CloneFlags |= flag
		}
	}
	if len(s.Linux.TimeOffsets) > 0 {
		var sb strings.Builder
		for clock, off := range s.Linux.TimeOffsets {
			fmt.Fprintf(&sb, "%s %d %d\n", clock, off.Secs, off.Nanosecs)
		}
		b.TimeOffsets = sb.String()
	}
	return b, nil
}

// readInit waits for the next message from init.
func readInit(f *os.File) (initproc.Message, error) {
	b, err := nsexec.ReadFrame(f)
	if err == nil && len(b) > 0 && b[0] == nsexec.ReplyError {
		return initproc.Message{}, errors.New(string(b[1:]))
	}
	var m initproc.Message
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return m, io.EOF
		}
		return m, err
	}
	if m.Type == initproc.MsgError {
		return m, errors.New(m.Error)
	}
	return m, nil
}
