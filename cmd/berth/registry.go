package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
)

func init() {
	register(&command{name: "registry", usage: "registry resolve REF", short: "Show where a reference would be fetched from", run: runRegistry})
}

func runRegistry(g *globals, args []string) error {
	if len(args) == 0 || args[0] != "resolve" {
		return usageError{"want: registry resolve REF"}
	}
	pos, err := parseArgs(newFlags("registry resolve"), args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"registry resolve requires exactly 1 argument"}
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := c.Registry().Resolve(c.Context(context.Background()), &berthv1.ResolveRequest{Ref: pos[0]})
	if err != nil {
		return err
	}
	fmt.Printf("%s is tried at, in order:\n", resp.Name)
	tw := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tENDPOINT\tCAPABILITIES\tKIND\tFROM")
	for i, e := range resp.Endpoints {
		kind := "upstream"
		if e.Mirror {
			kind = "mirror"
		}
		if e.SkipVerify {
			kind += ", tls unverified"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", i+1, e.Url, e.Capabilities, kind, e.Source)
	}
	return tw.Flush()
}
