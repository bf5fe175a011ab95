// Package api holds the berth gRPC API: protobuf definitions under berth/v1 and
// the Go code generated from them (regenerate with api/gen.sh). It is the
// contract between berthd and its clients and contains no logic.
package api
