package main

import (
	"encoding/json"
	"os"
)

func cmdState(g *globals, args []string) (int, error) {
	fs := newFlags("state")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 1, err
	}
	if err := needArgs("state", pos, 1, 1, "<container-id>"); err != nil {
		return 1, err
	}
	info, err := g.runtime().State(pos[0])
	if err != nil {
		return 1, err
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return 1, err
	}
	os.Stdout.Write(append(b, '\n'))
	return 0, nil
}
