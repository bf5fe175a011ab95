// Command testimage builds a test image (busybox from Debian's busybox-static,
// or a generated one) deterministically and pushes it to a registry, or writes
// it as an OCI layout, OCI archive or docker-archive tar. Benchmarks and demos
// use it to put images in a local registry without the internet:
//
//	go run ./internal/testimage/cmd/testimage -ref 127.0.0.1:5000/busybox:latest
//	go run ./internal/testimage/cmd/testimage -kind generated -layers 20 -size 500M -ref 127.0.0.1:5000/big:latest
//
// It is a test tool: it never talks to berthd and knows no daemon state.
package main
