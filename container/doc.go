// Package container keeps Berth's container records: what a container is
// made of (image name and digest, snapshotter and snapshot key, runtime
// handler, the generated OCI spec, labels, the user's create options and
// restart policy) and the status the daemon keeps about it (state, pid,
// exit code, start and finish times, restart count, OOM kill). Store keeps
// them, per namespace, in the metadata bbolt file (buckets
// v1/<ns>/containers and v1/<ns>/container-names), enforces unique names
// with docker's conflict message, finds a container by full ID, unique ID
// prefix or name, filters lists like `docker ps --filter`, and registers
// itself as a GC root source so a container's snapshot and image content
// are never collected under it. It never generates specs (package oci
// does), runs processes, mounts or talks to shims: the daemon does that and
// records the outcome here.
package container
