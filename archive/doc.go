// Package archive applies an image layer (an uncompressed tar stream) to a
// directory, treating every entry as hostile: each path is resolved strictly
// inside the root (no "..", no absolute path, no symlink or hardlink leading
// out, no write through a planted symlink), sizes and entry counts are
// bounded, and whiteouts are either converted to overlayfs form (for an
// overlay upper directory) or applied by deleting (for a full copy). It
// preserves hardlinks, symlinks, device nodes, fifos, xattrs (file
// capabilities included), ownership, modes and times. It must not know about
// snapshots, registries or compression, and it never touches anything outside
// the root it is given.
package archive
