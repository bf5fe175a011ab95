// Package client is how the daemon drives berth-shim: Start launches a shim
// for one container and returns a Client; Connect re-attaches to a running
// shim after the daemon restarted; List finds every shim state directory
// under the daemon's state root; Recover cleans up after a shim that died.
// The Client's methods map one to one onto the shim's API (package shim).
//
// Process model: Start runs berth-shim as a direct child in a new session
// (its own process group, no parent-death signal) and a goroutine of the
// calling process waits for it, so a shim that exits while the daemon lives
// is reaped at once; when the daemon dies, its shims are re-parented to the
// init process (or the nearest subreaper) and keep running. The shim's
// readiness is signalled through a pipe, not polled.
//
// The state directory belongs to the shim: Delete removes it with all it
// holds, so the daemon must not keep anything else in it (container logs
// belong elsewhere). This package never touches the container itself except
// in Recover, through the OCI runtime.
package client
