// Package images holds Berth's end-to-end image tests: the built berthd and
// berth binaries against Debian's docker-registry (plain HTTP, TLS with a
// generated CA, htpasswd basic auth) and an in-process registry that injects
// faults. They need root and run in `make test`, not under -short. They must
// not depend on each other or on anything outside their temp directories.
package images
