#!/usr/bin/env bash
# make bench (image pull part): pulls, in one run, the same images from the same
# local docker-registry with berthd (`berth pull`) and with Debian's containerd
# (`ctr images pull`, which also unpacks), each daemon on a fresh root per sample,
# and writes medians and ratios into docs/benchmarks.md (the section between the
# image-pull markers; the rest of the file is left alone).
#   BERTH_BIN=DIR   where berth and berthd are (default bin/)
#   N=5             samples per daemon and image (interleaved)
#   LAYERS=20 BYTES=524288000   shape of the generated image
#   NO_DOCS=1       print the table only
set -euo pipefail
export PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BERTH_BIN=${BERTH_BIN:-$REPO/bin}
WORK=$HERE/.work
N=${N:-5}
LAYERS=${LAYERS:-20}
BYTES=${BYTES:-524288000}
DOC=$REPO/docs/benchmarks.md
[ "$(id -u)" = 0 ] || { echo "bench/pull: run as root" >&2; exit 1; }
for t in docker-registry containerd ctr; do
  command -v $t >/dev/null || { echo "bench/pull: $t not installed (Debian packages docker-registry, containerd)" >&2; exit 1; }
done
for b in berth berthd; do
  [ -x "$BERTH_BIN/$b" ] || { echo "bench/pull: $BERTH_BIN/$b not built (make build)" >&2; exit 1; }
done
rm -rf "$WORK" && mkdir -p "$WORK"
trap 'rm -rf "$WORK/registry" "$WORK"/berthd-* "$WORK"/containerd-*' EXIT

go build -o "$WORK/pullbench" "$REPO/bench/pull/pullbench"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench/pull: berthd vs containerd, $N samples each; generating and pushing a ${LAYERS}-layer image first"
"$WORK/pullbench" -work "$WORK" -bin "$BERTH_BIN" -n "$N" -layers "$LAYERS" -bytes "$BYTES" -out "$WORK/results.json" | tee "$WORK/out.txt"
grep '^|' "$WORK/out.txt" >"$WORK/table.md"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

[ -n "${NO_DOCS:-}" ] && exit 0
section=$(mktemp)
{
  echo "<!-- image-pull:begin (written by bench/pull/run.sh; edits here are overwritten) -->"
  echo "## image pull"
  echo
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, kernel $(uname -r), $(. /etc/os-release; echo "$PRETTY_NAME")."
  echo "Commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown); containerd $(containerd --version | awk '{print $3}') (Debian)."
  echo
  echo "Wall time of one pull including unpacking into overlayfs snapshots (\`berth pull -q REF\` against"
  echo "berthd; \`ctr -n bench images pull --plain-http REF\` against containerd), from Debian's"
  echo "docker-registry on loopback; medians of $N samples, the two daemons interleaved, each sample"
  echo "on a fresh root with the daemon started for it and sync(2) called before the pull starts (so"
  echo "neither is charged for writing back the other's files). Peak RSS is the daemon's VmHWM after"
  echo "the pull. berthd syncs the filesystem once before committing the layers (crash safety);"
  echo "containerd 1.6 does not (its sync after unpack is an opt-in CRI setting in later versions)."
  echo "Images: busybox from Debian's busybox-static, and an image generated deterministically by"
  echo "internal/testimage (seed 20241: $LAYERS layers of many small files, large files, hardlinks,"
  echo "symlinks, whiteouts; half compressible, half random; gzip)."
  echo
  cat "$WORK/table.md"
  echo
  echo "Bar (issue 3): wall time at most 1.0× containerd's and peak RSS at most containerd's; goal 0.6×."
  echo "The machine is shared with other work while it runs (load average $load_before at the start,"
  echo "$load_after at the end, on 2 cores): absolute numbers vary a lot from sample to sample (see the"
  echo "ranges) and from run to run; the interleaving makes the load fall on both daemons alike. berthd's"
  echo "one filesystem sync also writes back whatever other processes dirtied meanwhile, which makes"
  echo "it the more sensitive of the two to such load."
  echo
  echo "Reproduce: \`make bench\` (or \`bench/pull/run.sh\`; N, LAYERS, BYTES tune it). Raw samples:"
  echo "bench/pull/.work/results.json."
  echo "<!-- image-pull:end -->"
} >"$section"
mkdir -p "$(dirname "$DOC")"
if [ -f "$DOC" ] && grep -q '<!-- image-pull:begin' "$DOC"; then
  awk -v f="$section" '
    /<!-- image-pull:begin/ { while ((getline l < f) > 0) print l; skip = 1; next }
    /<!-- image-pull:end -->/ { skip = 0; next }
    !skip { print }' "$DOC" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
else
  { [ -f "$DOC" ] && cat "$DOC" && echo; [ -f "$DOC" ] || printf '# Benchmarks\n\n'; cat "$section"; } >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
fi
rm -f "$section"
echo "bench/pull: wrote $DOC"
