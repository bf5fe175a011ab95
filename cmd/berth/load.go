package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

func init() {
	register(&command{name: "load", usage: "load [-i FILE] [-q]", short: "Load images from a tar (docker-archive or OCI layout)", run: runLoad})
}

func runLoad(g *globals, args []string) error {
	fs := newFlags("load")
	in := fs.String("i", "", "read from FILE instead of standard input")
	fs.StringVar(in, "input", "", "read from FILE instead of standard input")
	quiet := fs.Bool("q", false, "print nothing")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{"accepts no arguments"}
	}
	var r io.Reader = os.Stdin
	if *in != "" {
		f, err := os.Open(*in)
		if err != nil {
			return fmt.Errorf("load -i %s: %w", *in, err)
		}
		defer f.Close()
		r = f
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := c.Import(context.Background(), r)
	if err != nil {
		return err
	}
	if !*quiet {
		for _, img := range resp.Images {
			fmt.Printf("Loaded image: %s\n", img.Name)
		}
	}
	return nil
}
