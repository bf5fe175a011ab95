package initproc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/runtime/caps"
	"github.com/berth-containers/berth/runtime/console"
	"github.com/berth-containers/berth/runtime/hooks"
	"github.com/berth-containers/berth/runtime/linuxproc"
	"github.com/berth-containers/berth/runtime/nsexec"
	"github.com/berth-containers/berth/runtime/seccomp"
)

// Main runs an init process and never returns. It is called by the runtime's
// hidden `init` subcommand, already inside the container's namespaces.
func Main() {
	fdStr := os.Getenv(nsexec.EnvInitPipe)
	fd, err := strconv.Atoi(fdStr)
	if err != nil || fd < 3 {
		fmt.Fprintln(os.Stderr, "berth-runtime init: must be started by berth-runtime")
		os.Exit(1)
	}
	os.Unsetenv(nsexec.EnvInitPipe)
	sync := os.NewFile(uintptr(fd), "sync")
	unix.CloseOnExec(fd)
	err = run(sync)
	// run only returns on failure (success ends in execve).
	if err == nil {
		err = errors.New("init: returned without exec")
	}
	if startFifo >= 0 {
		// After start: `start` is reading the fifo until it closes.
		_, _ = unix.Write(startFifo, []byte(err.Error()))
	} else {
		_ = Send(sync, Message{Type: MsgError, Error: err.Error()})
	}
	os.Exit(1)
}

// startFifo is the write end of the exec fifo once start has opened it.
var startFifo = -1

func run(sync *os.File) error {
	b, err := nsexec.ReadFrame(sync)
	if err != nil {
		return fmt.Errorf("init: read config: %w", err)
	}
	cfg, err := DecodeConfig(b)
	if err != nil {
		return fmt.Errorf("init: decode config: %w", err)
	}
	if cfg.Process == nil && cfg.Kind != KindCreate {
		return fmt.Errorf("process: missing: %w", errdefs.ErrInvalidArgument)
	}
	if cfg.ConsoleFD >= 0 {
		unix.CloseOnExec(cfg.ConsoleFD)
	}
	if cfg.FifoFD >= 0 {
		unix.CloseOnExec(cfg.FifoFD)
	}
	// A session of its own: needed to take a controlling terminal, and keeps the
	// container out of the caller's job control.
	_, _ = unix.Setsid()
	switch cfg.Kind {
	case KindCreate:
		return runCreate(cfg, sync)
	case KindExec:
		return runExec(cfg, sync)
	}
	return fmt.Errorf("init: unknown kind %q", cfg.Kind)
}

func runCreate(cfg *Config, sync *os.File) error {
	s := cfg.Spec
	if s == nil {
		return fmt.Errorf("init: create without a spec")
	}
	if !cfg.NoNewKeyring {
		if _, err := unix.KeyctlJoinSessionKeyring("_ses." + cfg.ID); err != nil &&
			!errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EDQUOT) {
			return fmt.Errorf("join session keyring: %w", err)
		}
	}
	fs, err := newRootfs(s, cfg)
	if err != nil {
		return err
	}
	defer fs.Close()
	if err := fs.Mount(); err != nil {
		return err
	}
	// The parent runs prestart and createRuntime hooks now.
	if err := Send(sync, Message{Type: MsgMounted}); err != nil {
		return err
	}
	m, err := Receive(sync)
	if err != nil {
		return fmt.Errorf("init: wait for hooks: %w", err)
	}
	if m.Type != MsgHooksDone {
		return fmt.Errorf("init: parent aborted (%s)", m.Type)
	}
	st := m.State
	if st == nil {
		st = &specs.State{Version: specs.Version, ID: cfg.ID, Status: specs.StateCreating, Pid: cfg.HostPid, Bundle: cfg.Bundle}
	}
	if s.Hooks != nil {
		if err := hooks.RunAll(s.Hooks, hooks.CreateContainer, st); err != nil {
			return err
		}
	}
	if err := fs.Pivot(); err != nil {
		return err
	}
	if err := linuxproc.SetHostname(s); err != nil {
		return err
	}
	if s.Linux != nil && len(s.Linux.Sysctl) > 0 {
		if err := linuxproc.ApplySysctl(s.Linux.Sysctl); err != nil {
			return err
		}
	}
	var master *os.File
	if cfg.Process != nil && cfg.Process.Terminal {
		if master, err = setupConsole(cfg); err != nil {
			return err
		}
	}
	if err := fs.Finalize(); err != nil {
		return err
	}
	fs.Close()
	var pr *proc
	if cfg.Process != nil {
		if pr, err = prepareProcess(cfg); err != nil {
			return err
		}
		if err := pr.setRlimits(); err != nil {
			return err
		}
	}
	if master != nil {
		master.Close()
	}
	// Created. Everything left must not fail for reasons the caller could have
	// seen at create time.
	if err := Send(sync, Message{Type: MsgReady}); err != nil {
		return err
	}
	sync.Close()
	// Block until `start` opens the fifo for reading: no user code runs before.
	// FifoFD is an O_PATH fd of the state directory: the lookup needs neither
	// /proc nor the host's root, which the container may lack after pivot.
	fifo, err := unix.Openat(cfg.FifoFD, FifoName, unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	if _, err := unix.Write(fifo, []byte{'0'}); err != nil {
		return fmt.Errorf("write exec fifo: %w", err)
	}
	// The fifo stays open (close-on-exec) so `start` returns once execve has
	// happened (poststart hooks run after the user program started), or
	// reads why it failed.
	startFifo = fifo
	unix.Close(cfg.FifoFD)
	if s.Hooks != nil && len(s.Hooks.StartContainer) > 0 {
		st.Status = specs.StateCreated
		if err := hooks.RunAll(s.Hooks, hooks.StartContainer, st); err != nil {
			return err
		}
	}
	if pr == nil {
		// No process in config.json: nothing to run, the container stops
		// (what the runtime-tools suite expects of start).
		os.Exit(0)
	}
	return pr.exec(cfg)
}

func runExec(cfg *Config, sync *os.File) error {
	var master *os.File
	var err error
	if cfg.Process.Terminal {
		if master, err = setupConsole(cfg); err != nil {
			return err
		}
	}
	pr, err := prepareProcess(cfg)
	if err != nil {
		return err
	}
	if err := pr.setRlimits(); err != nil {
		return err
	}
	if master != nil {
		master.Close()
	}
	// The parent sees EOF on the sync socket (close-on-exec) once execve worked,
	// or an error message if it did not.
	return pr.exec(cfg)
}

// setupConsole allocates the pty inside the container, makes its slave the
// controlling terminal and stdio, and sends the master to the console socket.
func setupConsole(cfg *Config) (*os.File, error) {
	if cfg.ConsoleFD < 0 {
		return nil, fmt.Errorf("process.terminal: set but no console socket was given (--console-socket)")
	}
	master, slave, err := console.OpenPtyPair("/dev/ptmx")
	if err != nil {
		return nil, fmt.Errorf("process.terminal: %w", err)
	}
	defer slave.Close()
	if cs := cfg.Process.ConsoleSize; cs != nil {
		if err := console.SetSize(master, cs.Height, cs.Width); err != nil {
			master.Close()
			return nil, fmt.Errorf("process.consoleSize: %w", err)
		}
	}
	sock := os.NewFile(uintptr(cfg.ConsoleFD), "console-socket")
	err = console.SendFd(sock, slave.Name(), int(master.Fd()))
	sock.Close()
	if err != nil {
		master.Close()
		return nil, err
	}
	if cfg.Kind == KindCreate {
		if err := mountConsole(slave); err != nil {
			master.Close()
			return nil, err
		}
	}
	if err := console.MakeControlling(slave); err != nil {
		master.Close()
		return nil, err
	}
	return master, nil
}

// permittedCaps returns the calling thread's permitted capability set.
func permittedCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, err
	}
	return uint64(data[0].Permitted) | uint64(data[1].Permitted)<<32, nil
}

// mountConsole binds the pty slave onto /dev/console, as runc does.
func mountConsole(slave *os.File) error {
	fd, err := unix.Open("/dev/console", unix.O_RDONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("process.terminal: create /dev/console: %w", err)
	}
	unix.Close(fd)
	src := "/proc/self/fd/" + strconv.Itoa(int(slave.Fd()))
	if err := unix.Mount(src, "/dev/console", "", unix.MS_BIND, ""); err != nil {
		if err := unix.Mount(slave.Name(), "/dev/console", "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("process.terminal: bind %s on /dev/console: %w", slave.Name(), err)
		}
	}
	return nil
}

// proc is a process about to be exec'd: everything that can fail because of the
// configuration has been checked by prepareProcess.
type proc struct {
	p    *specs.Process
	path string
	env  []string
	caps *caps.Set
}

func prepareProcess(cfg *Config) (*proc, error) {
	p := cfg.Process
	if len(p.Args) == 0 {
		return nil, fmt.Errorf("process.args: empty: %w", errdefs.ErrInvalidArgument)
	}
	cs, err := caps.New(p.Capabilities)
	if err != nil {
		return nil, err
	}
	if p.ApparmorProfile != "" {
		if _, err := os.Stat("/sys/kernel/security/apparmor"); err != nil {
			return nil, fmt.Errorf("process.apparmorProfile %q: AppArmor is not enabled on this host: %w", p.ApparmorProfile, errdefs.ErrNotImplemented)
		}
		return nil, fmt.Errorf("process.apparmorProfile %q: AppArmor profiles are not supported by berth-runtime: %w", p.ApparmorProfile, errdefs.ErrNotImplemented)
	}
	if p.SelinuxLabel != "" {
		return nil, fmt.Errorf("process.selinuxLabel %q: SELinux is not enabled on this host: %w", p.SelinuxLabel, errdefs.ErrNotImplemented)
	}
	env := append([]string(nil), p.Env...)
	if !hasEnv(env, "HOME") {
		env = append(env, "HOME="+homeDir(p.User.UID))
	}
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	var st unix.Stat_t
	if err := unix.Stat(cwd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err == nil {
			err = unix.ENOTDIR
		}
		return nil, fmt.Errorf("process.cwd %q: %w", p.Cwd, err)
	}
	// As with runc, a missing program fails create, not start.
	path, err := lookPath(p.Args[0], env, p.Cwd)
	if err != nil {
		return nil, fmt.Errorf("process.args[0] %q: %w", p.Args[0], err)
	}
	return &proc{p: p, path: path, env: env, caps: cs}, nil
}

// setRlimits applies process.rlimits; it runs before init reports "created"
// so that a limit the runtime cannot grant fails create, not start.
func (pr *proc) setRlimits() error {
	p := pr.p
	if err := linuxproc.SetRlimits(p.Rlimits); err != nil {
		return err
	}
	// The Go runtime raised its own RLIMIT_NOFILE soft limit at start and
	// would restore the one it found at exec, undoing process.rlimits: a
	// syscall.Setrlimit of the current value tells it not to.
	for _, rl := range p.Rlimits {
		if rl.Type == "RLIMIT_NOFILE" {
			var nofile syscall.Rlimit
			if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile); err == nil {
				_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &nofile)
			}
		}
	}
	return nil
}

// exec applies the process attributes in the order the kernel needs and execs.
func (pr *proc) exec(cfg *Config) error {
	p := pr.p
	// Nothing of ours may reach the user process: every fd above stdio and the
	// preserved ones is closed on exec. Done first: a seccomp profile may not
	// allow close_range.
	if err := unix.CloseRange(uint(3+cfg.PreserveFDs), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close inherited fds: %w", err)
	}
	if cfg.Spec != nil && cfg.Spec.Linux != nil {
		if err := linuxproc.SetPersonality(cfg.Spec.Linux.Personality); err != nil {
			return err
		}
	}
	if p.IOPriority != nil {
		if err := linuxproc.SetIOPriority(p.IOPriority); err != nil {
			return err
		}
	}
	if p.Scheduler != nil {
		if err := linuxproc.SetScheduler(p.Scheduler); err != nil {
			return err
		}
	}
	// Capabilities the runtime itself does not hold (a host root without
	// CAP_SYS_RESOURCE, say) cannot be granted: they are left out rather than
	// failing every privileged container.
	if have, err := permittedCaps(); err == nil {
		pr.caps.Permitted &= have
		pr.caps.Effective &= have
		pr.caps.Inheritable &= have
		pr.caps.Ambient &= have
	}
	// The kernel raises an ambient capability only when it is permitted and
	// inheritable; like runc, berth-runtime skips the others (`runc spec`
	// lists ambient capabilities without inheritable ones).
	pr.caps.Ambient &= pr.caps.Permitted & pr.caps.Inheritable
	if err := pr.caps.DropBounding(); err != nil {
		return err
	}
	var sc *specs.LinuxSeccomp
	if cfg.Spec != nil && cfg.Spec.Linux != nil {
		sc = cfg.Spec.Linux.Seccomp
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("process.noNewPrivileges: %w", err)
		}
	}
	// The working directory is proven inside the root now, before any filter
	// exists (a profile may deny getcwd), and entered again below as the
	// container's user, which must land on the same directory.
	wd, err := verifyCwd(p.Cwd)
	if err != nil {
		return err
	}
	// Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it while
	// we still have it.
	if sc != nil && !p.NoNewPrivileges {
		if err := loadSeccomp(sc, cfg); err != nil {
			return err
		}
	}
	if err := linuxproc.SwitchUser(p.User); err != nil {
		return err
	}
	if err := linuxproc.SetUmask(p.User.Umask); err != nil {
		return err
	}
	if err := pr.caps.Apply(); err != nil {
		return err
	}
	if err := enterCwd(p.Cwd, wd); err != nil {
		return err
	}
	if sc != nil && p.NoNewPrivileges {
		if err := loadSeccomp(sc, cfg); err != nil {
			return err
		}
	}
	err = unix.Exec(pr.path, p.Args, pr.env)
	return fmt.Errorf("exec %s: %w", pr.path, err)
}

func loadSeccomp(sc *specs.LinuxSeccomp, cfg *Config) error {
	// Connect to the listener before the filter exists: it may forbid connect.
	sock := -1
	if sc.ListenerPath != "" {
		var err error
		if sock, err = seccomp.DialListener(sc.ListenerPath); err != nil {
			return fmt.Errorf("linux.seccomp.listenerPath: %w", err)
		}
		defer unix.Close(sock)
	}
	fd, err := seccomp.Load(sc)
	if err != nil {
		return fmt.Errorf("linux.seccomp: %w", err)
	}
	if fd >= 0 {
		if sock < 0 {
			unix.Close(fd)
			return fmt.Errorf("linux.seccomp: a notify action needs linux.seccomp.listenerPath")
		}
		st := specs.ContainerProcessState{
			Version: specs.Version,
			Pid:     cfg.HostPid,
			State:   specs.State{Version: specs.Version, ID: cfg.ID, Status: specs.StateCreating, Pid: cfg.HostPid, Bundle: cfg.Bundle},
		}
		if cfg.Spec != nil {
			st.State.Annotations = cfg.Spec.Annotations
		}
		err := seccomp.SendListenerOn(sock, sc.ListenerPath, sc.ListenerMetadata, fd, st)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("linux.seccomp.listenerPath: %w", err)
		}
	}
	return nil
}

// verifyCwd changes to cwd and checks that it lies inside the container's
// root (a path through a leaked fd shows as unreachable, CVE-2024-21626). It
// returns the directory's identity for enterCwd.
func verifyCwd(cwd string) (unix.Stat_t, error) {
	var st unix.Stat_t
	if cwd == "" {
		cwd = "/"
	}
	if err := unix.Chdir(cwd); err != nil {
		return st, fmt.Errorf("process.cwd %q: %w", cwd, err)
	}
	wd, err := unix.Getwd()
	if err != nil || !strings.HasPrefix(wd, "/") {
		return st, fmt.Errorf("process.cwd %q: resolves outside the container's root: %w", cwd, errdefs.ErrInvalidArgument)
	}
	if err := unix.Stat(".", &st); err != nil {
		return st, fmt.Errorf("process.cwd %q: %w", cwd, err)
	}
	return st, nil
}

// enterCwd changes to cwd with the container user's permissions and checks it
// is the directory verifyCwd proved.
func enterCwd(cwd string, want unix.Stat_t) error {
	if cwd == "" {
		cwd = "/"
	}
	if err := unix.Chdir(cwd); err != nil {
		return fmt.Errorf("process.cwd %q: %w", cwd, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(".", &st); err != nil || st.Dev != want.Dev || st.Ino != want.Ino {
		return fmt.Errorf("process.cwd %q: changed while the process was set up: %w", cwd, errdefs.ErrInvalidArgument)
	}
	return nil
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			return true
		}
	}
	return false
}

func getEnv(env []string, key string) string {
	v := ""
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			v = e[len(key)+1:]
		}
	}
	return v
}

// homeDir looks uid up in the container's /etc/passwd; "/" when absent.
func homeDir(uid uint32) string {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return "/"
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 6 && f[2] == strconv.FormatUint(uint64(uid), 10) && f[5] != "" {
			return f[5]
		}
	}
	return "/"
}

// lookPath finds the program as execve will (relative to cwd when it holds a
// slash, else along the process's PATH).
func lookPath(file string, env []string, cwd string) (string, error) {
	check := func(p string) error {
		if !filepath.IsAbs(p) && cwd != "" {
			p = filepath.Join(cwd, p)
		}
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return unix.EISDIR
		}
		if st.Mode&0o111 == 0 {
			return unix.EACCES
		}
		return nil
	}
	if strings.Contains(file, "/") {
		if err := check(file); err != nil {
			return "", err
		}
		return file, nil
	}
	path := getEnv(env, "PATH")
	if !hasEnv(env, "PATH") {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if check(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("executable file not found in $PATH")
}
