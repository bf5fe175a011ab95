package client

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/atomicfile"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/shim"
)

// StartOpts describe the shim to launch for one container.
type StartOpts struct {
	ID        string
	Namespace string
	// Bundle is the OCI bundle directory (config.json + rootfs).
	Bundle string
	// StateDir is the container's own directory under the daemon's state
	// root; it is created, and removed again by Delete.
	StateDir string
	// Runtime is the OCI runtime binary (berth-runtime, runc, crun): a
	// path, or a name looked up on PATH; default DefaultRuntime.
	Runtime string
	// RuntimeRoot is the runtime's --root (its state directory).
	RuntimeRoot string
	// RuntimeArgs are more global options for the runtime.
	RuntimeArgs []string
	// ShimBinary is the berth-shim binary; default "berth-shim" on PATH.
	ShimBinary string
	// Debug turns on the shim's debug log (StateDir/shim.log).
	Debug bool
	Log   *slog.Logger
}

// DefaultRuntime is the runtime used when StartOpts.Runtime is empty.
const DefaultRuntime = "berth-runtime"

// Client talks to one shim. It holds no connection between calls: each
// call dials the socket, so a Client is safe for concurrent use and
// survives nothing but the shim.
type Client struct {
	cfg    shim.Config
	pid    int
	exited chan struct{} // closed when a shim we started has been reaped; nil otherwise
	log    *slog.Logger
}

// Start launches berth-shim for opts.ID and returns once its socket
// answers. On failure nothing is left: no process, no state directory.
func Start(ctx context.Context, opts StartOpts) (_ *Client, retErr error) {
	switch {
	case opts.ID == "":
		return nil, fmt.Errorf("shim start: id: missing: %w", errdefs.ErrInvalidArgument)
	case !filepath.IsAbs(opts.Bundle):
		return nil, fmt.Errorf("shim start %s: bundle %q: must be an absolute path: %w", opts.ID, opts.Bundle, errdefs.ErrInvalidArgument)
	case !filepath.IsAbs(opts.StateDir):
		return nil, fmt.Errorf("shim start %s: stateDir %q: must be an absolute path: %w", opts.ID, opts.StateDir, errdefs.ErrInvalidArgument)
	}
	if opts.Runtime == "" {
		opts.Runtime = DefaultRuntime
	}
	if strings.ContainsAny(opts.ID, "/\x00") || opts.ID == "." || opts.ID == ".." {
		return nil, fmt.Errorf("shim start: id %q: must not contain '/': %w", opts.ID, errdefs.ErrInvalidArgument)
	}
	rt := opts.Runtime
	if !strings.Contains(rt, "/") {
		p, err := exec.LookPath(rt)
		if err != nil {
			return nil, fmt.Errorf("shim start %s: runtime %q: %w", opts.ID, rt, errdefs.ErrNotFound)
		}
		rt = p
	} else if _, err := os.Stat(rt); err != nil {
		return nil, fmt.Errorf("shim start %s: runtime %q: %w", opts.ID, rt, errdefs.ErrNotFound)
	}
	bin := opts.ShimBinary
	if bin == "" {
		bin = "berth-shim"
	}
	if !strings.Contains(bin, "/") {
		p, err := exec.LookPath(bin)
		if err != nil {
			return nil, fmt.Errorf("shim start %s: shim binary %q: %w", opts.ID, bin, errdefs.ErrNotFound)
		}
		bin = p
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if _, err := os.Stat(filepath.Join(opts.StateDir, shim.ConfigFile)); err == nil {
		return nil, fmt.Errorf("shim start %s: state dir %s already holds a shim: %w", opts.ID, opts.StateDir, errdefs.ErrAlreadyExists)
	}
	if err := os.MkdirAll(opts.StateDir, 0o711); err != nil {
		return nil, fmt.Errorf("shim start %s: %w", opts.ID, err)
	}
	defer func() {
		if retErr != nil {
			os.RemoveAll(opts.StateDir)
		}
	}()
	cfg := shim.Config{ID: opts.ID, Namespace: opts.Namespace, Bundle: opts.Bundle, StateDir: opts.StateDir,
		Runtime: rt, RuntimeRoot: opts.RuntimeRoot, RuntimeArgs: opts.RuntimeArgs,
		Socket: shim.SocketPath(opts.StateDir, "shim.sock")}
	b, err := jsonMarshal(cfg)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(opts.StateDir, shim.ConfigFile), b, 0o600); err != nil {
		return nil, fmt.Errorf("shim start %s: write config: %w", opts.ID, err)
	}
	logf, err := os.OpenFile(filepath.Join(opts.StateDir, shim.LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("shim start %s: %w", opts.ID, err)
	}
	defer logf.Close()
	rr, rw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer rr.Close()
	args := []string{"-state-dir", opts.StateDir, "-ready-fd", "3"}
	if opts.Debug {
		args = append(args, "-debug")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{rw}
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "GOGC=50")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		rw.Close()
		return nil, fmt.Errorf("shim start %s: %w", opts.ID, err)
	}
	rw.Close()
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	msgc := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(rr, 4096))
		msgc <- string(b)
	}()
	var msg string
	select {
	case msg = <-msgc:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-exited
		os.Remove(cfg.Socket)
		return nil, fmt.Errorf("shim start %s: %w", opts.ID, ctx.Err())
	}
	if msg != "ok" {
		_ = cmd.Process.Kill()
		<-exited
		os.Remove(cfg.Socket)
		if msg == "" {
			l, _ := os.ReadFile(filepath.Join(opts.StateDir, shim.LogFile))
			msg = "exited before serving: " + strings.TrimSpace(string(l))
		}
		return nil, fmt.Errorf("shim start %s: %s", opts.ID, msg)
	}
	log.Debug("shim started", "id", opts.ID, "pid", cmd.Process.Pid)
	return &Client{cfg: cfg, pid: cmd.Process.Pid, exited: exited, log: log}, nil
}

// Connect re-attaches to the shim whose state directory is stateDir. It
// fails with errdefs.ErrUnavailable when the shim does not answer (see
// Recover) and ErrNotFound when there is no shim there.
func Connect(ctx context.Context, stateDir string) (*Client, error) {
	cfg, err := shim.ReadConfig(stateDir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("shim in %s: %w", stateDir, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("shim in %s: %w", stateDir, err)
	}
	c := &Client{cfg: *cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if b, err := os.ReadFile(filepath.Join(stateDir, shim.PidFile)); err == nil {
		c.pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if err := c.Ping(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// List returns the state directories of the shims under stateRoot: every
// directory at depth one or two (ROOT/ID or ROOT/NAMESPACE/ID) holding a
// shim.json.
func List(stateRoot string) ([]string, error) {
	var out []string
	for _, pat := range []string{"*", "*/*"} {
		m, err := filepath.Glob(filepath.Join(stateRoot, pat, shim.ConfigFile))
		if err != nil {
			return nil, err
		}
		for _, p := range m {
			out = append(out, filepath.Dir(p))
		}
	}
	return out, nil
}

// ID is the container's id.
func (c *Client) ID() string { return c.cfg.ID }

// StateDir is the shim's state directory.
func (c *Client) StateDir() string { return c.cfg.StateDir }

// Pid is the shim's pid (0 if unknown).
func (c *Client) Pid() int { return c.pid }

// Config is the shim's configuration.
func (c *Client) Config() shim.Config { return c.cfg }

// dial connects to the shim; an unreachable shim is ErrUnavailable.
func (c *Client) dial(ctx context.Context) (*net.UnixConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.cfg.Socket)
	if err != nil {
		return nil, fmt.Errorf("shim of %s (%s): %v: %w", c.cfg.ID, c.cfg.Socket, err, errdefs.ErrUnavailable)
	}
	return conn.(*net.UnixConn), nil
}

// call sends req and returns the response. ctx bounds the whole call.
func (c *Client) call(ctx context.Context, req *shim.Request) (*shim.Response, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return c.roundTrip(ctx, conn, req)
}

func (c *Client) roundTrip(ctx context.Context, conn *net.UnixConn, req *shim.Request) (*shim.Response, error) {
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := shim.WriteFrame(conn, req); err != nil {
		return nil, c.connErr(ctx, req.Method, err)
	}
	b, err := shim.ReadFrame(conn)
	if err != nil {
		return nil, c.connErr(ctx, req.Method, err)
	}
	var resp shim.Response
	if err := jsonUnmarshal(b, &resp); err != nil {
		return nil, fmt.Errorf("shim of %s: %s: bad response: %w", c.cfg.ID, req.Method, err)
	}
	if err := resp.Err(); err != nil {
		return nil, err
	}
	return &resp, nil
}

func (c *Client) connErr(ctx context.Context, method string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("shim of %s: %s: %w", c.cfg.ID, method, ctx.Err())
	}
	return fmt.Errorf("shim of %s: %s: %v: %w", c.cfg.ID, method, err, errdefs.ErrUnavailable)
}

// Ping checks that the shim answers.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.call(ctx, &shim.Request{Method: shim.MethodPing})
	return err
}

// Create runs the runtime's create: the container exists, its init waits
// for Start.
func (c *Client) Create(ctx context.Context, opts shim.CreateOpts) (*shim.State, error) {
	resp, err := c.call(ctx, &shim.Request{Method: shim.MethodCreate, Create: &opts})
	if err != nil {
		return nil, err
	}
	return resp.State, nil
}

// Start starts the init (execID "") or an exec process.
func (c *Client) Start(ctx context.Context, execID string) (*shim.State, error) {
	resp, err := c.call(ctx, &shim.Request{Method: shim.MethodStart, ExecID: execID})
	if err != nil {
		return nil, err
	}
	return resp.State, nil
}

// Kill signals the init (all: every process of the container) or an exec.
func (c *Client) Kill(ctx context.Context, execID string, sig syscall.Signal, all bool) error {
	_, err := c.call(ctx, &shim.Request{Method: shim.MethodKill, ExecID: execID, Signal: int(sig), All: all})
	return err
}

// Wait blocks until the process exits (or ctx ends) and returns how.
func (c *Client) Wait(ctx context.Context, execID string) (*shim.ExitStatus, error) {
	resp, err := c.call(ctx, &shim.Request{Method: shim.MethodWait, ExecID: execID})
	if err != nil {
		return nil, err
	}
	return resp.Exit, nil
}

// State describes the init or an exec process.
func (c *Client) State(ctx context.Context, execID string) (*shim.State, error) {
	resp, err := c.call(ctx, &shim.Request{Method: shim.MethodState, ExecID: execID})
	if err != nil {
		return nil, err
	}
	return resp.State, nil
}

// Pause freezes the container.
func (c *Client) Pause(ctx context.Context) error {
	_, err := c.call(ctx, &shim.Request{Method: shim.MethodPause})
	return err
}

// Resume thaws the container.
func (c *Client) Resume(ctx context.Context) error {
	_, err := c.call(ctx, &shim.Request{Method: shim.MethodResume})
	return err
}

// Update changes the container's resource limits.
func (c *Client) Update(ctx context.Context, r *specs.LinuxResources) error {
	_, err := c.call(ctx, &shim.Request{Method: shim.MethodUpdate, Resources: r})
	return err
}

// Stats reads the container's cgroup counters.
func (c *Client) Stats(ctx context.Context) (*shim.Stats, error) {
	resp, err := c.call(ctx, &shim.Request{Method: shim.MethodStats})
	if err != nil {
		return nil, err
	}
	return resp.Stats, nil
}

// Exec registers an exec process; Start runs it.
func (c *Client) Exec(ctx context.Context, execID string, p *specs.Process, opts shim.ExecOpts) error {
	_, err := c.call(ctx, &shim.Request{Method: shim.MethodExec, ExecID: execID, Process: p, Exec: &opts})
	return err
}

// ResizePty sets the terminal size of the init or an exec process.
func (c *Client) ResizePty(ctx context.Context, execID string, width, height uint16) error {
	_, err := c.call(ctx, &shim.Request{Method: shim.MethodResize, ExecID: execID, Size: &shim.ConsoleSize{Width: width, Height: height}})
	return err
}

// CloseStdin closes the process's stdin (with a terminal: sends ^D).
func (c *Client) CloseStdin(ctx context.Context, execID string) error {
	_, err := c.call(ctx, &shim.Request{Method: shim.MethodCloseStdin, ExecID: execID})
	return err
}

// Delete deletes an exec process's record, or (execID "") the container:
// the runtime's delete, then the shim removes its state directory and
// exits; Delete returns once it has. The process must not be running.
func (c *Client) Delete(ctx context.Context, execID string) (*shim.ExitStatus, error) {
	resp, err := c.call(ctx, &shim.Request{Method: shim.MethodDelete, ExecID: execID})
	if err != nil {
		return nil, err
	}
	if execID == "" {
		c.waitShimExit(ctx)
		os.RemoveAll(c.cfg.StateDir)
	}
	return resp.Exit, nil
}

// ForceDelete deletes the container in any state: the runtime's
// `delete --force` kills every process (a paused container too), then as
// Delete. It returns the init's exit status.
func (c *Client) ForceDelete(ctx context.Context) (*shim.ExitStatus, error) {
	resp, err := c.call(ctx, &shim.Request{Method: shim.MethodDelete, Force: true})
	if err != nil {
		return nil, err
	}
	c.waitShimExit(ctx)
	os.RemoveAll(c.cfg.StateDir)
	return resp.Exit, nil
}

// Shutdown stops a shim whose container was never created (or is deleted).
func (c *Client) Shutdown(ctx context.Context) error {
	if _, err := c.call(ctx, &shim.Request{Method: shim.MethodShutdown}); err != nil {
		return err
	}
	c.waitShimExit(ctx)
	os.RemoveAll(c.cfg.StateDir)
	return nil
}

// waitShimExit waits (at most 5s) until the shim process is gone.
func (c *Client) waitShimExit(ctx context.Context) {
	if c.exited != nil {
		select {
		case <-c.exited:
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
		return
	}
	if c.pid <= 0 {
		return
	}
	waitPidGone(c.pid, 5*time.Second)
}

// waitPidGone waits until pid has exited (a zombie counts as exited).
func waitPidGone(pid int, d time.Duration) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return true
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(d/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0
	}
}
