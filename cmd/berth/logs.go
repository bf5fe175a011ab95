package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/client"
)

func init() {
	register(&command{name: "logs", usage: "logs [-f] [--tail N] [--since T] [-t] CONTAINER", short: "Fetch the logs of a container", run: runLogs})
	register(&command{name: "exec", usage: "exec [-i] [-t] [-d] [-e K=V] [-u USER] [-w DIR] CONTAINER COMMAND [ARG...]", short: "Run a command in a running container", run: runExec})
}

// parseSince takes an RFC 3339 time, a Unix timestamp or a duration ago ("10m").
func parseSince(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Unix(0, int64(f*1e9)), nil
	}
	return time.Time{}, fmt.Errorf("invalid value for \"since\": %q: want a duration (10m), an RFC 3339 time or a Unix timestamp", s)
}

func runLogs(g *globals, args []string) error {
	fs := newFlags("logs")
	follow := fs.Bool("f", false, "follow the output")
	fs.BoolVar(follow, "follow", false, "follow the output")
	tail := fs.String("tail", "all", "lines from the end to show (all or N)")
	fs.StringVar(tail, "n", "all", "lines from the end to show")
	since := fs.String("since", "", "only entries since this time or duration ago")
	until := fs.String("until", "", "only entries before this time or duration ago")
	ts := fs.Bool("t", false, "show timestamps")
	fs.BoolVar(ts, "timestamps", false, "show timestamps")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"requires exactly 1 argument"}
	}
	req := &berthv1.LogsRequest{Id: pos[0], Follow: *follow, Tail: -1}
	if *tail != "all" {
		n, err := strconv.Atoi(*tail)
		if err != nil || n < 0 {
			return fmt.Errorf("invalid value for \"tail\": %q: want a number or all", *tail)
		}
		req.Tail = int32(n)
	}
	if t, err := parseSince(*since); err != nil {
		return err
	} else if !t.IsZero() {
		req.SinceUnixNano = t.UnixNano()
	}
	if t, err := parseSince(*until); err != nil {
		return err
	} else if !t.IsZero() {
		req.UntilUnixNano = t.UnixNano()
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	st, err := c.Containers().Logs(c.Context(ctx), req)
	if err != nil {
		return err
	}
	for {
		f, err := st.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		w := os.Stdout
		if f.Stream == "stderr" {
			w = os.Stderr
		}
		if *ts {
			fmt.Fprint(w, time.Unix(0, f.TimeUnixNano).UTC().Format(time.RFC3339Nano)+" ")
		}
		w.Write(f.Data)
	}
}

func runExec(g *globals, args []string) error {
	fs := newFlags("exec")
	var p struct {
		Args       []string `json:"args"`
		Env        []string `json:"env,omitempty"`
		User       string   `json:"user,omitempty"`
		WorkingDir string   `json:"workingDir,omitempty"`
		Tty        bool     `json:"tty,omitempty"`
		Stdin      bool     `json:"stdin,omitempty"`
		Detach     bool     `json:"detach,omitempty"`
		Privileged bool     `json:"privileged,omitempty"`
	}
	fs.BoolVar(&p.Stdin, "i", false, "keep stdin open")
	fs.BoolVar(&p.Stdin, "interactive", false, "keep stdin open")
	fs.BoolVar(&p.Tty, "t", false, "allocate a terminal")
	fs.BoolVar(&p.Tty, "tty", false, "allocate a terminal")
	fs.BoolVar(&p.Detach, "d", false, "run in the background")
	fs.BoolVar(&p.Detach, "detach", false, "run in the background")
	var env listFlag
	fs.Var(&env, "e", "set an environment variable")
	fs.Var(&env, "env", "set an environment variable")
	fs.StringVar(&p.User, "u", "", "user[:group]")
	fs.StringVar(&p.User, "user", "", "user[:group]")
	fs.StringVar(&p.WorkingDir, "w", "", "working directory")
	fs.StringVar(&p.WorkingDir, "workdir", "", "working directory")
	fs.BoolVar(&p.Privileged, "privileged", false, "give the command every capability")
	if err := fs.Parse(expandShorts(args)); err != nil {
		return err
	}
	pos := fs.Args()
	if len(pos) < 2 {
		return usageError{"requires at least 2 arguments"}
	}
	for _, e := range env {
		if v, ok := os.LookupEnv(e); ok && !containsEq(e) {
			e += "=" + v
		}
		p.Env = append(p.Env, e)
	}
	p.Args = pos[1:]
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	st, err := c.Containers().Exec(c.Context(ctx))
	if err != nil {
		return err
	}
	o, restore := terminalIO(p.Stdin && !p.Detach, p.Tty && !p.Detach)
	ex, err := client.StreamIO(st, &berthv1.IORequest{Id: pos[0], Exec: b, Attach: !p.Detach, Stdin: p.Stdin, Width: uint32(o.Size[0]), Height: uint32(o.Size[1])}, o)
	restore()
	if err != nil {
		return err
	}
	if ex.Detached {
		return nil
	}
	c.Close()
	os.Exit(ex.Code)
	return nil
}

func containsEq(s string) bool {
	for _, c := range s {
		if c == '=' {
			return true
		}
	}
	return false
}
