// Package registry is Berth's client for the OCI distribution API: it resolves
// references to manifest descriptors, fetches manifests and blobs (following
// redirects without leaking credentials, retrying with backoff, resuming with
// Range, failing a registry that stalls within an idle timeout) and pushes
// blobs and manifests (existence checks, cross-repository mounts, monolithic or
// chunked uploads). Endpoints come from package registry/hosts, credentials from
// registry/auth. It stores nothing: fetched bytes go to the caller (the content
// store verifies and keeps them) and pushed bytes come from a content.Provider.
package registry
