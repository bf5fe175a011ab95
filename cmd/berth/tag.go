package main

import (
	"context"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
)

func init() {
	register(&command{name: "tag", usage: "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", short: "Give an image another name", run: runTag})
}

func runTag(g *globals, args []string) error {
	pos, err := parseArgs(newFlags("tag"), args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError{"requires exactly 2 arguments"}
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Images().Tag(c.Context(context.Background()), &berthv1.TagImageRequest{Source: pos[0], Target: pos[1]})
	return err
}
