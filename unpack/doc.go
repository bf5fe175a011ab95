// Package unpack turns an image's layers into committed snapshots named by
// chain ID: it decompresses each layer, applies it with package archive,
// checks its uncompressed digest against the config's rootfs.diff_ids, and
// commits the chain in order, skipping layers whose chain snapshot already
// exists. Independent layers are extracted in parallel where the snapshotter
// keeps each layer's changes apart (overlay), and a layer can be applied
// while it is still downloading (Session.ApplyStream). It must not fetch from
// registries, write content or record images: the daemon does, and labels
// the config blob with the returned chain ID.
package unpack
