package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

func cmdPs(g *globals, args []string) (int, error) {
	fs := newFlags("ps")
	format := fs.String("format", "table", "table or json")
	fs.StringVar(format, "f", "table", "table or json")
	pos, err := parseLeading(fs, args)
	if err != nil {
		return 1, err
	}
	if len(pos) < 1 {
		return 1, fmt.Errorf("ps: usage: berth-runtime ps [--format table|json] <container-id> [ps options]")
	}
	id, psArgs := pos[0], pos[1:]
	if len(psArgs) > 0 && psArgs[0] == "--" {
		psArgs = psArgs[1:]
	}
	pids, err := g.runtime().Pids(id)
	if err != nil {
		return 1, err
	}
	switch *format {
	case "json":
		if pids == nil {
			pids = []int{}
		}
		b, _ := json.Marshal(pids)
		os.Stdout.Write(append(b, '\n'))
		return 0, nil
	case "table":
	default:
		return 1, fmt.Errorf("ps: --format %q: want table or json", *format)
	}
	if len(psArgs) == 0 {
		psArgs = []string{"-ef"}
	}
	out, err := exec.Command("ps", psArgs...).Output()
	if err != nil {
		return 1, fmt.Errorf("ps: run ps %s: %w", strings.Join(psArgs, " "), err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	col := -1
	for i, f := range strings.Fields(lines[0]) {
		if f == "PID" {
			col = i
		}
	}
	if col < 0 {
		return 1, fmt.Errorf("ps: no PID column in the output of ps %s", strings.Join(psArgs, " "))
	}
	in := map[int]bool{}
	for _, p := range pids {
		in[p] = true
	}
	var b bytes.Buffer
	b.WriteString(lines[0] + "\n")
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) > col {
			if p, err := strconv.Atoi(f[col]); err == nil && in[p] {
				b.WriteString(l + "\n")
			}
		}
	}
	os.Stdout.Write(b.Bytes())
	return 0, nil
}
