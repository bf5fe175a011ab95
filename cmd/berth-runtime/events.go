package main

import (
	"encoding/json"
	"os"
	"time"

	"github.com/berth-containers/berth/runtime/container"
)

func cmdEvents(g *globals, args []string) (int, error) {
	fs := newFlags("events")
	stats := fs.Bool("stats", false, "print one stats event and exit")
	interval := fs.Duration("interval", 5*time.Second, "stats interval")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 1, err
	}
	if err := needArgs("events", pos, 1, 1, "[--stats] [--interval D] <container-id>"); err != nil {
		return 1, err
	}
	enc := json.NewEncoder(os.Stdout)
	if *stats {
		ev, err := g.runtime().Stats(pos[0])
		if err != nil {
			return 1, err
		}
		return 0, enc.Encode(ev)
	}
	return 0, g.runtime().Events(pos[0], *interval, func(e *container.Event) error { return enc.Encode(e) })
}
