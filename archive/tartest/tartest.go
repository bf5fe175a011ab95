package tartest

import (
	"archive/tar"
	"bytes"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Epoch is the default modification time of generated entries.
var Epoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// Entry is one tar entry.
type Entry struct {
	Name     string
	Type     byte
	Body     []byte
	Size     int64 // overrides len(Body) in the header when > 0 (for lying entries)
	Mode     int64
	UID, GID int
	Link     string
	Xattrs   map[string]string
	ModTime  time.Time
	Major    int64
	Minor    int64
}

// File is a regular file with mode 0644.
func File(name, body string) Entry {
	return Entry{Name: name, Type: tar.TypeReg, Body: []byte(body), Mode: 0o644}
}

// Dir is a directory with mode 0755.
func Dir(name string) Entry { return Entry{Name: name, Type: tar.TypeDir, Mode: 0o755} }

// Symlink is a symbolic link name → target.
func Symlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeSymlink, Link: target, Mode: 0o777}
}

// Hardlink is a hard link name → target (a path in the archive).
func Hardlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeLink, Link: target, Mode: 0o644}
}

// Whiteout deletes name (a path) from the layers below.
func Whiteout(name string) Entry {
	dir, base := split(name)
	return File(dir+".wh."+base, "")
}

// Opaque marks dir as hiding the layers below.
func Opaque(dir string) Entry { return File(dir+"/.wh..wh..opq", "") }

func split(name string) (string, string) {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			return name[:i+1], name[i+1:]
		}
	}
	return "", name
}

// Tar writes the entries as a PAX tar.
func Tar(entries ...Entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		mt := e.ModTime
		if mt.IsZero() {
			mt = Epoch
		}
		h := &tar.Header{
			Name: e.Name, Typeflag: e.Type, Mode: e.Mode, Uid: e.UID, Gid: e.GID,
			Linkname: e.Link, ModTime: mt, Devmajor: e.Major, Devminor: e.Minor,
			Format: tar.FormatPAX,
		}
		if e.Type == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if len(e.Xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for k, v := range e.Xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(err)
		}
		if len(e.Body) > 0 {
			if _, err := tw.Write(e.Body); err != nil {
				panic(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Gzip compresses b.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// Zstd compresses b.
func Zstd(b []byte) []byte {
	zw, _ := zstd.NewWriter(nil)
	defer zw.Close()
	return zw.EncodeAll(b, nil)
}
