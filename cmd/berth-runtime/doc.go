// Command berth-runtime is Berth's OCI runtime: runc's command line (create,
// start, run, state, kill, delete, exec, list, ps, pause, resume, update, events,
// spec, features) over the runtime/ packages, so Docker, Podman and containerd can
// use it in place of runc. One file per subcommand; each only parses flags, calls
// runtime/container and prints. It must stay lean: no gRPC, protobuf or net/http.
package main
