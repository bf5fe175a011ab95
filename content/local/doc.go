// Package local is Berth's on-disk content store: committed blobs live at
// <root>/blobs/<algorithm>/<hex> (sha256 and sha512), written through
// resumable ingests under <root>/ingest/<hash of ref>/, hashed as they are
// written, verified and fsynced before an atomic rename into place. It is
// shared by every namespace and knows nothing of namespaces, images or what
// references a blob (metadata and gc do).
package local
