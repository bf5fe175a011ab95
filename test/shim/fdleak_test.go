package shime2e

import (
	"fmt"
	"os"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/shim"
	"github.com/berth-containers/berth/shim/client"
)

// Many execs (with and without a terminal, attached or not) leave the
// shim with no more open files than before.
func TestNoFdLeak(t *testing.T) {
	t.Parallel()
	ct := startShim(t, cOpts{args: []string{"sleep", "1000"}})
	ctx := ct.ctx()
	if _, err := ct.c.Create(ctx, shim.CreateOpts{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.c.Start(ctx, ""); err != nil {
		t.Fatal(err)
	}
	fds := func() int {
		es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", ct.c.Pid()))
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	run := func(i int) {
		id := fmt.Sprintf("x%d", i)
		tty := i%2 == 1
		p := &specs.Process{Terminal: tty, Args: []string{"echo", "hi"}, Cwd: "/", Env: []string{"PATH=/bin"}}
		if err := ct.c.Exec(ctx, id, p, shim.ExecOpts{Terminal: tty, Stdin: i%3 == 0}); err != nil {
			t.Fatal(err)
		}
		var out syncBuf
		a, err := ct.c.Attach(ctx, id, client.AttachOpts{Stdout: &out})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ct.c.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		if e, err := ct.c.Wait(ctx, id); err != nil || e.Code != 0 {
			t.Fatalf("exec %s: %+v %v", id, e, err)
		}
		a.Wait()
		if _, err := ct.c.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	run(0)
	before := fds()
	for i := 1; i <= 20; i++ {
		run(i)
	}
	// The shim closes a request's connection just after answering it: give
	// the last one a moment to go.
	after := fds()
	for deadline := time.Now().Add(2 * time.Second); after > before && time.Now().Before(deadline); after = fds() {
		time.Sleep(20 * time.Millisecond)
	}
	if after > before {
		t.Fatalf("shim fds: %d before, %d after 20 execs", before, after)
	}
}
