package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/client"
	"github.com/berth-containers/berth/container"
	"github.com/berth-containers/berth/runtime/cgroups"
)

func init() {
	register(&command{name: "start", usage: "start [-a] [-i] CONTAINER [CONTAINER...]", short: "Start one or more stopped containers", run: runStart})
	register(&command{name: "stop", usage: "stop [-t SECONDS] CONTAINER [CONTAINER...]", short: "Stop one or more running containers", run: func(g *globals, a []string) error { return runStop(g, a, false) }})
	register(&command{name: "restart", usage: "restart [-t SECONDS] CONTAINER [CONTAINER...]", short: "Restart one or more containers", run: func(g *globals, a []string) error { return runStop(g, a, true) }})
	register(&command{name: "kill", usage: "kill [-s SIGNAL] CONTAINER [CONTAINER...]", short: "Kill one or more running containers", run: runKill})
	register(&command{name: "rm", usage: "rm [-f] [-v] CONTAINER [CONTAINER...]", short: "Remove one or more containers", run: runRm})
	register(&command{name: "ps", usage: "ps [-a] [-q] [--format TEMPLATE] [--filter KEY=VALUE]", short: "List containers", run: runPs})
	register(&command{name: "wait", usage: "wait CONTAINER [CONTAINER...]", short: "Block until containers stop, then print their exit codes", run: runWait})
	register(&command{name: "pause", usage: "pause CONTAINER [CONTAINER...]", short: "Pause all processes within containers", run: func(g *globals, a []string) error { return runPause(g, a, true) }})
	register(&command{name: "unpause", usage: "unpause CONTAINER [CONTAINER...]", short: "Unpause all processes within containers", run: func(g *globals, a []string) error { return runPause(g, a, false) }})
	register(&command{name: "container", usage: "container inspect CONTAINER [CONTAINER...]", short: "Show containers' details as JSON", run: runContainer})
	register(&command{name: "top", usage: "top CONTAINER", short: "Display the running processes of a container", run: runTop})
	register(&command{name: "stats", usage: "stats [--no-stream] CONTAINER [CONTAINER...]", short: "Display containers' resource usage", run: runStats})
	register(&command{name: "attach", usage: "attach [--no-stdin] CONTAINER", short: "Attach to a running container's stdio", run: runAttach})
}

// eachContainer runs fn for every argument, printing the argument on
// success as docker does; errors are printed and the last one returned.
func eachContainer(g *globals, pos []string, print bool, fn func(ctx context.Context, c *client.Client, id string) error) error {
	if len(pos) == 0 {
		return usageError{"requires at least 1 argument"}
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	var last error
	for _, id := range pos {
		if err := fn(context.Background(), c, id); err != nil {
			fmt.Fprintf(os.Stderr, "Error response from daemon: %v\n", err)
			last = err
			continue
		}
		if print {
			fmt.Println(id)
		}
	}
	if last != nil {
		return errSilent
	}
	return nil
}

// errSilent: the error was printed already; exit 1.
var errSilent = errors.New("one or more operations failed")

func runStart(g *globals, args []string) error {
	fs := newFlags("start")
	attach := fs.Bool("a", false, "attach stdout/stderr and forward signals")
	fs.BoolVar(attach, "attach", false, "attach stdout/stderr")
	interactive := fs.Bool("i", false, "attach stdin")
	fs.BoolVar(interactive, "interactive", false, "attach stdin")
	detachKeys := fs.String("detach-keys", defaultDetachKeys, "keys that detach from the container's terminal")
	pos, err := parseArgs(fs, expandBoolShorts(args, "ai"))
	if err != nil {
		return err
	}
	keys, err := parseDetachKeys(*detachKeys)
	if err != nil {
		return usageError{err.Error()}
	}
	if *attach || *interactive {
		if len(pos) != 1 {
			return usageError{"you cannot start and attach multiple containers at once"}
		}
		c, err := g.client()
		if err != nil {
			return err
		}
		defer c.Close()
		ctr, err := inspectContainer(context.Background(), c, pos[0])
		if err != nil {
			return err
		}
		code, err := attachedStart(context.Background(), c, ctr.ID, *interactive && ctr.Options.OpenStdin, ctr.Options.Tty, keys)
		if err != nil {
			return err
		}
		c.Close()
		os.Exit(code)
	}
	return eachContainer(g, pos, true, func(ctx context.Context, c *client.Client, id string) error {
		_, err := c.StartContainer(ctx, id, false, false, client.IO{})
		return err
	})
}

func runStop(g *globals, args []string, restart bool) error {
	name := "stop"
	if restart {
		name = "restart"
	}
	fs := newFlags(name)
	timeout := fs.Int("t", -1, "seconds to wait before killing (default: the container's, 10)")
	fs.IntVar(timeout, "time", -1, "seconds to wait before killing")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	return eachContainer(g, pos, true, func(ctx context.Context, c *client.Client, id string) error {
		_, err := c.Containers().Stop(c.Context(ctx), &berthv1.StopRequest{Id: id, Timeout: int32(*timeout), Restart: restart})
		return err
	})
}

func runKill(g *globals, args []string) error {
	fs := newFlags("kill")
	sig := fs.String("s", "KILL", "signal to send")
	fs.StringVar(sig, "signal", "KILL", "signal to send")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	return eachContainer(g, pos, true, func(ctx context.Context, c *client.Client, id string) error {
		_, err := c.Containers().Kill(c.Context(ctx), &berthv1.KillRequest{Id: id, Signal: *sig})
		return err
	})
}

func runRm(g *globals, args []string) error {
	fs := newFlags("rm")
	force := fs.Bool("f", false, "force the removal of a running container (SIGKILL)")
	fs.BoolVar(force, "force", false, "force the removal of a running container")
	vols := fs.Bool("v", false, "remove anonymous volumes of the container")
	fs.BoolVar(vols, "volumes", false, "remove anonymous volumes")
	pos, err := parseArgs(fs, expandBoolShorts(args, "fv"))
	if err != nil {
		return err
	}
	return eachContainer(g, pos, true, func(ctx context.Context, c *client.Client, id string) error {
		_, err := c.Containers().Remove(c.Context(ctx), &berthv1.RemoveRequest{Id: id, Force: *force, Volumes: *vols})
		return err
	})
}

func inspectContainer(ctx context.Context, c *client.Client, id string) (container.Container, error) {
	resp, err := c.Containers().Inspect(c.Context(ctx), &berthv1.ContainerRef{Id: id})
	if err != nil {
		return container.Container{}, err
	}
	return client.DecodeContainer(resp.Container)
}

// psRow is what `ps --format` templates see.
type psRow struct {
	ID, Image, Command, CreatedAt, RunningFor, Status, State, Names, Ports string
	Labels                                                                 string
}

func statusText(c container.Container) string {
	s := c.Status
	switch s.State {
	case container.StateRunning:
		return "Up " + upFor(time.Since(s.StartedAt))
	case container.StatePaused:
		return "Up " + upFor(time.Since(s.StartedAt)) + " (Paused)"
	case container.StateExited:
		return fmt.Sprintf("Exited (%d) %s", s.ExitCode, ago(s.FinishedAt))
	case container.StateRestarting:
		return fmt.Sprintf("Restarting (%d) %s", s.ExitCode, ago(s.FinishedAt))
	case container.StateCreated:
		return "Created"
	}
	return string(s.State)
}

// upFor prints how long a container has run, as docker's STATUS does.
func upFor(d time.Duration) string {
	switch {
	case d < time.Second:
		return "Less than a second"
	case d < time.Minute:
		return plural(int(d.Seconds()), "second")
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute")
	}
	return strings.TrimSuffix(ago(time.Now().Add(-d)), " ago")
}

func runPs(g *globals, args []string) error {
	fs := newFlags("ps")
	all := fs.Bool("a", false, "show all containers (default: running)")
	fs.BoolVar(all, "all", false, "show all containers")
	quiet := fs.Bool("q", false, "only IDs")
	fs.BoolVar(quiet, "quiet", false, "only IDs")
	noTrunc := fs.Bool("no-trunc", false, "do not truncate output")
	format := fs.String("format", "", "Go template over .ID .Image .Command .Status .State .Names .Ports, or json")
	var filters listFlag
	fs.Var(&filters, "f", "filter KEY=VALUE (id, name, status, label, ancestor)")
	fs.Var(&filters, "filter", "filter KEY=VALUE")
	pos, err := parseArgs(fs, expandBoolShorts(args, "aq"))
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{"accepts no arguments"}
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	resp, err := c.Containers().List(c.Context(ctx), &berthv1.ListContainersRequest{All: *all, Filters: filters})
	if err != nil {
		return err
	}
	var rows []psRow
	var recs []container.Container
	for _, b := range resp.Containers {
		ctr, err := client.DecodeContainer(b)
		if err != nil {
			return err
		}
		recs = append(recs, ctr)
		cmd := ""
		if ctr.Spec != nil && ctr.Spec.Process != nil {
			cmd = strings.Join(ctr.Spec.Process.Args, " ")
		}
		id := ctr.ID
		if !*noTrunc {
			id = shortID(id)
			if len(cmd) > 20 {
				cmd = cmd[:19] + "…"
			}
		}
		var labels []string
		for k, v := range ctr.Labels {
			labels = append(labels, k+"="+v)
		}
		rows = append(rows, psRow{ID: id, Image: ctr.Image, Command: strconv.Quote(cmd), CreatedAt: ctr.Created.Format(time.RFC3339),
			RunningFor: ago(ctr.Created), Status: statusText(ctr), State: string(ctr.Status.State), Names: ctr.Name,
			Ports: strings.Join(ctr.Options.Ports, ", "), Labels: strings.Join(labels, ",")})
	}
	switch {
	case *quiet:
		for _, r := range rows {
			fmt.Println(r.ID)
		}
	case *format == "json":
		for _, r := range recs {
			b, _ := json.Marshal(r)
			fmt.Println(string(b))
		}
	case *format != "":
		tf := strings.TrimPrefix(*format, "table ")
		tmpl, err := template.New("ps").Parse(tf)
		if err != nil {
			return fmt.Errorf("template parsing error: %v", err)
		}
		for _, r := range rows {
			if err := tmpl.Execute(os.Stdout, r); err != nil {
				return err
			}
			fmt.Println()
		}
	default:
		w := tabwriter.NewWriter(os.Stdout, 0, 0, 3, ' ', 0)
		fmt.Fprintln(w, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES")
		for _, r := range rows {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Image, r.Command, r.RunningFor, r.Status, r.Ports, r.Names)
		}
		w.Flush()
	}
	return nil
}

func runWait(g *globals, args []string) error {
	pos, err := parseArgs(newFlags("wait"), args)
	if err != nil {
		return err
	}
	return eachContainer(g, pos, false, func(ctx context.Context, c *client.Client, id string) error {
		r, err := c.Containers().Wait(c.Context(ctx), &berthv1.ContainerRef{Id: id})
		if err != nil {
			return err
		}
		fmt.Println(r.ExitCode)
		return nil
	})
}

func runPause(g *globals, args []string, pause bool) error {
	pos, err := parseArgs(newFlags("pause"), args)
	if err != nil {
		return err
	}
	return eachContainer(g, pos, true, func(ctx context.Context, c *client.Client, id string) error {
		var err error
		if pause {
			_, err = c.Containers().Pause(c.Context(ctx), &berthv1.ContainerRef{Id: id})
		} else {
			_, err = c.Containers().Resume(c.Context(ctx), &berthv1.ContainerRef{Id: id})
		}
		return err
	})
}

func runContainer(g *globals, args []string) error {
	if len(args) == 0 || (args[0] != "inspect" && args[0] != "ls" && args[0] != "rm") {
		return usageError{"want a subcommand: inspect, ls, rm"}
	}
	switch args[0] {
	case "ls":
		return runPs(g, args[1:])
	case "rm":
		return runRm(g, args[1:])
	}
	pos, err := parseArgs(newFlags("container inspect"), args[1:])
	if err != nil {
		return err
	}
	var out []json.RawMessage
	err = eachContainer(g, pos, false, func(ctx context.Context, c *client.Client, id string) error {
		resp, err := c.Containers().Inspect(c.Context(ctx), &berthv1.ContainerRef{Id: id})
		if err != nil {
			return err
		}
		out = append(out, resp.Container)
		return nil
	})
	b, _ := json.MarshalIndent(out, "", "    ")
	fmt.Println(string(b))
	return err
}

func runTop(g *globals, args []string) error {
	pos, err := parseArgs(newFlags("top"), args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"requires exactly 1 argument"}
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	r, err := c.Containers().Top(c.Context(ctx), &berthv1.ContainerRef{Id: pos[0]})
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 3, ' ', 0)
	fmt.Fprintln(w, strings.Join(r.Titles, "\t"))
	for _, row := range r.Rows {
		fmt.Fprintln(w, strings.Join(row.Cells, "\t"))
	}
	return w.Flush()
}

func runStats(g *globals, args []string) error {
	fs := newFlags("stats")
	noStream := fs.Bool("no-stream", false, "print one sample and exit")
	format := fs.String("format", "", "json: the raw cgroup counters, one object a line")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError{"requires at least 1 argument"}
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	sample := func() (map[string]cgroups.Stats, time.Time, error) {
		out := map[string]cgroups.Stats{}
		for _, id := range pos {
			r, err := c.Containers().Stats(c.Context(ctx), &berthv1.ContainerRef{Id: id})
			if err != nil {
				return nil, time.Time{}, err
			}
			if *format == "json" {
				fmt.Println(string(r.Stats))
				continue
			}
			var st cgroups.Stats
			if err := json.Unmarshal(r.Stats, &st); err != nil {
				return nil, time.Time{}, err
			}
			out[id] = st
		}
		return out, time.Now(), nil
	}
	prev, pt, err := sample()
	if err != nil {
		return err
	}
	for {
		time.Sleep(500 * time.Millisecond)
		cur, ct, err := sample()
		if err != nil {
			return err
		}
		if *format != "json" {
			w := tabwriter.NewWriter(os.Stdout, 0, 0, 3, ' ', 0)
			fmt.Fprintln(w, "CONTAINER\tCPU %\tMEM USAGE / LIMIT\tMEM %\tBLOCK I/O\tPIDS")
			for _, id := range pos {
				a, b := prev[id], cur[id]
				cpu := 0.0
				if dt := ct.Sub(pt); dt > 0 && b.CPU.Usage.Total >= a.CPU.Usage.Total {
					cpu = float64(b.CPU.Usage.Total-a.CPU.Usage.Total) / float64(dt.Nanoseconds()) * 100
				}
				used := b.Memory.Usage.Usage - min(b.Memory.Cache, b.Memory.Usage.Usage)
				limit := b.Memory.Usage.Limit
				memPct := 0.0
				if limit > 0 && limit < 1<<62 {
					memPct = float64(used) / float64(limit) * 100
				}
				var rd, wr uint64
				for _, e := range b.Blkio.IoServiceBytesRecursive {
					switch strings.ToLower(e.Op) {
					case "read":
						rd += e.Value
					case "write":
						wr += e.Value
					}
				}
				lim := "unlimited"
				if limit > 0 && limit < 1<<62 {
					lim = humanSize(int64(limit))
				}
				fmt.Fprintf(w, "%s\t%.2f%%\t%s / %s\t%.2f%%\t%s / %s\t%d\n", id, cpu, humanSize(int64(used)), lim, memPct, humanSize(int64(rd)), humanSize(int64(wr)), b.Pids.Current)
			}
			w.Flush()
		}
		if *noStream {
			return nil
		}
		prev, pt = cur, ct
	}
}

func runAttach(g *globals, args []string) error {
	fs := newFlags("attach")
	noStdin := fs.Bool("no-stdin", false, "do not attach stdin")
	detachKeys := fs.String("detach-keys", defaultDetachKeys, "keys that detach from the container")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"requires exactly 1 argument"}
	}
	keys, err := parseDetachKeys(*detachKeys)
	if err != nil {
		return usageError{err.Error()}
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := c.Containers().Attach(c.Context(ctx))
	if err != nil {
		return err
	}
	o := client.IO{Stdout: os.Stdout, Stderr: os.Stderr}
	if !*noStdin {
		o.Stdin = &detachReader{r: os.Stdin, keys: keys, detach: cancel}
	}
	ex, err := client.StreamIO(st, &berthv1.IORequest{Id: pos[0], Attach: true, Stdin: !*noStdin}, o)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(os.Stderr, "read escape sequence: detached from %s, it keeps running\n", pos[0])
			return nil
		}
		return err
	}
	c.Close()
	os.Exit(ex.Code)
	return nil
}

func init() {
	register(&command{name: "update", usage: "update [--memory M] [--memory-swap M] [--cpus N] [--cpu-shares N] [--cpuset-cpus L] [--pids-limit N] [--restart P] CONTAINER [CONTAINER...]", short: "Update the resource limits of containers", run: runUpdate})
}

func runUpdate(g *globals, args []string) error {
	fs := newFlags("update")
	req := &berthv1.UpdateContainerRequest{}
	fs.StringVar(&req.Memory, "m", "", "memory limit")
	fs.StringVar(&req.Memory, "memory", "", "memory limit")
	fs.StringVar(&req.MemorySwap, "memory-swap", "", "memory plus swap; -1 unlimited")
	fs.StringVar(&req.Cpus, "cpus", "", "number of CPUs")
	fs.StringVar(&req.CpuShares, "cpu-shares", "", "CPU shares")
	fs.StringVar(&req.CpusetCpus, "cpuset-cpus", "", "CPUs allowed")
	fs.StringVar(&req.PidsLimit, "pids-limit", "", "process limit (-1 unlimited)")
	fs.StringVar(&req.Restart, "restart", "", "restart policy")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	return eachContainer(g, pos, true, func(ctx context.Context, c *client.Client, id string) error {
		r := &berthv1.UpdateContainerRequest{Id: id, Memory: req.Memory, MemorySwap: req.MemorySwap, Cpus: req.Cpus,
			CpuShares: req.CpuShares, CpusetCpus: req.CpusetCpus, PidsLimit: req.PidsLimit, Restart: req.Restart}
		_, err := c.Containers().Update(c.Context(ctx), r)
		return err
	})
}

// expandBoolShorts splits combined short boolean flags ("-ai") into single
// ones ("-a", "-i") when every letter is one of bools.
func expandBoolShorts(args []string, bools string) []string {
	var out []string
	for _, a := range args {
		if len(a) > 2 && a[0] == '-' && a[1] != '-' && strings.Trim(a[1:], bools) == "" {
			for _, c := range a[1:] {
				out = append(out, "-"+string(c))
			}
			continue
		}
		out = append(out, a)
	}
	return out
}
