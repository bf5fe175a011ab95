package main

import (
	"context"
	"fmt"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
)

func init() {
	register(&command{name: "logout", usage: "logout [SERVER]", short: "Forget a registry's credentials", run: runLogout})
}

func runLogout(g *globals, args []string) error {
	pos, err := parseArgs(newFlags("logout"), args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageError{"accepts at most 1 argument"}
	}
	server := ""
	if len(pos) == 1 {
		server = pos[0]
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := c.Registry().Logout(c.Context(context.Background()), &berthv1.LogoutRequest{Server: server})
	if err != nil {
		return err
	}
	if !resp.Removed {
		fmt.Printf("Not logged in to %s\n", orDefault(server, "docker.io"))
		return nil
	}
	fmt.Printf("Removing login credentials for %s\n", orDefault(server, "docker.io"))
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
