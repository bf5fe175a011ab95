package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"text/tabwriter"
	"time"
)

func cmdList(g *globals, args []string) (int, error) {
	fs := newFlags("list")
	format := fs.String("format", "table", "table or json")
	fs.StringVar(format, "f", "table", "table or json")
	quiet := fs.Bool("quiet", false, "print ids only")
	fs.BoolVar(quiet, "q", false, "print ids only")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 1, err
	}
	if err := needArgs("list", pos, 0, 0, "[--format table|json] [--quiet]"); err != nil {
		return 1, err
	}
	list, err := g.runtime().List()
	if err != nil {
		return 1, err
	}
	if *quiet {
		for _, c := range list {
			fmt.Println(c.ID)
		}
		return 0, nil
	}
	switch *format {
	case "json":
		b, err := json.Marshal(list)
		if err != nil {
			return 1, err
		}
		os.Stdout.Write(append(b, '\n'))
	case "table":
		w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
		fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
		for _, c := range list {
			owner := c.Owner
			if u, err := user.LookupId(owner); err == nil {
				owner = u.Username
			}
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", c.ID, c.Pid, c.Status, c.Bundle, c.Created.Format(time.RFC3339Nano), owner)
		}
		w.Flush()
	default:
		return 1, fmt.Errorf("list: --format %q: want table or json", *format)
	}
	return 0, nil
}
