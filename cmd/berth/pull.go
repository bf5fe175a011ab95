package main

import (
	"context"
	"fmt"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
)

func init() {
	register(&command{name: "pull", usage: "pull [--platform os/arch[/variant]] [-q] NAME[:TAG|@DIGEST]", short: "Download an image from a registry", run: runPull})
}

func runPull(g *globals, args []string) error {
	fs := newFlags("pull")
	platform := fs.String("platform", "", "platform os/arch[/variant] (default: the daemon's)")
	quiet := fs.Bool("q", false, "print only the image name")
	fs.BoolVar(quiet, "quiet", false, "print only the image name")
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
	last, err := c.Pull(context.Background(), &berthv1.PullRequest{Ref: pos[0], Platform: *platform}, p.update)
	if err != nil {
		return err
	}
	name := pos[0]
	if last.Image != nil {
		name = last.Image.Name
	}
	if *quiet {
		fmt.Println(name)
		return nil
	}
	fmt.Printf("Digest: %s\nStatus: Downloaded image for %s\n%s\n", last.ResolvedDigest, name, name)
	return nil
}
