package main

import (
	"fmt"
	"os"
)

// `berth image SUBCOMMAND` groups the image commands, as docker does.
func init() {
	register(&command{name: "image", usage: "image COMMAND (inspect, ls, pull, push, rm, tag, save, load, prune)", short: "Manage images", run: runImage})
}

var imageSubcommands = map[string]string{
	"inspect": "image-inspect", "ls": "images", "list": "images", "pull": "pull", "push": "push",
	"rm": "rmi", "remove": "rmi", "tag": "tag", "save": "save", "load": "load", "prune": "image-prune",
}

func runImage(g *globals, args []string) error {
	if len(args) == 0 {
		return usageError{"requires a subcommand"}
	}
	target, ok := imageSubcommands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "berth image: unknown subcommand %q\n", args[0])
		return usageError{"unknown subcommand " + args[0]}
	}
	return commands[target].run(g, args[1:])
}
