// Package overlay is the overlayfs snapshotter: every snapshot is a directory
// holding only its own changes (<root>/snapshots/<id>/fs, plus work for
// overlay's bookkeeping); an active snapshot mounts its parents' directories
// as lower layers under its own upper directory, so committed layers are
// shared by every image that has them. Supported tells whether overlayfs
// works on a root's filesystem; callers fall back to the native snapshotter
// when it does not. It must not mount anything itself except in Supported's
// probe, which it always cleans up.
package overlay
