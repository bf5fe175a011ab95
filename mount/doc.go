// Package mount describes filesystem mounts as plain values (type, source,
// options) and performs them: overlay with any number of lower directories,
// bind and read-only bind mounts, and unmounting with retries. Snapshotters
// return Mount values rather than mounting; callers (the unpacker, the daemon
// when it builds a container's root) mount them. It must not know about
// snapshots, images or containers, and it never leaves a mount behind on an
// error path.
package mount
