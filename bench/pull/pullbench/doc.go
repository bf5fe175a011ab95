// Command pullbench measures image pulls (download + unpack) with berthd and
// with Debian's containerd from the same local docker-registry in one run:
// it generates the images deterministically, pushes them, then for each
// sample starts the daemon on a fresh root, times the client's pull, reads
// the daemon's peak RSS (VmHWM) and stops it. Samples are interleaved
// between the two so machine load falls on both alike. It is a benchmark
// driver, run by bench/pull/run.sh; nothing else may depend on it.
package main
