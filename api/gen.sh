#!/usr/bin/env bash
# Regenerates the Go code for the berth API from api/berth/v1/*.proto.
# The generated files are checked in; run this after changing a .proto.
set -euo pipefail
cd "$(dirname "$0")"
export PATH=/usr/local/go/bin:$PATH
GOBIN="$(go env GOPATH)/bin"
export PATH=$GOBIN:$PATH
command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler libprotobuf-dev" >&2; exit 1; }
[ -x "$GOBIN/protoc-gen-go" ] || go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
[ -x "$GOBIN/protoc-gen-go-grpc" ] || go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
protoc -I . -I /usr/include \
  --go_out=. --go_opt=paths=source_relative \
  --go-grpc_out=. --go-grpc_opt=paths=source_relative \
  berth/v1/*.proto
