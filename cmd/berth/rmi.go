package main

import (
	"context"
	"errors"
	"fmt"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
)

func init() {
	register(&command{name: "rmi", usage: "rmi [-f] [--no-gc] IMAGE [IMAGE...]", short: "Remove images (and free their disk space)", run: runRmi})
}

func runRmi(g *globals, args []string) error {
	fs := newFlags("rmi")
	force := fs.Bool("f", false, "remove even if several names share the image")
	noGC := fs.Bool("no-gc", false, "only remove the names; leave garbage for the next collection")
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
	var errs []error
	for _, name := range pos {
		resp, err := c.Images().Delete(c.Context(context.Background()), &berthv1.DeleteImageRequest{Name: name, Force: *force, Sync: !*noGC})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, u := range resp.Untagged {
			fmt.Println("Untagged:", u)
		}
		for _, d := range resp.Deleted {
			fmt.Println("Deleted:", d)
		}
	}
	return errors.Join(errs...)
}
