// Package runtime is the root of Berth's low-level OCI runtime: the library behind
// berth-runtime that turns an OCI bundle (config.json + rootfs) into a running,
// isolated process and manages it through runc's lifecycle (create, start, kill,
// delete, exec, pause, ...). Its sub-packages each own one concept (spec loading,
// namespaces entry, rootfs, cgroups, capabilities, seccomp, state, hooks). It must
// not know about images, registries, shims or the daemon, and it must stay free of
// gRPC and protobuf so the runtime binary stays small and fast to start.
package runtime
