#!/usr/bin/env bash
# make bench: every benchmark against its peers, each writing its own section of
# docs/benchmarks.md. Run one alone by calling its script.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
export BERTH_BIN=${BERTH_BIN:-$REPO/bin}

# berth-runtime against runc and crun.
"$HERE/runtime/run.sh"

# Image pull: berthd against containerd (writes its own section of docs/benchmarks.md).
"$HERE/pull/run.sh"

# berth run: berthd against dockerd + containerd (writes its own section of docs/benchmarks.md).
"$HERE/runbench/run.sh"
