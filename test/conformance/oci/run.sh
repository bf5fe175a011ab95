#!/usr/bin/env bash
# Runs the OCI runtime-tools validation suite (58 programs, TAP output) against an
# OCI runtime and prints a per-program table and a summary line.
#
#   RUNTIME=berth-runtime|runc|crun|/path/to/runtime   (default: $BERTH_BIN/berth-runtime)
#   MIN_PASS=N        exit non-zero when fewer than N programs pass
#                     (default 40 for berth-runtime, 0 for any other runtime)
#   TIMEOUT=SECONDS   per program (default 60)
#   ONLY="a b ..."    run only these programs (names as in validation/)
#   WORK=DIR          build and results directory (default test/conformance/oci/.work)
#
# The suite is fetched through the Go module proxy at a pinned version, built in its
# own module directory (never part of Berth's go.mod), and run from that directory
# (the programs expect rootfs-amd64.tar.gz and runtimetest in their working directory).
# A program passes when it exits 0, prints no "not ok", and, unless it printed a real
# (not skipped) "ok", no YAML diagnostic with an "error" (how several programs fail).
# Results go to $WORK/results-RUNTIME.txt (and results.txt, the last run), logs to
# $WORK/logs-RUNTIME/PROGRAM.log. Runs are serialized machine-wide by a lock.
set -uo pipefail

# The whole script is one function, read before it runs: editing this file while a
# run is in progress cannot change what that run executes.
main() {

RT_MODULE=github.com/opencontainers/runtime-tools
# The newest version the Go module proxy serves (its @v/list, 2026-11).
RT_VERSION=v0.9.1-0.20251114084447-edf4cb3d2116

export PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
WORK=${WORK:-$HERE/.work}
TIMEOUT=${TIMEOUT:-60}
BERTH_BIN=${BERTH_BIN:-$REPO/bin}

die() { echo "conformance-oci: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "must run as root (containers, cgroups, mounts)"
# Some programs use fixed cgroup paths (/cgrouptest): two runs at once on one machine
# (any runtime, any checkout) would trip over each other. One at a time.
exec 9>/run/berth-conformance-oci.lock
if ! flock -n 9; then
  echo "conformance-oci: another run holds /run/berth-conformance-oci.lock; waiting"
  flock 9 || die "waiting for /run/berth-conformance-oci.lock failed"
fi

# --- which runtime -----------------------------------------------------------
RUNTIME=${RUNTIME:-berth-runtime}
case "$RUNTIME" in
  berth-runtime) RUNTIME_PATH=$BERTH_BIN/berth-runtime ;;
  */*) RUNTIME_PATH=$RUNTIME ;;
  *) RUNTIME_PATH=$(command -v "$RUNTIME") || die "runtime $RUNTIME not found in PATH" ;;
esac
[ -x "$RUNTIME_PATH" ] || die "runtime $RUNTIME_PATH is not an executable (run make build)"
RUNTIME_PATH=$(readlink -f "$RUNTIME_PATH")
RUNTIME_NAME=$(basename "$RUNTIME_PATH")
# crun 1.8 rejects a config.json whose ociVersion is above 1.1 ("unknown version
# specified"), and the suite writes 1.3.0: crun is measured through a wrapper that
# lowers ociVersion to 1.1.0 in the bundle before create. Nothing else is changed.
RUNTIME_CMD=$RUNTIME_PATH
if [ "$RUNTIME_NAME" = crun ] && [ -z "${NO_CRUN_WRAPPER:-}" ]; then
  mkdir -p "$WORK"
  RUNTIME_CMD=$WORK/crun-oci11
  {
    echo '#!/bin/bash'
    echo 'if [ "$1" = create ]; then'
    echo '  b=.; prev=; for a in "$@"; do [ "$prev" = --bundle ] && b=$a; prev=$a; done'
    echo '  [ -f "$b/config.json" ] && sed -i -E '"'"'s/"ociVersion": *"1\.[2-9][^"]*"/"ociVersion": "1.1.0"/'"'"' "$b/config.json"'
    echo 'fi'
    echo "exec $RUNTIME_PATH \"\$@\""
  } >"$RUNTIME_CMD"
  chmod +x "$RUNTIME_CMD"
fi
if [ -z "${MIN_PASS:-}" ]; then
  if [ "$RUNTIME_NAME" = berth-runtime ]; then MIN_PASS=40; else MIN_PASS=0; fi
fi

# --- build the suite -----------------------------------------------------------
SRC=$WORK/runtime-tools-$RT_VERSION
STAMP=$SRC/.berth-built
build_suite() {
  local dir
  echo "conformance-oci: fetching $RT_MODULE@$RT_VERSION through the Go module proxy"
  # A throwaway module of its own, so Berth's go.mod/go.sum are never touched.
  mkdir -p "$WORK/fetch" && printf 'module fetch\n\ngo 1.21\n' >"$WORK/fetch/go.mod"
  dir=$(cd "$WORK/fetch" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "$RT_MODULE@$RT_VERSION" | jq -r .Dir) ||
    die "go mod download $RT_MODULE@$RT_VERSION failed"
  [ -d "$dir" ] || die "module directory $dir missing after download"
  rm -rf "$SRC"
  cp -r "$dir" "$SRC" && chmod -R u+w "$SRC"
  # The module zip keeps only vendor/modules.txt; build from the module cache instead.
  rm -rf "$SRC/vendor"
  echo "conformance-oci: building runtimetest and the validation programs"
  (
    cd "$SRC" || exit 1
    export GOFLAGS=-mod=mod GOWORK=off
    go mod download || exit 1
    CGO_ENABLED=0 go build -tags 'netgo osusergo' -o runtimetest ./cmd/runtimetest || exit 1
    mkdir -p bin
    go build -o bin/ ./validation/... || exit 1
  ) || die "building the suite failed"
  touch "$STAMP"
}
mkdir -p "$WORK"
[ -f "$STAMP" ] || build_suite
mapfile -t PROGRAMS < <(cd "$SRC/validation" && for d in */; do d=${d%/}; [ -f "$d/$d.go" ] && echo "$d"; done)
[ "${#PROGRAMS[@]}" -eq 58 ] || echo "conformance-oci: warning: expected 58 programs, found ${#PROGRAMS[@]}" >&2
for p in "${PROGRAMS[@]}"; do [ -x "$SRC/bin/$p" ] || { rm -f "$STAMP"; die "program $p not built; rerun"; }; done
if [ -n "${ONLY:-}" ]; then read -r -a PROGRAMS <<<"$ONLY"; fi

# --- machine setup (additive, idempotent) ---------------------------------------
# crun 1.8 needs a v1 hugetlb hierarchy (it moves hugetlb off the empty cgroup2); the
# network-class programs need a v1 net_cls,net_prio hierarchy. Hybrid hosts only.
mount_v1() { # mount_v1 DIRNAME CONTROLLERS
  local dir=/sys/fs/cgroup/$1
  grep -q " $dir cgroup " /proc/self/mounts && return 0
  grep -qw "${2%%,*}" /proc/cgroups || return 0
  mkdir -p "$dir" && mount -t cgroup -o "$2" cgroup "$dir" 2>/dev/null ||
    echo "conformance-oci: note: could not mount the v1 $2 hierarchy at $dir" >&2
}
if [ -d /sys/fs/cgroup/unified ] || [ -d /sys/fs/cgroup/memory ]; then
  mount_v1 hugetlb hugetlb
  mount_v1 net_cls,net_prio net_cls,net_prio
  for l in net_cls net_prio; do [ -e /sys/fs/cgroup/$l ] || ln -s net_cls,net_prio /sys/fs/cgroup/$l 2>/dev/null || true; done
fi

# --- run --------------------------------------------------------------------------
LOGS=$WORK/logs-$RUNTIME_NAME
rm -rf "$LOGS" && mkdir -p "$LOGS"
RESULTS=$WORK/results-$RUNTIME_NAME.txt
# The programs make their bundles with os.MkdirTemp: a private TMPDIR keeps them apart
# from anybody else's run, and lets the cleanup below touch only what this run made.
SUITE_TMP=$WORK/tmp-$RUNTIME_NAME-$$
rm -rf "$SUITE_TMP" && mkdir -p "$SUITE_TMP"
: >"$RESULTS.tmp"

# Containers the suite leaves behind (a program killed by the timeout, a runtime that
# fails to delete) are force-deleted: only those whose bundle is one of the suite's
# temp bundles, never anybody else's.
cleanup_leftovers() {
  local ids
  ids=$("$RUNTIME_PATH" list --format json 2>/dev/null |
    jq -r --arg d "$SUITE_TMP/" '.[]? | select(.bundle | startswith($d)) | .id' 2>/dev/null) || return 0
  for id in $ids; do
    "$RUNTIME_PATH" kill "$id" KILL >/dev/null 2>&1 9>&-
    timeout 20 "$RUNTIME_PATH" delete --force "$id" >/dev/null 2>&1 9>&-
  done
  # Some programs mount on the host side of their bundles (linux_rootfs_propagation
  # makes the bundle a shared mount, so the container's /proc, /dev and /sys show up
  # there): unmount everything under the private TMPDIR, deepest first, and never let
  # rm cross into a mount.
  local m
  for _ in 1 2 3; do
    m=$(awk -v d="$SUITE_TMP/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
    [ -z "$m" ] && break
    for x in $m; do umount -l "$x" 2>/dev/null; done
  done
  rm -rf --one-file-system "$SUITE_TMP"/* 2>/dev/null
}

echo "conformance-oci: $RUNTIME_PATH ($("$RUNTIME_PATH" --version 2>/dev/null | head -1)), $RT_MODULE@$RT_VERSION"
pass=0 fail=0 total=0
start_all=$(date +%s)
for p in "${PROGRAMS[@]}"; do
  log=$LOGS/$p.log
  t0=$(date +%s%N)
  (cd "$SRC" && TMPDIR=$SUITE_TMP RUNTIME=$RUNTIME_CMD timeout -k 5 "$TIMEOUT" "bin/$p" </dev/null >"$log" 2>&1 9>&-)
  rc=$?
  ms=$(( ($(date +%s%N) - t0) / 1000000 )); secs=$((ms / 1000)).$(( (ms % 1000) / 100 ))
  nok=$(grep -c '^not ok' "$log")
  ok=$(grep -c '^ok' "$log")
  real=$(grep '^ok' "$log" | grep -vic '# skip')
  diag_err=$(grep -c '^ *"error": ' "$log")
  # Passed: exit 0, no "not ok", and, when no real (not skipped) "ok" was printed, no
  # YAML diagnostic carrying an "error". Several programs report their verdict only
  # that way: a plan of 1..0 with an "error" diagnostic is a failure (hooks, prestart,
  # poststart_fail, ...), a silent exit 0 a success (process_rlimits_fail, ...).
  if [ "$rc" = 0 ] && [ "$nok" = 0 ] && { [ "$real" -gt 0 ] || [ "$diag_err" = 0 ]; }; then
    verdict=PASS; pass=$((pass + 1))
  else
    verdict=FAIL; fail=$((fail + 1))
  fi
  total=$((total + 1))
  why=""
  if [ "$verdict" = FAIL ]; then
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then why="timeout after ${TIMEOUT}s"
    elif [ "$nok" != 0 ]; then why=$(grep -m1 '^not ok' "$log" | cut -c1-110)
    elif [ "$rc" = 0 ]; then why="error diagnostic: $(grep -m1 -o '"error": "[^"]*' "$log" | cut -c11-100)"
    else why="exit $rc: $(grep -v '^\s*$' "$log" | grep -v '^TAP\|^1\.\.' | head -1 | cut -c1-100)"; fi
  fi
  printf '%-40s %s  ok=%-3s not_ok=%-3s rc=%-3s %5ss  %s\n' "$p" "$verdict" "$ok" "$nok" "$rc" "$secs" "$why" | tee -a "$RESULTS.tmp"
  cleanup_leftovers
done
mv "$RESULTS.tmp" "$RESULTS"
rmdir "$SUITE_TMP" 2>/dev/null || echo "conformance-oci: note: leftovers in $SUITE_TMP" >&2
cp "$RESULTS" "$WORK/results.txt"
echo "oci conformance: $pass/$total passed ($RUNTIME_NAME, $(( $(date +%s) - start_all ))s; logs in $LOGS)" | tee -a "$RESULTS"
if [ "$pass" -lt "$MIN_PASS" ]; then
  echo "conformance-oci: FAIL: $pass passed, at least $MIN_PASS required" >&2
  exit 1
fi
}
main "$@"; exit $?
