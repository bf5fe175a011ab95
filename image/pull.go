package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/berth-containers/berth/content"
	"github.com/berth-containers/berth/images"
	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/leases"
	"github.com/berth-containers/berth/registry"
	"github.com/berth-containers/berth/registry/platforms"
	"github.com/berth-containers/berth/registry/reference"
	"github.com/berth-containers/berth/unpack"
)

// MaxConfigSize bounds an image config read into memory.
const MaxConfigSize = registry.MaxManifestSize

// PullOptions shape a pull.
type PullOptions struct {
	// Platform "os/arch[/variant]"; empty: the host's.
	Platform string
	// NoUnpack stores the content only.
	NoUnpack bool
	// Progress receives per-blob progress (may be nil).
	Progress *Tracker
}

// Pull fetches ref into the content store, unpacks it (unless asked not to)
// and records the image under its normalised name. Everything is written
// under a lease that ends with the pull, and the image record is created
// last: a pull that fails or is killed leaves no visible image, and what it
// stored is garbage once its lease is gone.
func Pull(ctx context.Context, d *Deps, ref string, opts PullOptions) (images.Image, error) {
	named, err := reference.ParseNormalized(ref)
	if err != nil {
		return images.Image{}, fmt.Errorf("reference %q: %w", ref, errors.Join(err, errdefs.ErrInvalidArgument))
	}
	plat := platforms.Default()
	if opts.Platform != "" {
		if plat, err = platforms.Parse(opts.Platform); err != nil {
			return images.Image{}, fmt.Errorf("platform %q: %w", opts.Platform, err)
		}
	}
	ctx, done, err := withTransferLease(ctx, d, "pull "+named.String())
	if err != nil {
		return images.Image{}, err
	}
	defer done()

	tr := opts.Progress
	tr.SetStatus("resolving " + named.String())
	name, root, err := d.Resolver.Resolve(ctx, named.String())
	if err != nil {
		return images.Image{}, err
	}
	f, err := d.Resolver.Fetcher(ctx, name)
	if err != nil {
		return images.Image{}, err
	}
	src := sourceLabels(named)
	tr.SetStatus("resolved " + name + "@" + root.Digest.String())

	mdesc := root
	kind := "manifest"
	if registry.IsIndexType(root.MediaType) {
		kind = "index"
	}
	data, err := fetchSmall(ctx, d, f, root, kind, tr, src)
	if err != nil {
		return images.Image{}, err
	}
	if registry.IsIndexType(root.MediaType) {
		idx, err := registry.DecodeIndex(data, root.MediaType)
		if err != nil {
			return images.Image{}, fmt.Errorf("%s: %w", name, err)
		}
		if mdesc, err = platforms.Select(idx, plat); err != nil {
			return images.Image{}, fmt.Errorf("%s: %w", name, err)
		}
		if data, err = fetchSmall(ctx, d, f, mdesc, "manifest", tr, src); err != nil {
			return images.Image{}, err
		}
	}
	if registry.IsSchema1(mdesc.MediaType) {
		return images.Image{}, fmt.Errorf("%s: manifest media type %s (Docker schema 1) is not supported: %w", name, mdesc.MediaType, errdefs.ErrNotImplemented)
	}
	m, err := registry.DecodeManifest(data, mdesc.MediaType)
	if err != nil {
		return images.Image{}, fmt.Errorf("%s: manifest %s: %w", name, mdesc.Digest, err)
	}
	cdata, err := fetchSmall(ctx, d, f, m.Config, "config", tr, src)
	if err != nil {
		return images.Image{}, err
	}
	cfg, err := decodeConfig(cdata, m.Config)
	if err != nil {
		return images.Image{}, err
	}
	for _, l := range m.Layers {
		tr.Set(layerRef(l.Digest), l.Digest.String(), l.MediaType, 0, l.Size, StatusWaiting)
	}

	var sess *unpack.Session
	needed := map[int]bool{}
	if !opts.NoUnpack {
		if sess, err = d.Unpacker.Start(ctx, m, cfg); err != nil {
			return images.Image{}, fmt.Errorf("%s: %w", name, err)
		}
		for _, i := range sess.Needed() {
			needed[i] = true
		}
	}
	tr.SetStatus("pulling " + name)
	started := time.Now()
	// A blob named by several layers (empty layers often are) is fetched
	// once: later layers wait for the first and unpack from the store.
	first := map[digest.Digest]chan struct{}{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(d.concurrency())
	for i, l := range m.Layers {
		wait, dup := first[l.Digest]
		var fetched chan struct{}
		if !dup {
			fetched = make(chan struct{})
			first[l.Digest] = fetched
		}
		g.Go(func() error {
			var err error
			if dup {
				select {
				case <-wait:
				case <-gctx.Done():
					return gctx.Err()
				}
				err = applyStored(gctx, d, sess, i, l, needed[i], tr)
			} else {
				err = pullLayer(gctx, d, f, sess, i, l, needed[i], tr, src)
				close(fetched)
			}
			if err != nil {
				tr.SetState(layerRef(l.Digest), StatusError)
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if sess != nil {
			sess.Abort(context.WithoutCancel(ctx))
		}
		return images.Image{}, err
	}
	fetched := time.Now()
	if sess != nil {
		tr.SetStatus("unpacking " + name)
		chain, err := sess.Finish(ctx)
		if err != nil {
			return images.Image{}, fmt.Errorf("%s: unpack: %w", name, err)
		}
		d.log().Debug("pull timings", "image", name, "layers", len(m.Layers), "fetch_and_extract", fetched.Sub(started), "sync_and_commit", time.Since(fetched))
		key := d.SnapshotLabel()
		if _, err := d.Content.Update(ctx, content.Info{Digest: m.Config.Digest, Labels: map[string]string{key: chain.String()}}, "labels."+key); err != nil {
			return images.Image{}, fmt.Errorf("%s: label config %s: %w", name, m.Config.Digest, err)
		}
	}
	img, err := putImage(ctx, d, images.Image{Name: name, Target: root})
	if err != nil {
		return images.Image{}, err
	}
	tr.SetStatus("pulled " + name)
	return img, nil
}

// putImage creates the image record, or points an existing one at the new target.
func putImage(ctx context.Context, d *Deps, img images.Image) (images.Image, error) {
	out, err := d.Images.Create(ctx, img)
	if errdefs.IsAlreadyExists(err) {
		out, err = d.Images.Update(ctx, img, "target")
	}
	if err != nil {
		return images.Image{}, fmt.Errorf("record image %s: %w", img.Name, err)
	}
	return out, nil
}

// withTransferLease returns ctx under a new lease and the function that
// ends it. The lease expires by itself after a day should the daemon die.
func withTransferLease(ctx context.Context, d *Deps, what string) (context.Context, func(), error) {
	l, err := d.Leases.Create(ctx, leases.WithExpiration(24*time.Hour), leases.WithLabels(map[string]string{LabelPullLease: what}))
	if err != nil {
		return ctx, nil, fmt.Errorf("create lease: %w", err)
	}
	lctx := leases.WithLease(ctx, l.ID)
	return lctx, func() {
		if err := d.Leases.Delete(context.WithoutCancel(ctx), l); err != nil {
			d.log().Warn("delete transfer lease", "lease", l.ID, "err", err)
		}
	}, nil
}

func sourceLabels(n reference.Named) map[string]string {
	k, v := registry.SourceLabel(n, "")
	return map[string]string{k: v}
}

func layerRef(d digest.Digest) string { return "layer-" + d.String() }

// ingestRef is the resumable ingest key of a blob: the same for every pull
// of it, so a pull after a crash resumes what the last one wrote.
func ingestRef(d digest.Digest) string { return "fetch-" + d.Algorithm().String() + "-" + d.Encoded() }

// fetchSmall returns a manifest, index or config, from the content store if
// present, else from the registry (verified and stored).
func fetchSmall(ctx context.Context, d *Deps, f registry.Fetcher, desc ocispec.Descriptor, kind string, tr *Tracker, src map[string]string) ([]byte, error) {
	if desc.Size < 0 || desc.Size > MaxConfigSize {
		return nil, fmt.Errorf("%s %s: size %d outside 0..%d: %w", kind, desc.Digest, desc.Size, MaxConfigSize, errdefs.ErrInvalidArgument)
	}
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("%s digest %q: %v: %w", kind, desc.Digest, err, errdefs.ErrInvalidArgument)
	}
	ref := kind + "-" + desc.Digest.String()
	if _, err := d.Content.Info(ctx, desc.Digest); err == nil {
		b, err := content.ReadBlob(ctx, d.Content, desc)
		if err == nil {
			tr.Set(ref, desc.Digest.String(), desc.MediaType, desc.Size, desc.Size, StatusExists)
			return b, nil
		}
	}
	tr.Set(ref, desc.Digest.String(), desc.MediaType, 0, desc.Size, StatusDownloading)
	rc, err := f.Fetch(ctx, desc)
	if err != nil {
		return nil, fmt.Errorf("fetch %s %s: %w", kind, desc.Digest, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(tr.Reader(ref, rc), desc.Size+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s %s: %w", kind, desc.Digest, err)
	}
	if int64(len(b)) != desc.Size {
		return nil, fmt.Errorf("%s %s: got %d bytes, descriptor says %d: %w", kind, desc.Digest, len(b), desc.Size, errdefs.ErrFailedPrecondition)
	}
	if got := desc.Digest.Algorithm().FromBytes(b); got != desc.Digest {
		return nil, fmt.Errorf("%s %s: content has digest %s: %w", kind, desc.Digest, got, errdefs.ErrFailedPrecondition)
	}
	if err := content.WriteBlob(ctx, d.Content, ingestRef(desc.Digest), bytes.NewReader(b), desc, content.WithLabels(src)); err != nil {
		return nil, fmt.Errorf("store %s %s: %w", kind, desc.Digest, err)
	}
	tr.SetState(ref, StatusDone)
	return b, nil
}

// decodeConfig parses an image config and checks what unpacking relies on.
func decodeConfig(b []byte, desc ocispec.Descriptor) (ocispec.Image, error) {
	var cfg ocispec.Image
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, fmt.Errorf("config %s: malformed JSON: %v: %w", desc.Digest, err, errdefs.ErrInvalidArgument)
	}
	if cfg.RootFS.Type != "layers" {
		return cfg, fmt.Errorf("config %s: rootfs.type %q: must be \"layers\": %w", desc.Digest, cfg.RootFS.Type, errdefs.ErrInvalidArgument)
	}
	return cfg, nil
}

// pullLayer makes one layer present in the content store and, when needed,
// unpacks it while it downloads.
func pullLayer(ctx context.Context, d *Deps, f registry.Fetcher, sess *unpack.Session, i int, desc ocispec.Descriptor, needed bool, tr *Tracker, src map[string]string) (err error) {
	ref := layerRef(desc.Digest)
	if _, ierr := d.Content.Info(ctx, desc.Digest); ierr == nil {
		return applyStored(ctx, d, sess, i, desc, needed, tr)
	}
	w, err := content.OpenWriter(ctx, d.Content, ingestRef(desc.Digest), desc)
	if errdefs.IsAlreadyExists(err) {
		return applyStored(ctx, d, sess, i, desc, needed, tr)
	}
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		written := w.Offset()
		w.Close()
		if !committed && ctx.Err() == nil {
			// Keep a partial download for a resume only if the network
			// failed; bad content is dropped.
			if written == 0 || !errdefs.IsUnavailable(err) {
				_ = d.Content.Abort(context.WithoutCancel(ctx), ingestRef(desc.Digest))
			}
		}
	}()
	off := w.Offset()
	if off > desc.Size {
		if err = w.Truncate(0); err != nil {
			return err
		}
		off = 0
	}
	resumed := needed && off > 0
	if resumed {
		// An earlier pull (or daemon) left part of this blob: fetch only
		// the rest, then unpack the whole blob from the store.
		needed = false
	}
	tr.Set(ref, desc.Digest.String(), desc.MediaType, off, desc.Size, StatusDownloading)
	rc, err := f.FetchFrom(ctx, desc, off)
	if err != nil {
		return fmt.Errorf("layer %d (%s): %w", i, desc.Digest, err)
	}
	defer rc.Close()
	r := tr.Reader(ref, rc)
	bw := &bufferedWriter{w: w, buf: make([]byte, 0, 256<<10)}
	if needed {
		err = sess.ApplyStream(ctx, i, io.TeeReader(r, bw))
	} else if _, err = io.Copy(bw, r); err != nil {
		err = fmt.Errorf("layer %d (%s): %w", i, desc.Digest, err)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return err
	}
	tr.SetState(ref, StatusUnpacking)
	err = w.Commit(ctx, desc.Size, desc.Digest, content.WithLabels(src))
	if err != nil && !errdefs.IsAlreadyExists(err) {
		return fmt.Errorf("layer %d (%s): %w", i, desc.Digest, err)
	}
	err = nil
	committed = true
	if resumed {
		return applyStored(ctx, d, sess, i, desc, true, tr)
	}
	tr.SetState(ref, StatusDone)
	return nil
}

// applyStored unpacks a layer already in the content store (if needed).
func applyStored(ctx context.Context, d *Deps, sess *unpack.Session, i int, desc ocispec.Descriptor, needed bool, tr *Tracker) error {
	ref := layerRef(desc.Digest)
	if !needed {
		tr.SetState(ref, StatusExists)
		return nil
	}
	ra, err := d.Content.ReaderAt(ctx, desc)
	if err != nil {
		return err
	}
	defer ra.Close()
	tr.Set(ref, desc.Digest.String(), desc.MediaType, 0, desc.Size, StatusUnpacking)
	if err := sess.ApplyStream(ctx, i, io.NewSectionReader(ra, 0, ra.Size())); err != nil {
		return err
	}
	tr.SetState(ref, StatusDone)
	return nil
}

// bufferedWriter batches the small writes a tee makes into large ones.
type bufferedWriter struct {
	w   io.Writer
	buf []byte
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if len(b.buf)+len(p) > cap(b.buf) {
		if err := b.Flush(); err != nil {
			return 0, err
		}
		if len(p) >= cap(b.buf) {
			return b.w.Write(p)
		}
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *bufferedWriter) Flush() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}
