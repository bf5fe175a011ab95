// The runtime lives for milliseconds: re-checking the cgroup's CPU limit in
// the background for GOMAXPROCS is work with nothing to gain here.
//
//go:debug updatemaxprocs=0
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	goruntime "runtime"
	"strings"

	"github.com/berth-containers/berth/internal/version"
	"github.com/berth-containers/berth/runtime/container"
	"github.com/berth-containers/berth/runtime/initproc"
	_ "github.com/berth-containers/berth/runtime/nsexec" // the C stage
	"github.com/berth-containers/berth/runtime/state"
)

func init() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		// Everything init does to its thread (credentials, capabilities,
		// seccomp) must stay on the thread that execs the user program.
		goruntime.GOMAXPROCS(1)
		goruntime.LockOSThread()
	}
}

// globals are runc's global options.
type globals struct {
	root          string
	logPath       string
	logFormat     string
	debug         bool
	systemdCgroup bool
	rootless      rootlessFlag
	criu          string
	log           *slog.Logger
	logFile       *os.File
}

// rootlessFlag accepts --rootless, --rootless=true|false|auto.
type rootlessFlag struct{ v string }

func (r *rootlessFlag) String() string   { return r.v }
func (r *rootlessFlag) IsBoolFlag() bool { return true }
func (r *rootlessFlag) Set(s string) error {
	switch s {
	case "true", "false", "auto":
		r.v = s
		return nil
	}
	return fmt.Errorf("--rootless: want true, false or auto, got %q", s)
}
func (r *rootlessFlag) enabled() bool {
	switch r.v {
	case "true":
		return true
	case "auto", "":
		return os.Geteuid() != 0
	}
	return false
}

type command struct {
	name  string
	usage string
	run   func(g *globals, args []string) (int, error)
}

var commands = []command{
	{"create", "create a container", cmdCreate},
	{"start", "start a created container", cmdStart},
	{"run", "create and start a container", cmdRun},
	{"state", "print a container's state", cmdState},
	{"kill", "send a signal to a container's init (or all its processes)", cmdKill},
	{"delete", "delete a container", cmdDelete},
	{"exec", "run a process in a running container", cmdExec},
	{"list", "list containers", cmdList},
	{"ps", "list a container's processes", cmdPs},
	{"pause", "freeze every process of a container", cmdPause},
	{"resume", "thaw a paused container", cmdResume},
	{"update", "change a container's resource limits", cmdUpdate},
	{"events", "print a container's stats and OOM events", cmdEvents},
	{"spec", "write a default config.json", cmdSpec},
	{"features", "print the runtime-spec features document", cmdFeatures},
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		initproc.Main()
		return
	}
	// A short-lived, mostly sequential program: two Ps at most (one goroutine
	// may block in a slow cgroup write while create goes on) keep idle threads
	// from spinning on a busy machine.
	if goruntime.GOMAXPROCS(0) > 2 {
		goruntime.GOMAXPROCS(2)
	}
	os.Exit(realMain(os.Args[1:]))
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: berth-runtime [global options] command [options] [arguments]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.usage)
	}
	fmt.Fprintf(w, "\nglobal options: --root DIR, --log FILE, --log-format text|json, --debug, --systemd-cgroup, --rootless, --version\n")
}

func realMain(args []string) int {
	g := &globals{}
	fs := flag.NewFlagSet("berth-runtime", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&g.root, "root", state.DefaultRoot, "state directory")
	fs.StringVar(&g.logPath, "log", "", "log file")
	fs.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&g.debug, "debug", false, "debug logging")
	fs.BoolVar(&g.systemdCgroup, "systemd-cgroup", false, "use systemd's cgroup driver")
	fs.Var(&g.rootless, "rootless", "rootless mode: true, false or auto")
	fs.StringVar(&g.criu, "criu", "", "criu binary (accepted, unused)")
	showVersion := fs.Bool("version", false, "print the version")
	fs.BoolVar(showVersion, "v", false, "print the version")
	help := fs.Bool("help", false, "help")
	fs.BoolVar(help, "h", false, "help")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(os.Stderr, "berth-runtime: %v\n", err)
		usage(os.Stderr)
		return 1
	}
	if *showVersion {
		fmt.Printf("berth-runtime version %s\nspec: %s\n", version.Version, version.RuntimeSpec)
		return 0
	}
	rootSet := false
	fs.Visit(func(f *flag.Flag) { rootSet = rootSet || f.Name == "root" })
	if !rootSet && os.Geteuid() != 0 {
		// As runc: an unprivileged user keeps state under XDG_RUNTIME_DIR.
		if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
			g.root = dir + "/berth-runtime"
		}
	}
	rest := fs.Args()
	if *help || len(rest) == 0 || rest[0] == "help" {
		usage(os.Stdout)
		if len(rest) == 0 && !*help {
			return 1
		}
		return 0
	}
	if err := g.setupLog(); err != nil {
		fmt.Fprintf(os.Stderr, "berth-runtime: %v\n", err)
		return 1
	}
	defer func() {
		if g.logFile != nil {
			g.logFile.Close()
		}
	}()
	switch rest[0] {
	case "create", "run":
		// Started before flags and config are even read: see Prewarm.
		g.runtime().PrewarmCreate()
	case "exec":
		g.runtime().Prewarm()
	}
	for _, c := range commands {
		if c.name == rest[0] {
			code, err := c.run(g, rest[1:])
			if err != nil {
				g.fail(err)
				if code == 0 {
					code = 1
				}
			}
			return code
		}
	}
	g.fail(fmt.Errorf("unknown command %q", rest[0]))
	return 1
}

func (g *globals) setupLog() error {
	level := slog.LevelWarn
	if g.debug {
		level = slog.LevelDebug
	}
	var w io.Writer = os.Stderr
	if g.logPath != "" {
		f, err := os.OpenFile(g.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("--log %s: %w", g.logPath, err)
		}
		g.logFile = f
		w = f
	}
	opts := &slog.HandlerOptions{
		Level: level,
		// containerd and podman read lowercase levels ("error"), as runc writes.
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.LevelKey {
				if l, ok := a.Value.Any().(slog.Level); ok {
					a.Value = slog.StringValue(strings.ToLower(l.String()))
				}
			}
			return a
		},
	}
	switch g.logFormat {
	case "json":
		g.log = slog.New(slog.NewJSONHandler(w, opts))
	case "text", "":
		g.log = slog.New(slog.NewTextHandler(w, opts))
	default:
		return fmt.Errorf("--log-format %q: want text or json", g.logFormat)
	}
	return nil
}

// fail reports err on stderr and, when --log is set, in the log.
func (g *globals) fail(err error) {
	msg := err.Error()
	if g.logFile != nil {
		g.log.Error(msg)
	}
	fmt.Fprintln(os.Stderr, msg)
}

func (g *globals) runtime() *container.Runtime {
	return &container.Runtime{Root: g.root, Log: g.log, Rootless: g.rootless.enabled()}
}

// checkCgroupDriver rejects --systemd-cgroup: there is no systemd to talk to.
func (g *globals) checkCgroupDriver() error {
	if !g.systemdCgroup {
		return nil
	}
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return errors.New("systemd cgroup driver requested but systemd is not running")
	}
	return errors.New("--systemd-cgroup: the systemd cgroup driver is not supported by berth-runtime; use cgroupfs")
}
