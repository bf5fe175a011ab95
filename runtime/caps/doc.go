// Package caps turns the capability names of a runtime-spec process into
// numeric sets and applies them to the calling OS thread: it drops the
// bounding set, sets effective, permitted and inheritable with capset(2) and
// raises the ambient set. It validates every name (CAP_ prefix required) and
// reports the offending set and name. It must not switch users, fork, exec or
// touch anything but the calling thread's capability state; the caller locks
// the OS thread and orders the calls (bounding drop, uid switch with
// PR_SET_KEEPCAPS, Apply).
package caps
