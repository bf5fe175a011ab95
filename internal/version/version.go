// Package version holds the build's version string, set by the linker.
package version

// Version is replaced at link time (-X); "dev" for plain go builds.
var Version = "dev"

// RuntimeSpec is the OCI runtime-spec version Berth implements.
const RuntimeSpec = "1.3.0"
