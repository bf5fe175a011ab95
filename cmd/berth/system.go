package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
)

func init() {
	register(&command{name: "system", usage: "system df | system info | system check [--remove] | system prune", short: "Disk usage, orphan check, cleanup", run: runSystem})
	register(&command{name: "gc", usage: "gc", short: "Collect garbage: free every blob and snapshot nothing references", run: runGC})
	register(&command{name: "image-prune", usage: "image prune [-a]", short: "Remove untagged (with -a: all) images and free their space", hidden: true, run: runImagePrune})
}

func runSystem(g *globals, args []string) error {
	if len(args) == 0 {
		return usageError{"requires a subcommand: df, check or prune"}
	}
	switch args[0] {
	case "df":
		return runDF(g, args[1:])
	case "info":
		return runInfo(g, args[1:])
	case "check":
		return runCheck(g, args[1:])
	case "prune":
		if err := runGC(g, nil); err != nil {
			return err
		}
		return runCheck(g, []string{"--remove"})
	}
	return usageError{"unknown subcommand " + args[0]}
}

func runDF(g *globals, args []string) error {
	if _, err := parseArgs(newFlags("system df"), args); err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	u, err := c.Images().Usage(c.Context(context.Background()), &berthv1.UsageRequest{})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tTOTAL\tSIZE\tRECLAIMABLE")
	fmt.Fprintf(tw, "Images\t%d\t%s\t%s\n", u.Images, humanSize(u.ContentBytes+u.SnapshotBytes), humanSize(u.ReclaimableBytes))
	fmt.Fprintf(tw, "Content blobs\t%d\t%s\t\n", u.ContentBlobs, humanSize(u.ContentBytes))
	fmt.Fprintf(tw, "Snapshots\t%d\t%s\t\n", u.Snapshots, humanSize(u.SnapshotBytes))
	return tw.Flush()
}

func runCheck(g *globals, args []string) error {
	fs := newFlags("system check")
	remove := fs.Bool("remove", false, "remove what is found")
	anyAge := fs.Bool("all-ingests", false, "count every unfinished download as stale, not only those older than a day")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	req := &berthv1.CheckRequest{Remove: *remove}
	if *anyAge {
		req.IngestAgeNs = -1
	}
	r, err := c.GC().Check(c.Context(context.Background()), req)
	if err != nil {
		return err
	}
	n := len(r.Blobs) + len(r.Snapshots) + len(r.Ingests) + len(r.Files) + len(r.Dangling)
	verb := "found"
	if r.Removed {
		verb = "removed"
	}
	for _, x := range []struct {
		kind  string
		items []string
	}{{"blob", r.Blobs}, {"snapshot", r.Snapshots}, {"ingest", r.Ingests}, {"file", r.Files}, {"dangling record", r.Dangling}} {
		for _, i := range x.items {
			fmt.Printf("orphan %s %s: %s\n", x.kind, verb, i)
		}
	}
	if n == 0 {
		fmt.Println("no orphans")
	} else {
		fmt.Printf("%d orphans %s\n", n, verb)
	}
	return nil
}

func runGC(g *globals, args []string) error {
	if _, err := parseArgs(newFlags("gc"), args); err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := c.GC().Collect(c.Context(context.Background()), &berthv1.CollectRequest{})
	if err != nil {
		return err
	}
	fmt.Printf("removed %d blobs, %d snapshots, %d leases; reclaimed %s in %s\n", r.ContentDeleted, r.SnapshotsDeleted, r.LeasesDeleted,
		humanSize(r.BytesFreed), time.Duration(r.DurationNs).Round(time.Millisecond))
	return nil
}

func runImagePrune(g *globals, args []string) error {
	fs := newFlags("image prune")
	all := fs.Bool("a", false, "remove all images, not only untagged ones")
	fs.BoolVar(all, "all", false, "remove all images, not only untagged ones")
	fs.Bool("f", false, "do not prompt (berth never prompts)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := c.Images().Prune(c.Context(context.Background()), &berthv1.PruneImagesRequest{All: *all})
	if err != nil {
		return err
	}
	for _, d := range r.Deleted {
		fmt.Println("Deleted:", d)
	}
	fmt.Printf("Total reclaimed space: %s\n", humanSize(r.ReclaimedBytes))
	return nil
}
