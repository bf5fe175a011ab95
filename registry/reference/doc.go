// Package reference parses and normalises image references of the form
// [host[:port]/]path[:tag][@digest], with Docker's short-name rules
// ("busybox" is docker.io/library/busybox:latest, index.docker.io is docker.io).
// It is pure string handling: it never resolves names over the network, never
// reads configuration, and never decides which endpoint serves a reference
// (package registry/hosts does that).
package reference
