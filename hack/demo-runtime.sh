#!/usr/bin/env bash
# berth-runtime alone (no daemon): runs a container from a busybox bundle built on the spot
# from Debian's busybox-static, and shows what it ran. Builds nothing itself (make does).
#   BERTH_BIN=DIR    where berth-runtime is (default bin/)
#   RUNTIME=PATH     run the same demo with another OCI runtime (runc, crun) instead
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BERTH_BIN=${BERTH_BIN:-$HERE/../bin}
RUNTIME=${RUNTIME:-$BERTH_BIN/berth-runtime}
RUNTIME=$(command -v "$RUNTIME" || true); [ -n "$RUNTIME" ] && RUNTIME=$(readlink -f "$RUNTIME")
[ -n "$RUNTIME" ] && [ -x "$RUNTIME" ] || { echo "demo: berth-runtime not built (run make build)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "demo: run as root" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "demo: /bin/busybox missing: apt-get install busybox-static" >&2; exit 1; }
command -v jq >/dev/null || { echo "demo: jq missing: apt-get install jq" >&2; exit 1; }

WORK=$(mktemp -d /tmp/berth-demo.XXXXXX)
STATE=$WORK/state
BUNDLE=$WORK/bundle
ID=berth-demo-$$
cleanup() {
  "$RUNTIME" --root "$STATE" delete --force "$ID" >/dev/null 2>&1 || true
  "$RUNTIME" --root "$STATE" delete --force "$ID-2" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "1. A bundle from Debian's busybox-static"
mkdir -p "$BUNDLE/rootfs"/{bin,etc,proc,sys,dev,tmp,root}
cp /bin/busybox "$BUNDLE/rootfs/bin/busybox"
for a in sh echo uname id hostname cat ls ps sleep true; do ln -s busybox "$BUNDLE/rootfs/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$BUNDLE/rootfs/etc/passwd"
printf 'root:x:0:\n' >"$BUNDLE/rootfs/etc/group"
run "$RUNTIME" spec --bundle "$BUNDLE"
script='echo "hello from berth"; echo "uname:    $(uname -srm)"; echo "id:       $(id)"; echo "hostname: $(hostname)"; echo "pid:      $$ (pid 1 of its own namespace)"; echo "processes:"; ps -o pid,user,comm; echo "rootfs:  " $(ls /)'
jq --arg s "$script" '.process.terminal = false | .process.args = ["/bin/sh", "-c", $s] | .hostname = "berth-demo"' \
  "$BUNDLE/config.json" >"$BUNDLE/config.json.new" && mv "$BUNDLE/config.json.new" "$BUNDLE/config.json"
echo "config.json: process.args = $(jq -c .process.args "$BUNDLE/config.json" | cut -c1-100)..."
echo "             namespaces   = $(jq -c '[.linux.namespaces[].type]' "$BUNDLE/config.json")"

say "2. berth-runtime run (foreground; exits with the container's code)"
printf '$ %s\n' "$RUNTIME --root $STATE run --bundle $BUNDLE $ID"
"$RUNTIME" --root "$STATE" run --bundle "$BUNDLE" "$ID"
echo "(exit code $?)"

say "3. The lifecycle: create -> start -> state -> delete"
jq '.process.args = ["/bin/sh", "-c", "exit 3"]' "$BUNDLE/config.json" >"$BUNDLE/config.json.new" &&
  mv "$BUNDLE/config.json.new" "$BUNDLE/config.json"
run "$RUNTIME" --root "$STATE" create --bundle "$BUNDLE" "$ID-2"
printf '$ %s\n' "$RUNTIME --root $STATE state $ID-2"
"$RUNTIME" --root "$STATE" state "$ID-2" | jq -c '{id, status, pid, bundle}'
run "$RUNTIME" --root "$STATE" start "$ID-2"
for _ in $(seq 50); do
  st=$("$RUNTIME" --root "$STATE" state "$ID-2" | jq -r .status)
  [ "$st" = stopped ] && break
  sleep 0.1
done
printf '$ %s\n' "$RUNTIME --root $STATE state $ID-2"
"$RUNTIME" --root "$STATE" state "$ID-2" | jq -c '{id, status}'
run "$RUNTIME" --root "$STATE" delete "$ID-2"
run "$RUNTIME" --root "$STATE" list

say "Done: ran two containers with $(basename "$RUNTIME") ($("$RUNTIME" --version | head -1)); everything removed."
