// Package archive reads and writes image archives: OCI image-layout tars
// (oci-layout, index.json, blobs/<alg>/<hex>) and docker-archive tars
// (manifest.json naming a config and layer tars, as `docker save` writes).
// Export writes both indexes into one tar, so either Berth, containerd or
// Docker can load it; Import detects the format, stores every blob through
// the content store (which verifies digests) and returns the images to
// record. It must not create image records, unpack, or touch the disk other
// than through the content store, and it treats every archive as hostile:
// names are keys, never paths, and sizes and counts are bounded.
package archive
