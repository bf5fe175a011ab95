// Package nsexec is berth-runtime's C stage: a constructor that runs before the Go
// runtime starts when the binary is executed with _BERTH_INITPIPE set, reads a small
// binary bootstrap message from that pipe, joins namespaces by path, creates the new
// ones (asking the parent to write uid/gid maps for a new user namespace) and, when a
// pid or time namespace is involved, forks the final init with CLONE_PARENT so that it
// is the runtime's direct child. The Go side of this package only encodes the
// bootstrap message and decodes the replies. It must not do anything else: no
// mounts, no cgroups, no policy; and it must cost nothing when the variable is unset.
package nsexec
