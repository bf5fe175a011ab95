package unpack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/archive"
	"github.com/berth-containers/berth/archive/compression"
	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/mount"
	"github.com/berth-containers/berth/snapshot"
)

// Layout says how a snapshotter stores an active snapshot, which decides how
// layers are applied.
type Layout int

const (
	// LayoutAuto probes the snapshotter once.
	LayoutAuto Layout = iota
	// LayoutDiff: an active snapshot holds only its own changes (overlay).
	// Layers are extracted in parallel with overlay whiteouts.
	LayoutDiff
	// LayoutCopy: an active snapshot is a full copy of its parent (native).
	// Layers are applied one after the other, whiteouts by deleting.
	LayoutCopy
)

// KeyPrefix starts the keys of the temporary (active) snapshots an unpack
// creates; they are removed when the unpack ends, and a crash can leave them
// behind for garbage collection.
const KeyPrefix = "unpack-"

// Unpacker unpacks images into a snapshotter. Its fields are read-only once
// it is in use; one Unpacker serves any number of concurrent unpacks.
type Unpacker struct {
	// Content provides the layer blobs (for Unpack; sessions fed with
	// ApplyStream do not read it).
	Content content.Provider
	// Snapshotter receives one committed snapshot per layer, named by chain ID.
	Snapshotter snapshot.Snapshotter
	// Layout of the snapshotter (default: probed).
	Layout Layout
	// Parallel bounds how many layers Unpack extracts at once (default: the
	// number of CPUs, at least 2).
	Parallel int
	// Labels are set on every committed layer snapshot.
	Labels map[string]string
	// ApplyOpts are passed to archive.Apply for every layer (limits).
	ApplyOpts []archive.ApplyOpt
	// NoSync skips the filesystem sync before layers are committed. Faster,
	// but after a power loss a committed layer may miss data that was still
	// in the page cache.
	NoSync bool
	// Log receives progress at debug level (default slog.Default()).
	Log *slog.Logger

	probeOnce sync.Once
	probed    Layout
	probeErr  error
}

func (u *Unpacker) log() *slog.Logger {
	if u.Log != nil {
		return u.Log
	}
	return slog.Default()
}

// ChainIDs returns the chain ID of every layer: chain(0) = diffID(0),
// chain(n) = sha256(chain(n-1) + " " + diffID(n)).
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = digest.FromString(out[i-1].String() + " " + d.String())
	}
	return out
}

func randomKey(what string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return KeyPrefix + hex.EncodeToString(b[:]) + "-" + what
}

// layout returns the snapshotter's layout, probing it once if needed: an
// active snapshot on top of a committed one is mounted as an overlay with an
// upper directory (diff) or as a bind of a full copy (copy).
func (u *Unpacker) layout(ctx context.Context) (Layout, error) {
	if u.Layout != LayoutAuto {
		return u.Layout, nil
	}
	u.probeOnce.Do(func() {
		sn := u.Snapshotter
		base, child, committed := randomKey("probe"), randomKey("probe"), randomKey("probe")
		if _, err := sn.Prepare(ctx, base, ""); err != nil {
			u.probeErr = fmt.Errorf("probe snapshotter: %w", err)
			return
		}
		if err := sn.Commit(ctx, committed, base); err != nil {
			_ = sn.Remove(ctx, base)
			u.probeErr = fmt.Errorf("probe snapshotter: %w", err)
			return
		}
		defer sn.Remove(ctx, committed)
		ms, err := sn.Prepare(ctx, child, committed)
		if err != nil {
			u.probeErr = fmt.Errorf("probe snapshotter: %w", err)
			return
		}
		defer sn.Remove(ctx, child)
		u.probed = LayoutCopy
		if len(ms) == 1 && ms[0].Type == "overlay" && ms[0].UpperDir() != "" {
			u.probed = LayoutDiff
		}
	})
	return u.probed, u.probeErr
}

// writableDir returns the directory an active snapshot's changes are written
// to: the overlay upper directory, or the source of a read-write bind.
func writableDir(ms []mount.Mount) (string, error) {
	if len(ms) == 1 {
		m := ms[0]
		if m.Type == "overlay" && m.UpperDir() != "" {
			return m.UpperDir(), nil
		}
		if (m.Type == "bind" || m.Type == "rbind") && !m.ReadOnly() {
			return m.Source, nil
		}
	}
	return "", fmt.Errorf("snapshot mounts %v: not a single overlay or bind mount: %w", ms, errdefs.ErrNotImplemented)
}

// Unpack unpacks every layer of manifest (reading the blobs from u.Content)
// and returns the chain ID of the top layer: the name of its committed
// snapshot.
func (u *Unpacker) Unpack(ctx context.Context, manifest ocispec.Manifest, config ocispec.Image) (digest.Digest, error) {
	if u.Content == nil {
		return "", fmt.Errorf("unpack: no content provider: %w", errdefs.ErrInvalidArgument)
	}
	s, err := u.Start(ctx, manifest, config)
	if err != nil {
		return "", err
	}
	needed := s.Needed()
	par := u.Parallel
	if par <= 0 {
		par = max(runtime.NumCPU(), 2)
	}
	if s.layout == LayoutCopy {
		par = 1
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(par)
	for _, i := range needed {
		g.Go(func() error {
			desc := manifest.Layers[i]
			ra, err := u.Content.ReaderAt(gctx, desc)
			if err != nil {
				return fmt.Errorf("layer %d (%s): %w", i, desc.Digest, err)
			}
			defer ra.Close()
			return s.ApplyStream(gctx, i, io.NewSectionReader(ra, 0, ra.Size()))
		})
	}
	if err := g.Wait(); err != nil {
		s.Abort(context.WithoutCancel(ctx))
		return "", err
	}
	return s.Finish(ctx)
}

// layer is one layer of a session.
type layer struct {
	desc    ocispec.Descriptor
	diffID  digest.Digest
	chainID digest.Digest
	needed  bool

	// Set while applying, under Session.mu.
	started   bool
	key       string // active snapshot holding the layer's changes
	direct    bool   // key was prepared on the right parent
	ready     bool   // extracted and verified
	committed bool
	err       error
}

// Session unpacks one image whose layers arrive as streams.
type Session struct {
	u      *Unpacker
	layout Layout
	layers []*layer
	first  int // first needed layer; len(layers) when none

	mu     sync.Mutex
	cond   *sync.Cond
	failed error
}

// Start begins a session for manifest and config: it checks them, works out
// chain IDs and which layers already exist.
func (u *Unpacker) Start(ctx context.Context, manifest ocispec.Manifest, config ocispec.Image) (*Session, error) {
	if u.Snapshotter == nil {
		return nil, fmt.Errorf("unpack: no snapshotter: %w", errdefs.ErrInvalidArgument)
	}
	if config.RootFS.Type != "layers" {
		return nil, fmt.Errorf("config rootfs.type %q: must be \"layers\": %w", config.RootFS.Type, errdefs.ErrInvalidArgument)
	}
	if len(manifest.Layers) != len(config.RootFS.DiffIDs) {
		return nil, fmt.Errorf("manifest has %d layers but config rootfs.diff_ids has %d: %w", len(manifest.Layers), len(config.RootFS.DiffIDs), errdefs.ErrInvalidArgument)
	}
	for i, d := range config.RootFS.DiffIDs {
		if err := d.Validate(); err != nil {
			return nil, fmt.Errorf("config rootfs.diff_ids[%d] %q: %v: %w", i, d, err, errdefs.ErrInvalidArgument)
		}
	}
	for i, l := range manifest.Layers {
		if _, err := compression.FromMediaType(l.MediaType); err != nil {
			return nil, fmt.Errorf("manifest layers[%d] (%s): %w", i, l.Digest, err)
		}
	}
	lay, err := u.layout(ctx)
	if err != nil {
		return nil, err
	}
	chain := ChainIDs(config.RootFS.DiffIDs)
	s := &Session{u: u, layout: lay, first: len(chain)}
	s.cond = sync.NewCond(&s.mu)
	for i := range chain {
		s.layers = append(s.layers, &layer{desc: manifest.Layers[i], diffID: config.RootFS.DiffIDs[i], chainID: chain[i]})
	}
	// The highest existing chain snapshot implies all below it.
	have := -1
	for i := len(chain) - 1; i >= 0; i-- {
		info, err := u.Snapshotter.Stat(ctx, chain[i].String())
		if err == nil && info.Kind == snapshot.KindCommitted {
			have = i
			break
		}
		if err != nil && !errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("layer %d: stat snapshot %s: %w", i, chain[i], err)
		}
	}
	for i, l := range s.layers {
		l.needed = i > have
		l.committed = !l.needed
		if l.needed && s.first == len(chain) {
			s.first = i
		}
	}
	return s, nil
}

// Layout is how the session applies layers.
func (s *Session) Layout() Layout { return s.layout }

// Needed lists the indexes of the layers that must be applied: those whose
// chain snapshot does not exist yet. The others need not be fetched at all.
func (s *Session) Needed() []int {
	var out []int
	for i, l := range s.layers {
		if l.needed {
			out = append(out, i)
		}
	}
	return out
}

// ChainID is the chain ID of the top layer (the result of Finish).
func (s *Session) ChainID() digest.Digest {
	if len(s.layers) == 0 {
		return ""
	}
	return s.layers[len(s.layers)-1].chainID
}

func (s *Session) parentOf(i int) string {
	if i == 0 {
		return ""
	}
	return s.layers[i-1].chainID.String()
}

// ApplyStream applies layer i from r (the layer blob as fetched, compressed
// as its media type says), reading r to its end. It may be called
// concurrently for different layers. With a copying snapshotter it first
// waits until layer i-1 is committed.
func (s *Session) ApplyStream(ctx context.Context, i int, r io.Reader) (err error) {
	if i < 0 || i >= len(s.layers) {
		return fmt.Errorf("layer %d: out of range (image has %d layers): %w", i, len(s.layers), errdefs.ErrInvalidArgument)
	}
	l := s.layers[i]
	sn := s.u.Snapshotter

	s.mu.Lock()
	if !l.needed {
		s.mu.Unlock()
		return fmt.Errorf("layer %d (%s): already present as snapshot %s: %w", i, l.desc.Digest, l.chainID, errdefs.ErrAlreadyExists)
	}
	if l.started {
		s.mu.Unlock()
		return fmt.Errorf("layer %d (%s): already being applied: %w", i, l.desc.Digest, errdefs.ErrAlreadyExists)
	}
	l.started = true
	if s.layout == LayoutCopy {
		stop := context.AfterFunc(ctx, func() {
			s.mu.Lock()
			s.cond.Broadcast()
			s.mu.Unlock()
		})
		for i > 0 && !s.layers[i-1].committed && s.failed == nil && ctx.Err() == nil {
			s.cond.Wait()
		}
		stop()
		if s.failed != nil {
			s.mu.Unlock()
			return fmt.Errorf("layer %d: not applied: %w", i, s.failed)
		}
		if err := ctx.Err(); err != nil {
			s.mu.Unlock()
			return s.fail(l, fmt.Errorf("layer %d: waiting for layer %d: %w", i, i-1, err))
		}
	}
	direct := i == s.first || s.layers[i-1].committed
	s.mu.Unlock()

	parent := ""
	if direct {
		parent = s.parentOf(i)
	}
	key := randomKey(fmt.Sprintf("layer-%d", i))
	ms, err := sn.Prepare(ctx, key, parent)
	if err != nil {
		return s.fail(l, fmt.Errorf("layer %d (%s): prepare snapshot: %w", i, l.desc.Digest, err))
	}
	defer func() {
		if err != nil {
			if rerr := sn.Remove(context.WithoutCancel(ctx), key); rerr != nil && !errdefs.IsNotFound(rerr) {
				s.u.log().Warn("remove failed layer snapshot", "key", key, "err", rerr)
			}
		}
	}()
	dir, err := writableDir(ms)
	if err != nil {
		return s.fail(l, fmt.Errorf("layer %d: %w", i, err))
	}
	if err := s.extract(ctx, i, dir, r); err != nil {
		return s.fail(l, err)
	}

	s.mu.Lock()
	if s.failed != nil {
		err = fmt.Errorf("layer %d: not committed: %w", i, s.failed)
		s.mu.Unlock()
		return err
	}
	l.key, l.direct, l.ready = key, direct, true
	s.cond.Broadcast()
	s.mu.Unlock()
	if s.layout == LayoutCopy {
		// The next layer is a copy of this one: commit it now.
		return s.advance(ctx)
	}
	// Diff layouts commit everything in Finish, after one filesystem sync.
	return nil
}

// extract decompresses r into dir, checking the uncompressed digest.
func (s *Session) extract(ctx context.Context, i int, dir string, r io.Reader) error {
	l := s.layers[i]
	dr, _, err := compression.DecompressStream(r)
	if err != nil {
		return fmt.Errorf("layer %d (%s): %w", i, l.desc.Digest, err)
	}
	defer dr.Close()
	dg := l.diffID.Algorithm().Digester()
	opts := append([]archive.ApplyOpt{archive.WithoutSync()}, s.u.ApplyOpts...)
	if !s.u.NoSync {
		opts = append(opts, archive.WithEarlyWriteback())
	}
	if s.layout == LayoutCopy || i == 0 {
		// Nothing lies below the first layer: its whiteouts hide nothing
		// and must not appear as overlay whiteout files in it.
		opts = append(opts, archive.WithWhiteouts(archive.WhiteoutDelete))
	} else {
		opts = append(opts, archive.WithWhiteouts(archive.WhiteoutOverlay))
	}
	if _, err := archive.Apply(ctx, dir, io.TeeReader(dr, dg.Hash()), opts...); err != nil {
		return fmt.Errorf("layer %d (%s): %w", i, l.desc.Digest, err)
	}
	// Read what the decompressor left (nothing, normally) so that a caller
	// teeing r into the content store sees the whole blob.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("layer %d (%s): read: %w", i, l.desc.Digest, err)
	}
	if got := dg.Digest(); got != l.diffID {
		return fmt.Errorf("layer %d (%s): uncompressed digest %s does not match config rootfs.diff_ids[%d] %s: %w", i, l.desc.Digest, got, i, l.diffID, errdefs.ErrFailedPrecondition)
	}
	s.u.log().Debug("layer extracted", "layer", i, "digest", l.desc.Digest, "diffID", l.diffID)
	return nil
}

func (s *Session) fail(l *layer, err error) error {
	s.mu.Lock()
	l.err = err
	if s.failed == nil {
		s.failed = err
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	return err
}

// advance commits, in order, every extracted layer whose parent is
// committed. Layers extracted apart from their parent have their directory
// exchanged into a snapshot prepared on the right parent first.
func (s *Session) advance(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var batch []int
	for i := s.first; i < len(s.layers); i++ {
		l := s.layers[i]
		if l.committed {
			continue
		}
		if !l.ready || l.err != nil {
			break
		}
		batch = append(batch, i)
		// Mark now (under mu) so a concurrent advance leaves these alone.
		l.ready = false
		l.committed = true
	}
	if len(batch) == 0 {
		return nil
	}
	// One filesystem sync covers every layer of the batch.
	start := time.Now()
	if err := s.syncFS(ctx, batch[0]); err != nil {
		return s.failBatch(batch, err)
	}
	synced := time.Now()
	for _, i := range batch {
		if err := s.commit(ctx, i); err != nil {
			return s.failBatch(batch, err)
		}
	}
	s.u.log().Debug("layers committed", "layers", len(batch), "sync", synced.Sub(start), "commit", time.Since(synced))
	s.cond.Broadcast()
	return nil
}

func (s *Session) failBatch(batch []int, err error) error {
	for _, i := range batch {
		l := s.layers[i]
		if l.key == "" {
			continue // committed before the failure
		}
		_ = s.u.Snapshotter.Remove(context.Background(), l.key)
		l.key = ""
		l.committed = false
		l.err = err
	}
	if s.failed == nil {
		s.failed = err
	}
	s.cond.Broadcast()
	return err
}

func (s *Session) syncFS(ctx context.Context, i int) error {
	if s.u.NoSync {
		return nil
	}
	ms, err := s.u.Snapshotter.Mounts(ctx, s.layers[i].key)
	if err != nil {
		return fmt.Errorf("layer %d: %w", i, err)
	}
	dir, err := writableDir(ms)
	if err != nil {
		return fmt.Errorf("layer %d: %w", i, err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("layer %d: sync: %w", i, err)
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("layer %d: syncfs: %w", i, err)
	}
	return nil
}

// commit commits layer i (called with s.mu held, its parent committed).
func (s *Session) commit(ctx context.Context, i int) error {
	l := s.layers[i]
	sn := s.u.Snapshotter
	key := l.key
	if !l.direct {
		// Prepare on the right parent and exchange the extracted tree in.
		nk := randomKey(fmt.Sprintf("layer-%d", i))
		ms, err := sn.Prepare(ctx, nk, s.parentOf(i))
		if err != nil {
			return fmt.Errorf("layer %d: prepare snapshot on %s: %w", i, s.parentOf(i), err)
		}
		if err := exchange(ctx, sn, l.key, ms); err != nil {
			_ = sn.Remove(context.WithoutCancel(ctx), nk)
			return fmt.Errorf("layer %d: %w", i, err)
		}
		if !s.u.NoSync {
			// The exchange happened after the filesystem sync: make it
			// durable before the commit records the layer as complete.
			to, err := writableDir(ms)
			if err == nil {
				err = syncDirs(to)
			}
			if err != nil {
				_ = sn.Remove(context.WithoutCancel(ctx), nk)
				return fmt.Errorf("layer %d: %w", i, err)
			}
		}
		if err := sn.Remove(ctx, l.key); err != nil {
			s.u.log().Warn("remove staging snapshot", "key", l.key, "err", err)
		}
		key, l.key, l.direct = nk, nk, true
	}
	err := sn.Commit(ctx, l.chainID.String(), key, snapshot.WithLabels(s.u.Labels))
	if errdefs.IsAlreadyExists(err) {
		// Another unpack of the same layer won: share its snapshot.
		_ = sn.Remove(context.WithoutCancel(ctx), key)
		err = nil
	}
	if err != nil {
		return fmt.Errorf("layer %d: commit snapshot %s: %w", i, l.chainID, err)
	}
	l.key = ""
	s.u.log().Debug("layer committed", "layer", i, "chainID", l.chainID)
	return nil
}

// exchange swaps the directory of the staging snapshot stage with the
// (empty) writable directory of the mounts ms.
func exchange(ctx context.Context, sn snapshot.Snapshotter, stage string, ms []mount.Mount) error {
	sms, err := sn.Mounts(ctx, stage)
	if err != nil {
		return err
	}
	from, err := writableDir(sms)
	if err != nil {
		return err
	}
	to, err := writableDir(ms)
	if err != nil {
		return err
	}
	if err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_EXCHANGE); err != nil {
		return fmt.Errorf("move extracted layer %s into %s: %w", from, to, err)
	}
	return nil
}

// syncDirs makes the renames that placed dir durable: its parent (the
// snapshot's directory) and grandparent (the snapshotter's directory of
// snapshots). Everything else was synced before.
func syncDirs(dir string) error {
	for _, d := range []string{filepath.Dir(dir), filepath.Dir(filepath.Dir(dir))} {
		fd, err := unix.Open(d, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("sync %s: %w", d, err)
		}
		err = unix.Fsync(fd)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("sync %s: %w", d, err)
		}
	}
	return nil
}

// Finish waits for every needed layer to be committed (or one to fail, or
// ctx to end) and returns the top chain ID. Every needed layer must be given
// to ApplyStream, before or while Finish waits. On failure it removes what
// the session created.
func (s *Session) Finish(ctx context.Context) (digest.Digest, error) {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	for {
		if s.failed != nil {
			err := s.failed
			s.mu.Unlock()
			s.Abort(context.WithoutCancel(ctx))
			return "", err
		}
		if err := ctx.Err(); err != nil {
			s.mu.Unlock()
			s.Abort(context.WithoutCancel(ctx))
			return "", err
		}
		all, ready := true, true
		for _, l := range s.layers {
			if !l.committed {
				all = false
				if !l.ready {
					ready = false
				}
			}
		}
		if all {
			s.mu.Unlock()
			return s.ChainID(), nil
		}
		if ready {
			s.mu.Unlock()
			if err := s.advance(ctx); err != nil {
				s.Abort(context.WithoutCancel(ctx))
				return "", err
			}
			s.mu.Lock()
			continue
		}
		s.cond.Wait()
	}
}

// Abort removes the uncommitted snapshots the session created. Layers still
// being applied remove their own when they end.
func (s *Session) Abort(ctx context.Context) {
	s.mu.Lock()
	if s.failed == nil {
		s.failed = errors.New("unpack aborted")
	}
	var keys []string
	for _, l := range s.layers {
		if l.key != "" && !l.committed {
			keys = append(keys, l.key)
			l.key = ""
		}
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	for _, k := range keys {
		if err := s.u.Snapshotter.Remove(ctx, k); err != nil && !errdefs.IsNotFound(err) {
			s.u.log().Warn("remove unpack snapshot", "key", k, "err", err)
		}
	}
}
