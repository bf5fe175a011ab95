#!/usr/bin/env bash
# Installs what Berth's build, demo and tests need on a Debian 12 machine (run as root).
# Idempotent: packages already present are not fetched again.
set -euo pipefail

PKGS=(
  gcc libc6-dev make git ca-certificates curl jq iproute2 iptables procps psmisc time
  busybox-static          # images and bundles are built from it (no internet)
  runc crun               # peers for conformance, benchmarks, and the shim's handlers
  containerd docker.io podman uidmap   # drop-in and benchmark peers
  docker-registry         # a real OCI registry on loopback
  containernetworking-plugins
  protobuf-compiler libprotobuf-dev
  hyperfine skopeo
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian's docker.io/containerd/registry packages may start services on install; Berth's
# tests start their own instances on their own roots and sockets.
for s in docker containerd docker-registry; do
  if [ -x "/etc/init.d/$s" ]; then "/etc/init.d/$s" stop >/dev/null 2>&1 || true; fi
done
if ! command -v go >/dev/null; then
  if [ -x /usr/local/go/bin/go ]; then :; else echo "deps: Go toolchain not found (expected /usr/local/go)" >&2; exit 1; fi
fi
export PATH=/usr/local/go/bin:$PATH
go mod download
