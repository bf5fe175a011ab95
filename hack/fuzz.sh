#!/usr/bin/env bash
# Runs every fuzz target in the module for FUZZTIME each (default 20s).
# `make fuzz`; FUZZTIME=2m make fuzz for a longer run; FUZZ_PKG=./registry/... to narrow.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
FUZZTIME=${FUZZTIME:-20s}
PKGS=${FUZZ_PKG:-./...}
fail=0
while read -r pkg dir; do
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "== $pkg $target ($FUZZTIME)"
    if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg"; then
      echo "FUZZ FAILURE: $pkg $target" >&2
      fail=1
    fi
  done
done < <(go list -f '{{.ImportPath}} {{.Dir}}' $PKGS)
exit $fail
