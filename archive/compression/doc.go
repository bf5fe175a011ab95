// Package compression detects and undoes the compression of image layers:
// gzip (decompressed on several cores where possible), zstd and plain tar,
// recognised by their magic bytes or by their OCI/Docker media type. It only
// transforms byte streams: it must not know about tar, files or snapshots.
package compression
