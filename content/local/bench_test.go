package local

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-containers/berth/content"
)

// BenchmarkWriteBlob measures ingest throughput: hash while writing,
// fsync, atomic commit.
func BenchmarkWriteBlob(b *testing.B) {
	data := make([]byte, 64<<20)
	for i := range data {
		data[i] = byte(i * 31)
	}
	cs, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		data[0] = byte(i) // a new blob each time
		desc := ocispec.Descriptor{Digest: digest.FromBytes(data), Size: int64(len(data))}
		b.StartTimer()
		if err := content.WriteBlob(ctx, cs, fmt.Sprintf("bench-%d", i), bytes.NewReader(data), desc); err != nil {
			b.Fatal(err)
		}
	}
}
