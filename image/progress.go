package image

import (
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Blob states reported by a Tracker.
const (
	StatusWaiting     = "waiting"
	StatusDownloading = "downloading"
	StatusExists      = "exists"
	StatusUnpacking   = "unpacking"
	StatusUploading   = "uploading"
	StatusDone        = "done"
	StatusError       = "error"
)

// BlobProgress is the state of one blob of a transfer.
type BlobProgress struct {
	Ref       string // "manifest-sha256:…", "config-sha256:…", "layer-sha256:…"
	Digest    string
	MediaType string
	Offset    int64
	Total     int64
	Status    string
	StartedAt time.Time
	DoneAt    time.Time
}

// Tracker records the progress of one transfer; the API polls Snapshot. A
// nil *Tracker ignores everything.
type Tracker struct {
	mu     sync.Mutex
	order  []string
	blobs  map[string]*trackedBlob
	status string
}

type trackedBlob struct {
	p      BlobProgress
	offset atomic.Int64
}

func (b *trackedBlob) setStatus(status string) {
	b.p.Status = status
	switch status {
	case StatusDone, StatusExists, StatusError:
		if b.p.DoneAt.IsZero() {
			b.p.DoneAt = time.Now()
		}
	default:
		b.p.DoneAt = time.Time{}
	}
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker { return &Tracker{blobs: map[string]*trackedBlob{}} }

// SetStatus sets the transfer's overall status line.
func (t *Tracker) SetStatus(s string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.status = s
	t.mu.Unlock()
}

func (t *Tracker) blob(ref string) *trackedBlob {
	b, ok := t.blobs[ref]
	if !ok {
		b = &trackedBlob{p: BlobProgress{Ref: ref}}
		t.blobs[ref] = b
		t.order = append(t.order, ref)
	}
	return b
}

// Set records a blob's state; an empty digest or media type, or a negative
// offset or total, leaves that field alone.
func (t *Tracker) Set(ref, dgst, mediaType string, offset, total int64, status string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.blob(ref)
	if dgst != "" {
		b.p.Digest = dgst
	}
	if mediaType != "" {
		b.p.MediaType = mediaType
	}
	if total >= 0 {
		b.p.Total = total
	}
	if b.p.Status != status && (status == StatusDownloading || status == StatusUploading) {
		b.p.StartedAt = time.Now()
	}
	b.setStatus(status)
	if offset >= 0 {
		b.offset.Store(offset)
	}
}

// SetState changes only a blob's status.
func (t *Tracker) SetState(ref, status string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.blob(ref)
	if b.p.Status != status && (status == StatusDownloading || status == StatusUploading) {
		b.p.StartedAt = time.Now()
	}
	b.setStatus(status)
	if status == StatusDone || status == StatusExists {
		b.offset.Store(b.p.Total)
	}
}

// Reader counts what is read through r as ref's offset.
func (t *Tracker) Reader(ref string, r io.Reader) io.Reader {
	if t == nil {
		return r
	}
	t.mu.Lock()
	b := t.blob(ref)
	t.mu.Unlock()
	return &countingReader{r: r, n: &b.offset}
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Snapshot returns the overall status and every blob, in the order first seen
// (manifests and config before layers, layers in manifest order).
func (t *Tracker) Snapshot() (string, []BlobProgress) {
	if t == nil {
		return "", nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]BlobProgress, 0, len(t.order))
	for _, r := range t.order {
		b := t.blobs[r]
		p := b.p
		p.Offset = b.offset.Load()
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i].Ref) < rank(out[j].Ref) })
	return t.status, out
}

func rank(ref string) int {
	switch {
	case len(ref) > 6 && ref[:6] == "layer-":
		return 1
	}
	return 0
}
