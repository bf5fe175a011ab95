package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	digest "github.com/opencontainers/go-digest"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/registry/reference"
)

func init() {
	register(&command{name: "images", usage: "images [-q] [--format table|json] [--filter F]", short: "List images", run: runImages})
}

type imageRow struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	ID         string `json:"id"`
	Size       int64  `json:"size"`
	Created    string `json:"created"`
	Unpacked   bool   `json:"unpacked"`
}

// splitName gives docker's REPOSITORY and TAG columns of a stored name.
func splitName(name string) (repo, tag string) {
	if _, err := digest.Parse(name); err == nil {
		return "<none>", "<none>" // named only by its digest (an untagged load)
	}
	n, err := reference.ParseNormalized(name)
	if err != nil {
		return "<none>", "<none>"
	}
	fam := n.Familiar()
	repo = fam
	if i := strings.IndexByte(repo, '@'); i >= 0 {
		repo = repo[:i]
	}
	if n.Tag != "" {
		repo = strings.TrimSuffix(repo, ":"+n.Tag)
		return repo, n.Tag
	}
	return repo, "<none>"
}

func runImages(g *globals, args []string) error {
	fs := newFlags("images")
	quiet := fs.Bool("q", false, "print only image ids")
	format := fs.String("format", "table", "table or json")
	var filters multiFlag
	fs.Var(&filters, "filter", "filter (name==…, labels.\"k\"==v); repeatable")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return usageError{fmt.Sprintf("--format %q: want table or json", *format)}
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	fl := []string(filters)
	for _, p := range pos {
		// `berth images busybox` lists that repository.
		n, err := reference.ParseNormalizedName(p)
		if err != nil {
			return fmt.Errorf("invalid reference %q: %w", p, err)
		}
		fl = append(fl, "name~="+"^"+regexpQuote(n.Domain+"/"+n.Path)+"[:@]")
	}
	resp, err := c.Images().List(c.Context(context.Background()), &berthv1.ListImagesRequest{Filters: fl})
	if err != nil {
		return err
	}
	// An image loaded without a name is kept under its digest; once it is
	// tagged, that record is not listed (as docker lists a tagged image only
	// under its tags).
	named := map[string]bool{}
	for _, img := range resp.Images {
		if _, err := digest.Parse(img.Name); err != nil && img.Target != nil {
			named[img.Target.Digest] = true
		}
	}
	var rows []imageRow
	for _, img := range resp.Images {
		if _, err := digest.Parse(img.Name); err == nil && img.Target != nil && named[img.Target.Digest] {
			continue
		}
		repo, tag := splitName(img.Name)
		id := img.ConfigDigest
		if id == "" && img.Target != nil {
			id = img.Target.Digest
		}
		r := imageRow{Repository: repo, Tag: tag, Name: img.Name, ID: id, Size: img.Size, Unpacked: img.Unpacked}
		if img.Target != nil {
			r.Digest = img.Target.Digest
		}
		if img.CreatedAt != nil {
			r.Created = img.CreatedAt.AsTime().Format("2006-01-02T15:04:05Z07:00")
		}
		rows = append(rows, r)
	}
	switch {
	case *quiet:
		seen := map[string]bool{}
		for _, r := range rows {
			if !seen[r.ID] {
				seen[r.ID] = true
				fmt.Println(shortDigest(r.ID))
			}
		}
	case *format == "json":
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if rows == nil {
			rows = []imageRow{}
		}
		return enc.Encode(rows)
	default:
		tw := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
		fmt.Fprintln(tw, "REPOSITORY\tTAG\tDIGEST\tIMAGE ID\tCREATED\tSIZE")
		for i, r := range rows {
			created := "N/A"
			if img := resp.Images[i]; img.CreatedAt != nil {
				created = ago(img.CreatedAt.AsTime())
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Repository, r.Tag, shortDigest(r.Digest), shortDigest(r.ID), created, humanSize(r.Size))
		}
		return tw.Flush()
	}
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
