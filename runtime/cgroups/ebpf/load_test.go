package ebpf

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/testutil"
)

// TestKernelVerifierAccepts loads compiled filters into the running kernel:
// the verifier must accept every shape Compile produces.
func TestKernelVerifierAccepts(t *testing.T) {
	testutil.Integration(t)
	sets := [][]specs.LinuxDeviceCgroup{
		nil,
		{{Allow: true, Access: "rwm"}},
		{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: n(1), Minor: n(3), Access: "rw"},
			{Allow: false, Type: "b", Major: n(8), Access: "w"}, {Allow: true, Type: "c", Major: n(136), Minor: n(-1)}},
	}
	for i := 0; i < 50; i++ {
		data := make([]byte, 32)
		for j := range data {
			data[j] = byte(i*31 + j*17)
		}
		sets = append(sets, rulesFromBytes(data))
	}
	for _, rules := range sets {
		p, err := Compile(rules)
		if err != nil {
			t.Fatal(err)
		}
		fd, err := Load(p)
		if err != nil {
			t.Fatalf("rules %+v: %v", rules, err)
		}
		unix.Close(fd)
	}
}
