// Package logs writes and reads container logs in the JSON-lines format of
// Docker's json-file driver. The shim writes one JSON object per line —
// {"log":"text\n","stream":"stdout"|"stderr","time":"RFC3339Nano UTC"} — and
// rotates by size: when the file would exceed MaxSize it is renamed to
// PATH.1 (PATH.1 to PATH.2, and so on) and a new PATH is started; at most
// MaxFiles files exist (PATH plus PATH.1 … PATH.(MaxFiles-1)), the oldest
// removed. A line longer than 16 KiB is split into several entries; every
// entry but the last of such a line has no trailing "\n" (it is partial), as is
// a final line that ended without a newline. The daemon reads these files
// directly with Read (tail, since, follow across rotation). This package
// knows nothing of containers, processes or the shim's API and never deletes
// a log it did not rotate out itself.
package logs
