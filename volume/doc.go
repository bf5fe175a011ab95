// Package volume keeps Berth's named volumes (the "local" driver): a
// directory <root>/<name>/_data per volume, with its labels and creation
// time in <root>/<name>/meta.json. A volume appears whole or not at all: it
// is built under a temporary name, fsynced and renamed into place. Which
// containers use a volume is not stored here; the daemon supplies it
// (WithUsage) from the container records, and Remove refuses a volume in
// use unless forced. The package never mounts anything and knows nothing of
// containers, images or specs.
package volume
