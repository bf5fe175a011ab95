#!/usr/bin/env bash
# make bench (berth run part): times, in one run on this machine, `berth run --rm` and
# `berth exec` against Debian's dockerd (with its own containerd, both on their own
# roots, started here), and measures the resident memory of the daemons and of the
# per-container shims (berth-shim against containerd-shim-runc-v2), idle and with 50
# running containers. Writes the medians and ratios into docs/benchmarks.md (the
# section between the berth-run markers; the rest of the file is left alone).
#   BERTH_BIN=DIR   where berth, berthd, berth-shim and berth-runtime are (default bin/)
#   N=15            hyperfine runs per command (after 2 warmups)
#   MANY=50         containers for the "with many running" memory sample
#   NO_DOCS=1       print the table only
set -euo pipefail
export PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BERTH_BIN=${BERTH_BIN:-$REPO/bin}
N=${N:-15}
MANY=${MANY:-50}
DOC=$REPO/docs/benchmarks.md
[ "$(id -u)" = 0 ] || { echo "bench/runbench: run as root" >&2; exit 1; }
for t in dockerd docker containerd containerd-shim-runc-v2 runc hyperfine jq; do
  command -v $t >/dev/null || { echo "bench/runbench: $t not installed (Debian packages docker.io, containerd, runc, hyperfine, jq)" >&2; exit 1; }
done
for b in berth berthd berth-shim berth-runtime; do
  [ -x "$BERTH_BIN/$b" ] || { echo "bench/runbench: $BERTH_BIN/$b not built (make build)" >&2; exit 1; }
done

# Short paths: dockerd and containerd put unix sockets under their exec roots.
W=$(mktemp -d /tmp/runbench.XXXXXX)
OUT=$REPO/bench/.work/runbench
rm -rf "$OUT" && mkdir -p "$OUT"
BS=$W/berthd.sock
DS=$W/docker.sock
CS=$W/containerd.sock
BR=brb$(( $$ % 100000 ))
B=("$BERTH_BIN/berth" --address "$BS")
D=(docker -H "unix://$DS")
berthd_pid= containerd_pid= dockerd_pid=

cleanup() {
  set +e
  if [ -n "$berthd_pid" ]; then
    for id in $("${B[@]}" ps -aq --no-trunc 2>/dev/null); do "${B[@]}" rm -f "$id" >/dev/null 2>&1; done
    kill -TERM "$berthd_pid"; wait "$berthd_pid"
  fi
  if [ -n "$dockerd_pid" ]; then
    ids=$("${D[@]}" ps -aq 2>/dev/null)
    [ -n "$ids" ] && "${D[@]}" rm -f $ids >/dev/null 2>&1
    kill -TERM "$dockerd_pid"; wait "$dockerd_pid"
  fi
  if [ -n "$containerd_pid" ]; then kill -TERM "$containerd_pid"; wait "$containerd_pid"; fi
  ip link del "$BR" 2>/dev/null
  # Whatever is still mounted under the work dir (a daemon that died uncleanly).
  grep -o " $W/[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT

rss() { # sum of VmRSS (kB) of the given pids
  local s=0 p v
  for p in "$@"; do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
    s=$((s + ${v:-0}))
  done
  echo "$s"
}
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "n/a" }'; }
berth_shims() { pgrep -f "berth-shim -state-dir $W/berth-state/shims/" || true; }
docker_shims() { pgrep -f "containerd-shim-runc-v2 .*-address $CS" || true; }
wait_sock() { # wait_sock NAME CMD...: poll until CMD succeeds
  local name=$1; shift
  for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "bench/runbench: $name did not come up; its log:" >&2; tail -30 "$W/$name.log" >&2; exit 1
}

echo "bench/runbench: building the busybox image tar (Debian's busybox-static)"
go run "$REPO/bench/runbench/mkimage" -o "$W/busybox.tar" -tag busybox:latest

# berthd on its own root and state, its default bridge named for this run.
printf '[network]\ndefault_bridge = "%s"\ndefault_subnet = "10.254.%d.0/24"\n' "$BR" $(( $$ % 250 )) >"$W/berthd.toml"
"$BERTH_BIN/berthd" --root "$W/berth-root" --state "$W/berth-state" --address "$BS" --config "$W/berthd.toml" >"$W/berthd.log" 2>&1 &
berthd_pid=$!
wait_sock berthd "${B[@]}" version

# Debian's containerd and dockerd, on their own roots (dockerd would otherwise reuse a
# system containerd if one runs at the default address).
cat >"$W/containerd.toml" <<EOF
version = 2
root = "$W/containerd-root"
state = "$W/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CS"
[ttrpc]
  address = "$CS.ttrpc"
[debug]
  address = ""
EOF
containerd --config "$W/containerd.toml" >"$W/containerd.log" 2>&1 &
containerd_pid=$!
wait_sock containerd test -S "$CS"
dockerd --data-root "$W/docker-data" --exec-root "$W/docker-exec" --host "unix://$DS" --pidfile "$W/docker.pid" \
  --oom-score-adjust=0 --iptables=false --bridge=none --containerd "$CS" >"$W/dockerd.log" 2>&1 &
dockerd_pid=$!
wait_sock dockerd "${D[@]}" version

"${B[@]}" load -i "$W/busybox.tar" >/dev/null
"${D[@]}" load -i "$W/busybox.tar" >/dev/null
sleep 2
idle_berthd=$(rss "$berthd_pid")
idle_docker=$(rss "$dockerd_pid" "$containerd_pid")

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench/runbench: run --rm true, $N runs each"
hyperfine -N --warmup 2 --runs "$N" --export-json "$OUT/run.json" \
  -n berth "${B[*]} run --rm --network none busybox true" \
  -n docker "${D[*]} run --rm --network none busybox true" | tee "$OUT/run.txt"

"${B[@]}" run -d --network none --name bench-exec busybox sleep 100000 >/dev/null
"${D[@]}" run -d --network none --name bench-exec busybox sleep 100000 >/dev/null
echo "bench/runbench: exec true, $N runs each"
hyperfine -N --warmup 2 --runs "$N" --export-json "$OUT/exec.json" \
  -n berth "${B[*]} exec bench-exec true" \
  -n docker "${D[*]} exec bench-exec true" | tee "$OUT/exec.txt"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

sleep 1
shim_berth=$(rss $(berth_shims))
shim_docker=$(rss $(docker_shims))
[ "$(berth_shims | wc -l)" = 1 ] || { echo "bench/runbench: expected one berth-shim, found $(berth_shims | wc -l)" >&2; exit 1; }
[ "$(docker_shims | wc -l)" = 1 ] || { echo "bench/runbench: expected one containerd-shim-runc-v2, found $(docker_shims | wc -l)" >&2; exit 1; }

echo "bench/runbench: starting $((MANY - 1)) more containers in each (8 at a time)"
t0=$(date +%s.%N)
seq 2 "$MANY" | xargs -P 8 -I{} "${B[@]}" run -d --network none --name m{} busybox sleep 100000 >/dev/null
t1=$(date +%s.%N)
seq 2 "$MANY" | xargs -P 8 -I{} "${D[@]}" run -d --network none --name m{} busybox sleep 100000 >/dev/null
t2=$(date +%s.%N)
sleep 3
nb=$("${B[@]}" ps -q | wc -l); nd=$("${D[@]}" ps -q | wc -l)
[ "$nb" = "$MANY" ] && [ "$nd" = "$MANY" ] || { echo "bench/runbench: running: berth $nb, docker $nd, want $MANY each" >&2; exit 1; }
many_berthd=$(rss "$berthd_pid")
many_docker=$(rss "$dockerd_pid" "$containerd_pid")
many_bshims=$(rss $(berth_shims)); nbs=$(berth_shims | wc -l)
many_dshims=$(rss $(docker_shims)); nds=$(docker_shims | wc -l)
wall_b=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
wall_d=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.1f", b - a }')

med() { jq -r --arg n "$2" '.results[] | select(.command == $n) | .median * 1000' "$OUT/$1.json"; }
ms() { awk -v v="$1" 'BEGIN { printf "%.1f ms", v }'; }
run_b=$(med run berth); run_d=$(med run docker)
exec_b=$(med exec berth); exec_d=$(med exec docker)
range() { jq -r --arg n "$2" '.results[] | select(.command == $n) | "\(.min * 1000 | round)–\(.max * 1000 | round) ms"' "$OUT/$1.json"; }

table=$(mktemp)
{
  echo "| measure | berth | docker 20.10 + containerd 1.6 | ratio |"
  echo "|---|---|---|---|"
  echo "| \`run --rm --network none busybox true\`, median (min–max) | $(ms "$run_b") ($(range run berth)) | $(ms "$run_d") ($(range run docker)) | $(ratio "$run_b" "$run_d") |"
  echo "| \`exec CONTAINER true\`, median (min–max) | $(ms "$exec_b") ($(range exec berth)) | $(ms "$exec_d") ($(range exec docker)) | $(ratio "$exec_b" "$exec_d") |"
  echo "| one shim with a running container, VmRSS | $(mb "$shim_berth") (berth-shim) | $(mb "$shim_docker") (containerd-shim-runc-v2) | $(ratio "$shim_berth" "$shim_docker") |"
  echo "| daemons idle (image loaded), VmRSS | $(mb "$idle_berthd") (berthd) | $(mb "$idle_docker") (dockerd + containerd) | $(ratio "$idle_berthd" "$idle_docker") |"
  echo "| daemons with $MANY running containers, VmRSS | $(mb "$many_berthd") | $(mb "$many_docker") | $(ratio "$many_berthd" "$many_docker") |"
  echo "| shims with $MANY running containers, VmRSS sum ($nbs / $nds shims) | $(mb "$many_bshims") | $(mb "$many_dshims") | $(ratio "$many_bshims" "$many_dshims") |"
  echo "| daemons + shims with $MANY running | $(mb $((many_berthd + many_bshims))) | $(mb $((many_docker + many_dshims))) | $(ratio $((many_berthd + many_bshims)) $((many_docker + many_dshims))) |"
  echo "| wall time of $((MANY - 1)) \`run -d … sleep\`, 8 at a time | ${wall_b} s | ${wall_d} s | $(ratio "$wall_b" "$wall_d") |"
} >"$table"
cat "$table"

[ -n "${NO_DOCS:-}" ] && exit 0
section=$(mktemp)
{
  echo "<!-- berth-run:begin (written by bench/runbench/run.sh; edits here are overwritten) -->"
  echo "## berth run"
  echo
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, kernel $(uname -r), $(. /etc/os-release; echo "$PRETTY_NAME"), cgroups v1 (hybrid)."
  echo "Commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown); Debian's docker.io $(dockerd --version | awk '{print $3}' | tr -d ,),"
  echo "containerd $(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1 {print $3}'). berth uses berth-runtime (its default handler)."
  echo "Load average before / after the timings: $load_before / $load_after (the machine is shared)."
  echo
  cat "$table"
  echo
  echo "Both stacks run in the same run of the script, each on its own fresh root: berthd"
  echo "(\`--root --state --address\` under a temp dir), and dockerd (\`--data-root --exec-root"
  echo "--host --pidfile --oom-score-adjust=0 --iptables=false --bridge=none\`) with Debian's"
  echo "containerd started for it on its own root, state and socket (\`--containerd\`). The same"
  echo "busybox image (a docker-archive tar made by internal/testimage from Debian's busybox-static)"
  echo "is loaded into both. Times are \`hyperfine -N --warmup 2 --runs $N\` of the client command"
  echo "(\`berth --address S run --rm --network none busybox true\`, \`docker -H unix://S run --rm"
  echo "--network none busybox true\`; \`exec bench-exec true\` into a running \`sleep\` container)."
  echo "Memory is VmRSS from /proc: one shim while one container runs; daemons after the image is"
  echo "loaded and before any container; then with $MANY \`sleep\` containers running in each stack."
  echo
  echo "Bars (issue 4): run at most 0.5× docker's median (goal 0.25×); one shim's RSS at most 0.5×"
  echo "containerd-shim-runc-v2's (goal under 2 MB)."
  echo
  echo "Reproduce: \`make bench\` (or \`bench/runbench/run.sh\`; \`N=\`, \`MANY=\` change the sizes)."
  echo "Raw hyperfine results: bench/.work/runbench/{run,exec}.json."
  echo "<!-- berth-run:end -->"
} >"$section"
if grep -q '<!-- berth-run:begin' "$DOC"; then
  awk -v f="$section" '
    /<!-- berth-run:begin/ { while ((getline l < f) > 0) print l; skip = 1; next }
    /<!-- berth-run:end -->/ { skip = 0; next }
    !skip { print }' "$DOC" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
else
  { cat "$DOC"; echo; cat "$section"; } >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
fi
rm -f "$section" "$table"
echo "bench/runbench: wrote $DOC"
