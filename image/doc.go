// Package image orchestrates what berthd does with whole images: pull
// (resolve, fetch manifests and config, fetch layers in parallel into the
// content store while unpacking them into snapshots, record the image last,
// all under a lease), push, and the image-level questions the API answers
// (size, unpacked, usage). It is usable from the daemon and from tests
// alike: every store it touches is passed in (Deps). It holds no state of
// its own and must not write to the backend stores behind metadata's back,
// open sockets other than through the registry client, or know about gRPC.
package image
