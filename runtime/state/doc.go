// Package state keeps berth-runtime's per-container state on disk: one directory
// per container id under --root (mode 0711), a state.json replaced atomically
// (temp file, rename: never torn, even if the runtime is killed; not fsynced, since
// what it describes — live processes — cannot outlive a machine crash), a per-id lock (flock on the directory) that
// serialises commands on one container while different ids proceed in parallel,
// and the /proc/<pid>/stat reading that guards against pid reuse. It validates ids
// before creating anything. It must not start, signal or inspect containers beyond
// reading /proc/<pid>/stat.
package state
