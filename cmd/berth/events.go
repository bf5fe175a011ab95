package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/client"
	"github.com/berth-containers/berth/network"
	"github.com/berth-containers/berth/volume"
)

func init() {
	register(&command{name: "events", usage: "events [--filter KEY=VALUE] [--format json]", short: "Stream container events", run: runEvents})
	register(&command{name: "network", usage: "network create [--subnet CIDR] [--gateway IP] [--internal] NAME | ls | rm NAME... | inspect NAME...", short: "Manage networks", run: runNetwork})
	register(&command{name: "volume", usage: "volume create [NAME] | ls [--filter K=V] | rm [-f] NAME... | inspect NAME...", short: "Manage volumes", run: runVolume})
}

type eventOut struct {
	Time       time.Time         `json:"time"`
	Type       string            `json:"type"`
	Action     string            `json:"action"`
	ID         string            `json:"id"`
	Attributes map[string]string `json:"attributes"`
}

func runEvents(g *globals, args []string) error {
	fs := newFlags("events")
	var filters listFlag
	fs.Var(&filters, "f", "filter KEY=VALUE (type, event, container)")
	fs.Var(&filters, "filter", "filter KEY=VALUE")
	format := fs.String("format", "", "json: one JSON object a line")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	st, err := berthv1.NewEventsClient(c.Conn()).Subscribe(c.Context(ctx), &berthv1.SubscribeRequest{Filters: filters})
	if err != nil {
		return err
	}
	for {
		m, err := st.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if *format == "json" {
			fmt.Println(string(m.Event))
			continue
		}
		var e eventOut
		if err := json.Unmarshal(m.Event, &e); err != nil {
			return err
		}
		var attrs []string
		for k, v := range e.Attributes {
			attrs = append(attrs, k+"="+v)
		}
		sort.Strings(attrs)
		fmt.Printf("%s %s %s %s (%s)\n", e.Time.Local().Format("2006-01-02T15:04:05.000000000-07:00"), e.Type, e.Action, e.ID, strings.Join(attrs, ", "))
	}
}

func printJSONList(items [][]byte) {
	out := []json.RawMessage{}
	for _, b := range items {
		out = append(out, b)
	}
	b, _ := json.MarshalIndent(out, "", "    ")
	fmt.Println(string(b))
}

func runNetwork(g *globals, args []string) error {
	if len(args) == 0 {
		return usageError{"want a subcommand: create, ls, rm, inspect"}
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	nc := berthv1.NewNetworksClient(c.Conn())
	switch args[0] {
	case "create":
		fs := newFlags("network create")
		subnet := fs.String("subnet", "", "IPv4 subnet in CIDR form")
		gateway := fs.String("gateway", "", "gateway address")
		driver := fs.String("d", "bridge", "driver (bridge)")
		fs.StringVar(driver, "driver", "bridge", "driver (bridge)")
		internal := fs.Bool("internal", false, "no outside access")
		var labels listFlag
		fs.Var(&labels, "label", "label KEY=VALUE")
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError{"network create requires exactly 1 argument"}
		}
		lm := map[string]string{}
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			lm[k] = v
		}
		r, err := nc.Create(c.Context(ctx), &berthv1.CreateNetworkRequest{Name: pos[0], Subnet: *subnet, Gateway: *gateway, Driver: *driver, Internal: *internal, Labels: lm})
		if err != nil {
			return err
		}
		var n network.Network
		_ = json.Unmarshal(r.Network, &n)
		fmt.Println(n.ID)
	case "ls", "list":
		r, err := nc.List(c.Context(ctx), &berthv1.ListNetworksRequest{})
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 0, 3, ' ', 0)
		fmt.Fprintln(w, "NETWORK ID\tNAME\tDRIVER\tSUBNET\tCONTAINERS")
		for _, b := range r.Networks {
			var n network.Network
			if err := json.Unmarshal(b, &n); err != nil {
				return err
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\n", shortID(n.ID), n.Name, n.Driver, n.Subnet, len(n.Containers))
		}
		return w.Flush()
	case "rm", "remove":
		return eachContainer(g, args[1:], true, func(ctx context.Context, _ *client.Client, name string) error {
			_, err := nc.Remove(c.Context(ctx), &berthv1.NetworkRef{Name: name})
			return err
		})
	case "inspect":
		var out [][]byte
		err := eachContainer(g, args[1:], false, func(ctx context.Context, _ *client.Client, name string) error {
			r, err := nc.Inspect(c.Context(ctx), &berthv1.NetworkRef{Name: name})
			if err == nil {
				out = append(out, r.Network)
			}
			return err
		})
		printJSONList(out)
		return err
	default:
		return usageError{fmt.Sprintf("unknown subcommand %q: want create, ls, rm, inspect", args[0])}
	}
	return nil
}

func runVolume(g *globals, args []string) error {
	if len(args) == 0 {
		return usageError{"want a subcommand: create, ls, rm, inspect"}
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	vc := berthv1.NewVolumesClient(c.Conn())
	switch args[0] {
	case "create":
		fs := newFlags("volume create")
		var labels listFlag
		fs.Var(&labels, "label", "label KEY=VALUE")
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) > 1 {
			return usageError{"volume create takes at most 1 argument"}
		}
		req := &berthv1.CreateVolumeRequest{Labels: map[string]string{}}
		if len(pos) == 1 {
			req.Name = pos[0]
		}
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			req.Labels[k] = v
		}
		r, err := vc.Create(c.Context(ctx), req)
		if err != nil {
			return err
		}
		var v volume.Volume
		_ = json.Unmarshal(r.Volume, &v)
		fmt.Println(v.Name)
	case "ls", "list":
		fs := newFlags("volume ls")
		var filters listFlag
		fs.Var(&filters, "f", "filter name=, label=, dangling=")
		fs.Var(&filters, "filter", "filter")
		quiet := fs.Bool("q", false, "only names")
		if _, err := parseArgs(fs, args[1:]); err != nil {
			return err
		}
		r, err := vc.List(c.Context(ctx), &berthv1.ListVolumesRequest{Filters: filters})
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 0, 3, ' ', 0)
		if !*quiet {
			fmt.Fprintln(w, "DRIVER\tVOLUME NAME")
		}
		for _, b := range r.Volumes {
			var v volume.Volume
			if err := json.Unmarshal(b, &v); err != nil {
				return err
			}
			if *quiet {
				fmt.Fprintln(w, v.Name)
			} else {
				fmt.Fprintf(w, "%s\t%s\n", v.Driver, v.Name)
			}
		}
		return w.Flush()
	case "rm", "remove":
		fs := newFlags("volume rm")
		force := fs.Bool("f", false, "remove even when in use")
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		return eachContainer(g, pos, true, func(ctx context.Context, _ *client.Client, name string) error {
			_, err := vc.Remove(c.Context(ctx), &berthv1.RemoveVolumeRequest{Name: name, Force: *force})
			return err
		})
	case "inspect":
		var out [][]byte
		err := eachContainer(g, args[1:], false, func(ctx context.Context, _ *client.Client, name string) error {
			r, err := vc.Inspect(c.Context(ctx), &berthv1.VolumeRef{Name: name})
			if err == nil {
				out = append(out, r.Volume)
			}
			return err
		})
		printJSONList(out)
		return err
	default:
		return usageError{fmt.Sprintf("unknown subcommand %q: want create, ls, rm, inspect", args[0])}
	}
	return nil
}
