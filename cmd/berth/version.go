package main

import (
	"context"
	"fmt"

	"github.com/berth-containers/berth/internal/version"
)

func init() {
	register(&command{name: "version", usage: "version", short: "Show the client and daemon versions", run: runVersion})
}

func runVersion(g *globals, args []string) error {
	fmt.Printf("Client:\n Version:\t%s\n", version.Version)
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	v, err := c.Version(context.Background())
	if err != nil {
		return err
	}
	fmt.Printf("\nServer:\n Version:\t%s\n Go version:\t%s\n OS/Arch:\t%s/%s\n Root:\t\t%s\n", v.Version, v.GoVersion, v.Os, v.Arch, v.Root)
	return nil
}
