// Package tartest builds layer tars in memory for tests: files, directories,
// links, device nodes, whiteouts, xattrs, and hostile entries, compressed
// with gzip or zstd on request. It is test support only: production code
// must not import it.
package tartest
