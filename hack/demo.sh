#!/usr/bin/env bash
# make demo: Berth's front door. Starts berthd on its own root, state and socket, makes a
# busybox image locally from Debian's busybox-static (no internet), runs
#   berth run --rm busybox echo hello from berth
# then a detached web server with a published port and fetches a page from it, and
# removes everything again (containers, image, daemon, directories).
#   BERTH_BIN=DIR   where berthd, berth, berth-shim and berth-runtime are (default bin/)
#   PORT=8080       the host port the web server is published on (127.0.0.1)
#   KEEP=1          leave the daemon running at the end (prints how to reach it)
set -euo pipefail

export PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BERTH_BIN=$(cd "${BERTH_BIN:-$REPO/bin}" && pwd)
PORT=${PORT:-8080}
[ "$(id -u)" = 0 ] || { echo "demo: run as root" >&2; exit 1; }
for b in berthd berth berth-shim berth-runtime; do
  [ -x "$BERTH_BIN/$b" ] || { echo "demo: $BERTH_BIN/$b not built (run make build)" >&2; exit 1; }
done
[ -x /bin/busybox ] || { echo "demo: /bin/busybox missing: apt-get install busybox-static" >&2; exit 1; }

WORK=$(mktemp -d /tmp/berth-demo.XXXXXX)
SOCK=$WORK/berthd.sock
BERTH=("$BERTH_BIN/berth" --address "$SOCK")
DPID=
cleanup() {
  set +e
  if [ -n "$DPID" ] && [ -z "${KEEP:-}" ]; then
    for id in $("${BERTH[@]}" ps -aq 2>/dev/null); do "${BERTH[@]}" rm -f "$id" >/dev/null 2>&1; done
    kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
    ip link del berthdemo0 2>/dev/null
    umount "$WORK/state/netns" 2>/dev/null
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "berth ${*:4}"; "$@"; }

say "1. Start berthd on its own root, state and socket"
cat >"$WORK/config.toml" <<TOML
[network]
default_bridge = "berthdemo0"
default_subnet = "10.87.0.0/24"
TOML
"$BERTH_BIN/berthd" --root "$WORK/root" --state "$WORK/state" --address "$SOCK" --config "$WORK/config.toml" \
  >"$WORK/berthd.log" 2>&1 &
DPID=$!
for _ in $(seq 100); do "${BERTH[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
"${BERTH[@]}" version >/dev/null || { echo "demo: berthd did not start:"; cat "$WORK/berthd.log"; exit 1; }
echo "berthd pid $DPID, socket $SOCK"

say "2. A busybox image made here from Debian's busybox-static, loaded into berthd"
(cd "$REPO" && go run ./internal/testimage/cmd/testimage -docker -docker-archive "$WORK/busybox.tar")
run "${BERTH[@]}" load -i "$WORK/busybox.tar"
ID=$("${BERTH[@]}" images -q | head -1)
run "${BERTH[@]}" tag "$ID" busybox:latest
run "${BERTH[@]}" images

say "3. berth run --rm busybox echo hello from berth"
start=$(date +%s%N)
run "${BERTH[@]}" run --rm busybox echo hello from berth
echo "(exit code $?, $(( ($(date +%s%N) - start) / 1000000 )) ms, container removed: $("${BERTH[@]}" ps -aq | wc -l) left)"

say "4. A detached web server published on 127.0.0.1:$PORT"
run "${BERTH[@]}" run -d --name web -p "127.0.0.1:$PORT:80" busybox \
  sh -c 'mkdir -p /www && echo "<h1>hello from berth</h1>" > /www/index.html && exec httpd -f -v -p 80 -h /www'
run "${BERTH[@]}" ps
ok=
for _ in $(seq 50); do
  if page=$(curl -fsS -m 2 "http://127.0.0.1:$PORT/" 2>/dev/null); then ok=1; break; fi
  sleep 0.1
done
printf '$ curl http://127.0.0.1:%s/\n%s\n' "$PORT" "${page:-}"
[ -n "$ok" ] || { echo "demo: the web server did not answer"; exit 1; }
run "${BERTH[@]}" exec web sh -c 'echo "inside: $(hostname), $(ip -4 -o addr show eth0 2>/dev/null | awk "{print \$4}")"'
run "${BERTH[@]}" logs web
run "${BERTH[@]}" stop -t 1 web
run "${BERTH[@]}" rm web

if [ -n "${KEEP:-}" ]; then
  say "Done. berthd keeps running: berth --address $SOCK ps"
else
  say "Done: berthd served two containers through berth-shim and berth-runtime; everything is being removed."
fi
