// Package images defines Berth's image records (a name pointing at a target
// descriptor, with labels) and the Store interface over them, plus the
// bounded walk of an image's content graph (index → manifests → config and
// layers) shared by pull, save and garbage collection. It stores nothing
// itself (metadata implements Store) and never touches a registry or disk.
package images
