// Package leases defines leases: named, optionally expiring holds that
// protect content, ingests and snapshots created under them from garbage
// collection while work (a pull, an unpack) is in flight. A lease travels in
// the context (WithLease); metadata records what is written under it. This
// package holds only the types and the context plumbing; it stores nothing.
package leases
