package archive

// WhiteoutMode says how whiteout entries (".wh.<name>" and ".wh..wh..opq")
// are applied.
type WhiteoutMode int

const (
	// WhiteoutOverlay writes overlayfs whiteouts: a 0:0 character device for
	// a deleted name, trusted.overlay.opaque=y on an opaque directory. Use it
	// when extracting into an overlay upper directory.
	WhiteoutOverlay WhiteoutMode = iota
	// WhiteoutDelete removes the named file, or the opaque directory's
	// present contents. Use it when extracting onto a full copy of the parent.
	WhiteoutDelete
)

// Default bounds for a single layer.
const (
	DefaultMaxBytes   int64 = 64 << 30
	DefaultMaxEntries int64 = 10_000_000
)

// ApplyOpt configures Apply.
type ApplyOpt func(*applyOptions)

type applyOptions struct {
	whiteouts    WhiteoutMode
	maxBytes     int64
	maxEntries   int64
	noSameOwner  bool
	noSync       bool
	writeXattrs  bool
	skipDevNodes bool
	writeback    bool
}

func defaultOptions() applyOptions {
	return applyOptions{
		whiteouts:   WhiteoutOverlay,
		maxBytes:    DefaultMaxBytes,
		maxEntries:  DefaultMaxEntries,
		writeXattrs: true,
	}
}

// WithWhiteouts selects how whiteouts are applied (default WhiteoutOverlay).
func WithWhiteouts(m WhiteoutMode) ApplyOpt { return func(o *applyOptions) { o.whiteouts = m } }

// WithMaxBytes bounds the total bytes of file content a layer may write
// (default 64 GiB). Pass the layer's expected uncompressed size when known.
func WithMaxBytes(n int64) ApplyOpt { return func(o *applyOptions) { o.maxBytes = n } }

// WithMaxEntries bounds the number of tar entries (default 10 million).
func WithMaxEntries(n int64) ApplyOpt { return func(o *applyOptions) { o.maxEntries = n } }

// WithoutOwnership skips lchown (for callers that are not root).
func WithoutOwnership() ApplyOpt { return func(o *applyOptions) { o.noSameOwner = true } }

// WithoutSync skips the final syncfs of the root's filesystem (the caller
// syncs once for several layers).
func WithoutSync() ApplyOpt { return func(o *applyOptions) { o.noSync = true } }

// WithEarlyWriteback starts writing each larger file's data to disk as soon
// as it is extracted (sync_file_range, without waiting), so that a later
// filesystem sync has little left to wait for. Use it when the layer will be
// synced before it is committed.
func WithEarlyWriteback() ApplyOpt { return func(o *applyOptions) { o.writeback = true } }
