// Package gc holds the mark phase of Berth's garbage collector: typed nodes
// (content, snapshots, ingests, leases, per namespace), a mark from roots
// over a reference function, and the Stats a collection reports. It knows
// nothing of bbolt, disks or images; metadata supplies roots, references
// and the sweep.
package gc
