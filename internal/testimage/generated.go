package testimage

import (
	"archive/tar"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/internal/errdefs"
)

// Generated builds an image of the given number of layers whose files total
// about totalBytes, the same for the same seed. Every layer l has a directory
// l<i>/ with subdirectories holding many small files (256 B–16 KiB), two large
// files, hardlinks, relative and absolute symlinks, and user.* xattrs; half the
// files are text-like (compressible), half random. Each layer after the first
// also removes a file of the previous layer with a whiteout
// (l<i-1>/d0/.wh.f0) and replaces the previous layer's directory l<i-1>/d1
// with an opaque one holding a single new file (l<i-1>/d1/replaced).
func Generated(seed uint64, layers int, totalBytes int64, o Options) (*Image, error) {
	if layers < 1 || layers > 127 {
		return nil, fmt.Errorf("layers %d: must be 1..127: %w", layers, errdefs.ErrInvalidArgument)
	}
	if totalBytes < 0 {
		return nil, fmt.Errorf("totalBytes %d: must be >= 0: %w", totalBytes, errdefs.ErrInvalidArgument)
	}
	all := make([][]entry, layers)
	for i := range layers {
		all[i] = generatedLayer(seed, i, totalBytes/int64(layers))
	}
	return assemble(all, o, ocispec.ImageConfig{
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Cmd: []string{"/bin/sh"},
	}, fmt.Sprintf("generated seed %d", seed))
}

// text is a block of compressible words that text-like files are cut from.
var text = func() []byte {
	words := strings.Fields("berth container layer snapshot overlay registry manifest digest blob index config whiteout " +
		"opaque hardlink symlink xattr runtime shim daemon namespace cgroup mount rootfs bundle image tag pull push")
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for b.Len() < 256<<10 {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(12) == 0 {
			b.WriteByte('\n')
		} else {
			b.WriteByte(' ')
		}
	}
	return []byte(b.String())
}()

func contentGen(seed uint64, layer, file int, size int64, random bool) func(io.Writer) error {
	return func(w io.Writer) error {
		var key [32]byte
		binary.LittleEndian.PutUint64(key[0:], seed)
		binary.LittleEndian.PutUint64(key[8:], uint64(layer))
		binary.LittleEndian.PutUint64(key[16:], uint64(file))
		src := rand.NewChaCha8(key)
		buf := make([]byte, 64<<10)
		for size > 0 {
			n := int64(len(buf))
			if n > size {
				n = size
			}
			chunk := buf[:n]
			if random {
				_, _ = src.Read(chunk)
			} else {
				off := int(src.Uint64() % uint64(len(text)-int(n)))
				chunk = text[off : off+int(n)]
			}
			if _, err := w.Write(chunk); err != nil {
				return err
			}
			size -= n
		}
		return nil
	}
}

func generatedLayer(seed uint64, li int, budget int64) []entry {
	r := rand.New(rand.NewPCG(seed, uint64(li)))
	base := fmt.Sprintf("l%d", li)
	var es []entry
	es = append(es, dirEntry(base, 0o755))
	const subdirs = 8
	for d := range subdirs {
		es = append(es, dirEntry(fmt.Sprintf("%s/d%d", base, d), 0o755))
	}
	fileNo := 0
	addFile := func(name string, size int64) {
		e := entry{hdr: tarReg(name, 0o644, size), gen: contentGen(seed, li, fileNo, size, fileNo%2 == 1)}
		if fileNo%7 == 3 {
			e.hdr.PAXRecords = map[string]string{"SCHILY.xattr.user.berth.test": fmt.Sprintf("layer %d file %d", li, fileNo)}
		}
		if fileNo%11 == 5 {
			e.hdr.Mode = 0o755
			e.hdr.Uid, e.hdr.Gid = 1000, 1000
		}
		es = append(es, e)
		fileNo++
	}
	large := budget / 4 // two large files take half the budget
	smallBudget := budget - 2*large
	var used int64
	for i := 0; used < smallBudget || i < 4; i++ {
		size := int64(256 + r.IntN(16<<10-256))
		if size > smallBudget-used && i >= 4 {
			size = max(smallBudget-used, 0)
		}
		name := fmt.Sprintf("%s/d%d/f%d", base, i%subdirs, i)
		addFile(name, size)
		used += size
		if i%10 == 9 {
			es = append(es, hardlinkEntry(fmt.Sprintf("%s/d%d/h%d", base, i%subdirs, i), name))
		}
		if i%25 == 12 {
			es = append(es, symlinkEntry(fmt.Sprintf("%s/d%d/s%d", base, i%subdirs, i), fmt.Sprintf("f%d", i)))
		}
		if i >= 200000 {
			break
		}
	}
	addFile(base+"/large0", large)
	addFile(base+"/large1", large)
	es = append(es, hardlinkEntry(base+"/large0.link", base+"/large0"))
	es = append(es, symlinkEntry(base+"/abs-link", "/etc/hosts"))
	es = append(es, symlinkEntry(base+"/up-link", "../l0"))
	if li > 0 {
		prev := fmt.Sprintf("l%d", li-1)
		es = append(es,
			dirEntry(prev, 0o755),
			dirEntry(prev+"/d0", 0o755),
			entry{hdr: tarReg(prev+"/d0/.wh.f0", 0o644, 0)},
			dirEntry(prev+"/d1", 0o755),
			entry{hdr: tarReg(prev+"/d1/.wh..wh..opq", 0o644, 0)},
			fileEntry(prev+"/d1/replaced", 0o644, []byte(fmt.Sprintf("replaced by layer %d\n", li))),
		)
	}
	return sortedEntries(es)
}

func tarReg(name string, mode, size int64) (h tar.Header) {
	h.Typeflag = '0'
	h.Name, h.Mode, h.Size = name, mode, size
	return h
}
