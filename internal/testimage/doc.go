// Package testimage builds OCI and Docker images deterministically in memory
// for tests and benchmarks: Busybox() from Debian's busybox-static, and
// Generated(seed, …) with many small files, large files, hardlinks, symlinks,
// xattrs, whiteouts and opaque directories; layers gzip, zstd or uncompressed;
// OCI or Docker schema2 media types; optionally a multi-platform index. The
// same inputs always give the same digests. An Image can be pushed through the
// registry client (PushTo), written as an OCI image layout or a docker-archive
// tar. It is for tests and benchmarks only: it never touches a daemon's store.
package testimage
