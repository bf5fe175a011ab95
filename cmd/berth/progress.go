package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
)

// progressPrinter shows pull and push progress: one line per blob redrawn in
// place on a terminal, plain lines on each change otherwise, nothing when
// quiet.
type progressPrinter struct {
	w      io.Writer
	tty    bool
	quiet  bool
	lines  int
	seen   map[string]string // ref → last status printed (plain mode)
	status string
}

func newProgressPrinter(quiet bool) *progressPrinter {
	return &progressPrinter{w: os.Stdout, tty: term.IsTerminal(int(os.Stdout.Fd())), quiet: quiet, seen: map[string]string{}}
}

func (p *progressPrinter) update(m *berthv1.PullProgress) {
	if p.quiet {
		return
	}
	if p.tty {
		p.redraw(m)
		return
	}
	defer func() {
		if m.Status != "" && m.Status != p.status {
			p.status = m.Status
			fmt.Fprintln(p.w, m.Status)
		}
	}()
	for _, b := range m.Blobs {
		if p.seen[b.Ref] == b.Status {
			continue
		}
		p.seen[b.Ref] = b.Status
		switch b.Status {
		case "waiting":
			continue
		case "done", "exists":
			fmt.Fprintf(p.w, "%s: %s %s%s\n", blobName(b), b.Status, humanSize(b.Total), speed(b))
		default:
			fmt.Fprintf(p.w, "%s: %s %s\n", blobName(b), b.Status, humanSize(b.Total))
		}
	}
}

func blobName(b *berthv1.BlobProgress) string {
	kind, _, _ := strings.Cut(b.Ref, "-")
	return fmt.Sprintf("%-8s %s", kind, shortDigest(b.Digest))
}

func speed(b *berthv1.BlobProgress) string {
	if b.StartedAt == nil || b.Offset <= 0 {
		return ""
	}
	end := time.Now()
	if b.DoneAt != nil {
		end = b.DoneAt.AsTime()
	}
	el := end.Sub(b.StartedAt.AsTime()).Seconds()
	if el <= 0.001 || b.Offset < 64<<10 {
		return ""
	}
	return fmt.Sprintf(" (%s/s)", humanSize(int64(float64(b.Offset)/el)))
}

func (p *progressPrinter) redraw(m *berthv1.PullProgress) {
	var b strings.Builder
	if p.lines > 0 {
		fmt.Fprintf(&b, "\033[%dA", p.lines)
	}
	lines := 0
	fmt.Fprintf(&b, "\033[2K%s\n", m.Status)
	lines++
	for _, x := range m.Blobs {
		fmt.Fprintf(&b, "\033[2K%s: %-11s %s\n", blobName(x), x.Status, bar(x))
		lines++
	}
	p.lines = lines
	io.WriteString(p.w, b.String())
}

func bar(x *berthv1.BlobProgress) string {
	if x.Total <= 0 {
		return ""
	}
	const width = 30
	fill := int(float64(width) * float64(x.Offset) / float64(x.Total))
	fill = max(0, min(width, fill))
	s := "[" + strings.Repeat("=", fill)
	if fill < width {
		s += ">" + strings.Repeat(" ", width-fill-1)
	}
	s += "] " + humanSize(x.Offset) + "/" + humanSize(x.Total)
	if x.Status == "downloading" || x.Status == "uploading" {
		s += speed(x)
	}
	return s
}
