// Package daemon wires berthd together: it reads the configuration, takes the
// one-daemon-per-root lock, opens the stores under --root and --state, and
// serves the berth gRPC API on a unix socket, each service registered on one
// server. It holds no storage logic of its own: services call the stores.
package daemon
