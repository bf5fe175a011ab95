// Package spec loads, validates and generates OCI runtime-spec configurations
// (config.json) for berth-runtime. Validation names the offending field in every
// error. It never touches the kernel: it only reads and checks documents.
package spec
