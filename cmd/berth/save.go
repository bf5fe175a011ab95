package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/term"
)

func init() {
	register(&command{name: "save", usage: "save [-o FILE] [--platform P] IMAGE [IMAGE...]", short: "Write images to a tar (OCI layout + docker manifest.json)", run: runSave})
}

func runSave(g *globals, args []string) error {
	fs := newFlags("save")
	out := fs.String("o", "", "write to FILE instead of standard output")
	fs.StringVar(out, "output", "", "write to FILE instead of standard output")
	platform := fs.String("platform", "", "platform of images whose index is incomplete")
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
	if *out == "" {
		if term.IsTerminal(int(os.Stdout.Fd())) {
			return fmt.Errorf("cowardly refusing to save to a terminal. Use the -o flag or redirect")
		}
		return c.Export(context.Background(), pos, *platform, os.Stdout)
	}
	// Write next to the destination and rename: a failed save leaves no file.
	tmp, err := os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".tmp-*")
	if err != nil {
		return fmt.Errorf("save -o %s: %w", *out, err)
	}
	defer os.Remove(tmp.Name())
	if err := c.Export(context.Background(), pos, *platform, tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), *out)
}
