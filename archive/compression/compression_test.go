package compression_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/berth-containers/berth/archive/compression"
	"github.com/berth-containers/berth/archive/tartest"
	"github.com/berth-containers/berth/internal/errdefs"
)

func payload(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + r.IntN(4)) // compressible, not trivial
	}
	return b
}

func TestDecompressStream(t *testing.T) {
	for _, size := range []int{0, 1, 3, 5 << 20} {
		raw := payload(size)
		for _, c := range []struct {
			name string
			data []byte
			want compression.Compression
		}{
			{"none", raw, compression.Uncompressed},
			{"gzip", tartest.Gzip(raw), compression.Gzip},
			{"zstd", tartest.Zstd(raw), compression.Zstd},
		} {
			rc, got, err := compression.DecompressStream(bytes.NewReader(c.data))
			if err != nil {
				t.Fatalf("%s/%d: %v", c.name, size, err)
			}
			if got != c.want {
				t.Errorf("%s/%d: detected %s", c.name, size, got)
			}
			out, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(out, raw) {
				t.Errorf("%s/%d: round trip: %d bytes, err %v", c.name, size, len(out), err)
			}
		}
	}
}

func TestDecompressCorrupt(t *testing.T) {
	gz := tartest.Gzip(payload(1 << 20))
	for name, data := range map[string][]byte{
		"truncated": gz[:len(gz)/2],
		"flipped":   append(append([]byte{}, gz[:100]...), append([]byte{gz[100] ^ 0xff}, gz[101:]...)...),
	} {
		rc, _, err := compression.DecompressStream(bytes.NewReader(data))
		if err == nil {
			_, err = io.ReadAll(rc)
			rc.Close()
		}
		if err == nil {
			t.Errorf("%s gzip: no error", name)
		}
	}
}

func TestCloseEarly(t *testing.T) {
	rc, _, err := compression.DecompressStream(bytes.NewReader(tartest.Gzip(payload(8 << 20))))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(rc, buf); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFromMediaType(t *testing.T) {
	for mt, want := range map[string]compression.Compression{
		"application/vnd.oci.image.layer.v1.tar":                       compression.Uncompressed,
		"application/vnd.oci.image.layer.v1.tar+gzip":                  compression.Gzip,
		"application/vnd.oci.image.layer.v1.tar+zstd":                  compression.Zstd,
		"application/vnd.docker.image.rootfs.diff.tar.gzip":            compression.Gzip,
		"application/vnd.docker.image.rootfs.diff.tar":                 compression.Uncompressed,
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": compression.Gzip,
	} {
		got, err := compression.FromMediaType(mt)
		if err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", mt, got, err, want)
		}
	}
	if _, err := compression.FromMediaType("application/vnd.oci.image.layer.v1.tar+bzip2"); !errdefs.IsNotImplemented(err) {
		t.Errorf("bzip2: want not implemented, got %v", err)
	}
}

// FuzzDecompressStream: arbitrary bytes never panic and reading is bounded
// by what the caller reads.
func FuzzDecompressStream(f *testing.F) {
	f.Add(tartest.Gzip([]byte("hello")))
	f.Add(tartest.Zstd([]byte("hello")))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0, 0})
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		rc, _, err := compression.DecompressStream(bytes.NewReader(data))
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(rc, 64<<20))
		rc.Close()
	})
}
