// Package client is the Go client of the berth API: it dials berthd's unix
// socket, sets the namespace on every call and turns gRPC errors back into
// Berth's error kinds. The berth CLI is built on it.
package client
