// Package native is the copying snapshotter, the fallback where overlayfs
// cannot be used: an active snapshot starts as a full copy of its parent
// (ownership, modes, times, xattrs, hardlinks, device nodes preserved, file
// data reflinked where the filesystem can) and is bind-mounted; a view of a
// committed snapshot is a read-only bind of it. Layers applied to it must
// apply whiteouts by deleting. It must not know about images or namespaces.
package native
