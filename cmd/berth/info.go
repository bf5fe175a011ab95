package main

import (
	"context"
	"fmt"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/client"
	"github.com/berth-containers/berth/container"
)

func init() {
	register(&command{name: "info", usage: "info", short: "Display system-wide information", run: runInfo})
}

func runInfo(g *globals, args []string) error {
	if _, err := parseArgs(newFlags("info"), args); err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	v, err := c.Version(ctx)
	if err != nil {
		return err
	}
	cl, err := c.Containers().List(c.Context(ctx), &berthv1.ListContainersRequest{All: true})
	if err != nil {
		return err
	}
	counts := map[container.State]int{}
	for _, b := range cl.Containers {
		ctr, err := client.DecodeContainer(b)
		if err != nil {
			return err
		}
		counts[ctr.Status.State]++
	}
	imgs, err := c.Images().List(c.Context(ctx), &berthv1.ListImagesRequest{})
	if err != nil {
		return err
	}
	fmt.Printf("Server:\n Containers: %d\n  Running: %d\n  Paused: %d\n  Stopped: %d\n Images: %d\n", len(cl.Containers),
		counts[container.StateRunning]+counts[container.StateRestarting], counts[container.StatePaused],
		counts[container.StateExited]+counts[container.StateCreated]+counts[container.StateDead], len(imgs.Images))
	fmt.Printf(" Server Version: %s\n Go Version: %s\n OS/Arch: %s/%s\n Daemon PID: %d\n Root Dir: %s\n State Dir: %s\n Namespace: %s\n",
		v.Version, v.GoVersion, v.Os, v.Arch, v.Pid, v.Root, v.State, c.Namespace())
	fmt.Printf(" Runtimes: %s %s %s\n Default Runtime: %s\n Init Binary: berth-init\n", container.RuntimeBerth, container.RuntimeRunc, container.RuntimeCrun, container.RuntimeBerth)
	return nil
}
