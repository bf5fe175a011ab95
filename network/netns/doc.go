// Package netns creates and removes persistent network namespaces for Berth
// containers. A namespace made by New is pinned by a bind mount of its nsfs
// file at <state>/netns/<name>, so it outlives the thread that made it and can
// be handed to CNI plugins and to the OCI runtime by path; <state>/netns is
// made a private mount of itself once so the pins never propagate to other
// mount namespaces. Every namespace New makes has its loopback interface up.
// The package only manages namespaces: it never configures interfaces other
// than lo, never runs CNI plugins, and never changes the namespace of any
// thread it does not own (the thread that unshares is locked and discarded).
package netns
