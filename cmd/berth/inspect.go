package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
)

func init() {
	register(&command{name: "image-inspect", usage: "image inspect IMAGE [IMAGE...]", short: "Show an image's details as JSON", hidden: true,
		run: func(g *globals, args []string) error { return inspectAny(g, args, false) }})
	register(&command{name: "inspect", usage: "inspect CONTAINER|IMAGE [...]", short: "Show a container's or an image's details as JSON", run: runInspect})
}

type inspectOut struct {
	Name       string                `json:"Name"`
	Id         string                `json:"Id"`
	RepoDigest string                `json:"RepoDigest"`
	Target     *berthv1.Descriptor   `json:"Target"`
	Manifest   *berthv1.Descriptor   `json:"Manifest"`
	Layers     []*berthv1.Descriptor `json:"Layers"`
	Size       int64                 `json:"Size"`
	Unpacked   bool                  `json:"Unpacked"`
	Labels     map[string]string     `json:"Labels,omitempty"`
	CreatedAt  string                `json:"CreatedAt"`
	Config     json.RawMessage       `json:"Config"`
}

func runInspect(g *globals, args []string) error { return inspectAny(g, args, true) }

// inspectAny inspects images, and containers first when containers is set.
func inspectAny(g *globals, args []string, containers bool) error {
	pos, err := parseArgs(newFlags("inspect"), args)
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
	var out []any
	var errs []error
	for _, n := range pos {
		// A container of that name or id comes first, as with docker inspect.
		if containers {
			if cr, err := c.Containers().Inspect(c.Context(context.Background()), &berthv1.ContainerRef{Id: n}); err == nil {
				out = append(out, json.RawMessage(cr.Container))
				continue
			}
		}
		r, err := c.Images().Get(c.Context(context.Background()), &berthv1.GetImageRequest{Name: n})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o := inspectOut{Name: r.Image.Name, Id: r.Config.GetDigest(), Target: r.Image.Target, Manifest: r.Manifest, Layers: r.Layers,
			Size: r.Image.Size, Unpacked: r.Image.Unpacked, Labels: r.Image.Labels, Config: json.RawMessage(r.ConfigJson)}
		if r.Image.Target != nil {
			o.RepoDigest = r.Image.Name + "@" + r.Image.Target.Digest
		}
		if r.Image.CreatedAt != nil {
			o.CreatedAt = r.Image.CreatedAt.AsTime().Format("2006-01-02T15:04:05.999999999Z07:00")
		}
		if len(o.Config) == 0 || !json.Valid(o.Config) {
			o.Config = json.RawMessage("null")
		}
		out = append(out, o)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "    ")
	if out == nil {
		out = []any{}
	}
	if err := enc.Encode(out); err != nil {
		return err
	}
	return errors.Join(errs...)
}
