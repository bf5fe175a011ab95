package main

import (
	"context"
	"fmt"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
)

func init() {
	register(&command{name: "push", usage: "push [-q] [--platform P] NAME[:TAG]", short: "Upload an image to a registry", run: runPush})
}

func runPush(g *globals, args []string) error {
	fs := newFlags("push")
	platform := fs.String("platform", "", "platform to push when the image's index is incomplete")
	quiet := fs.Bool("q", false, "print only the pushed digest")
	pos, err := parseArgs(fs, args)
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
	p := newProgressPrinter(*quiet)
	last, err := c.Push(context.Background(), &berthv1.PushRequest{Ref: pos[0], Platform: *platform}, p.update)
	if err != nil {
		return err
	}
	if *quiet {
		fmt.Println(last.ResolvedDigest)
		return nil
	}
	fmt.Printf("%s: digest: %s\n", pos[0], last.ResolvedDigest)
	return nil
}
