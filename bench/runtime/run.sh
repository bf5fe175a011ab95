#!/usr/bin/env bash
# Times berth-runtime against runc and crun (Debian's) in one run, on one busybox bundle,
# and writes the medians and ratios into docs/benchmarks.md (the section between the
# berth-runtime markers; the rest of the file is left alone). Called by bench/run.sh.
#   BERTH_BIN=DIR   where berth-runtime is (default bin/)
#   N=30            samples of run-true and create+start+wait+delete per runtime
#   RUNTIMES="berth-runtime runc crun"   which runtimes to measure
#   NO_DOCS=1       print the table only, do not touch docs/benchmarks.md
set -euo pipefail

export PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BERTH_BIN=${BERTH_BIN:-$REPO/bin}
# Scratch space of this run only; the raw results are kept in bench/.work/runtime/.
WORK=$(mktemp -d /tmp/berth-runtime-bench.XXXXXX)
KEEP=$REPO/bench/.work/runtime
N=${N:-30}
RUNTIMES=${RUNTIMES:-berth-runtime runc crun}
DOC=$REPO/docs/benchmarks.md
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }

# The runtimes' state (--root) lives on a tmpfs, as it does in production (/run is a tmpfs
# on every host that runs containers: runc's default root is /run/runc, containerd's
# /run/containerd/runc, Docker's /run/docker/runtime-runc). On this machine /run and /tmp are
# on the root file system (ext4, mounted with discard), where removing a container's state
# waits for a block discard; that would measure the disk, not the runtimes.
STATE=$WORK/state
mkdir -p "$STATE" && mount -t tmpfs -o mode=0700,size=256m berth-bench-state "$STATE"
trap 'umount "$STATE" 2>/dev/null; rm -rf "$WORK"' EXIT
# Two benchmarks at once would measure each other: one at a time, machine-wide.
exec 9>/run/berth-bench-runtime.lock
flock -n 9 || { echo "bench: another runtime benchmark is running; waiting"; flock 9; }

# crun 1.8 needs a v1 hugetlb hierarchy on this hybrid machine (additive, idempotent).
if [ -d /sys/fs/cgroup/unified ] && ! grep -q ' /sys/fs/cgroup/hugetlb cgroup ' /proc/self/mounts; then
  mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb || true
fi

# One bundle for every runtime: Debian's busybox-static, /bin/true (a busybox applet: the
# exec of /bin/busybox is the real exec), the runtime-neutral config of `runc spec`.
B=$WORK/bundle
mkdir -p "$B/rootfs"/{bin,etc,proc,sys,dev,tmp}
cp /bin/busybox "$B/rootfs/bin/busybox"
for a in sh true; do ln -s busybox "$B/rootfs/bin/$a"; done
(cd "$B" && runc spec)
jq '.process.terminal = false | .process.args = ["/bin/true"]' "$B/config.json" >"$B/c.json" && mv "$B/c.json" "$B/config.json"

args=()
for r in $RUNTIMES; do
  case $r in
    berth-runtime) p=$BERTH_BIN/berth-runtime ;;
    *) p=$(command -v "$r") || { echo "bench: $r not installed" >&2; exit 1; } ;;
  esac
  args+=(-runtime "$r=$p")
done

(cd "$REPO" && go build -o "$WORK/runtimebench" ./bench/runtimebench)
echo "bench: $RUNTIMES; $N samples each, interleaved; this takes a few minutes"
"$WORK/runtimebench" 9>&- -bundle "$B" -work "$STATE" -n "$N" -out "$WORK/results.json" "${args[@]}" | tee "$WORK/table.md"

# Cross-check of `run` with hyperfine (no shell, fixed id: run deletes what it made).
hf=()
for r in $RUNTIMES; do
  p=$(jq -r --arg r "$r" '.[] | select(.runtime.name == $r and (.error // "") == "") | .runtime.path' "$WORK/results.json")
  [ -n "$p" ] && hf+=(-n "$r" "$p --root $STATE/state-hf-$r run --bundle $B hf-$r-$$")
done
if ((${#hf[@]})) && command -v hyperfine >/dev/null; then
  hyperfine 9>&- -N --warmup 3 --runs 20 --export-json "$WORK/hyperfine-run.json" "${hf[@]}" >"$WORK/hyperfine.txt" 2>&1 || true
  rm -rf "$STATE"/state-hf-*
fi
hyper=$(jq -r '.results[] | "| \(.command) | \(.median * 1000 | . * 10 | round / 10) ms | \(.mean * 1000 | . * 10 | round / 10) ± \(.stddev * 1000 | . * 10 | round / 10) ms |"' "$WORK/hyperfine-run.json" 2>/dev/null || true)

mkdir -p "$KEEP" && cp "$WORK"/results.json "$WORK"/table.md "$KEEP"/ && cp "$WORK"/hyperfine*.json "$WORK"/hyperfine.txt "$KEEP"/ 2>/dev/null || true
[ -n "${NO_DOCS:-}" ] && exit 0
section=$(mktemp)
{
  echo "<!-- berth-runtime:begin (written by bench/runtime/run.sh; edits here are overwritten) -->"
  echo "## berth-runtime"
  echo
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, kernel $(uname -r), $(. /etc/os-release; echo "$PRETTY_NAME"),"
  echo "cgroups v1 (hybrid). Commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)."
  echo "Runtimes: $(jq -r '[.[] | "\(.runtime.name) (\(.runtime.version))"] | join(", ")' "$WORK/results.json")."
  echo
  echo "Medians over $N interleaved samples (sequential: 3 batches; parallel: 5 batches). Ratios are"
  echo "against runc. Peak RSS is the runtime process's own maximum resident set (wait4's"
  echo "ru_maxrss of each runtime invocation, which covers the runtime's helper processes it"
  echo "waits for, not the container): median per \`run\` and per \`create\`, and the largest of"
  echo "all invocations. Every runtime keeps its state (\`--root\`) on a tmpfs, as under /run in"
  echo "production; this machine's /run and /tmp are on its ext4 root, mounted with discard."
  echo
  cat "$WORK/table.md"
  echo
  if [ -n "$hyper" ]; then
    echo "Cross-check, \`hyperfine -N --warmup 3 --runs 20\` of \`run\` alone, one runtime after the"
    echo "other (not interleaved, so a change of the machine's load between them shows in the ratio):"
    echo
    echo "| runtime | median | mean ± σ |"
    echo "|---|---|---|"
    echo "$hyper"
    echo
  fi
  echo "Bar (issue 2): median wall time at most 0.6× runc's, peak RSS at most runc's; goal: crun's."
  echo "The machine is shared with other work while it runs; the samples are interleaved across"
  echo "runtimes so that the load falls on all of them alike, but absolute numbers follow the load"
  echo "(runc's run-true median ranged from 31 to 158 ms between runs on 2026-11-28); compare the ratios."
  echo
  echo "Reproduce: \`make bench\` or \`bench/runtime/run.sh\` (builds bench/runtimebench, makes the bundle from"
  echo "\`/bin/busybox\` and \`runc spec\` with \`process.args = [\"/bin/true\"]\`, runs"
  echo "\`runtimebench -n $N -runtime NAME=PATH ...\`; each sample is \`RUNTIME --root DIR run --bundle B ID\`,"
  echo "or \`create --pid-file\`, \`start\`, wait4 on the container's pid (the bench is a subreaper),"
  echo "\`delete\`). Raw samples: bench/.work/runtime/results.json."
  echo "<!-- berth-runtime:end -->"
} >"$section"
mkdir -p "$(dirname "$DOC")"
if [ -f "$DOC" ] && grep -q '<!-- berth-runtime:begin' "$DOC"; then
  awk -v f="$section" '
    /<!-- berth-runtime:begin/ { while ((getline l < f) > 0) print l; skip = 1; next }
    /<!-- berth-runtime:end -->/ { skip = 0; next }
    !skip { print }' "$DOC" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
else
  { [ -f "$DOC" ] && cat "$DOC" && echo; [ -f "$DOC" ] || printf '# Benchmarks\n\nAll numbers are measured on the machine named in each section, peers from Debian'"'"'s packages, in the same run.\n\n'; cat "$section"; } >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
fi
rm -f "$section"
echo "bench: wrote $DOC"

