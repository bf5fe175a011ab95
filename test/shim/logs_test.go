package shime2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/shim"
	"github.com/berth-containers/berth/shim/client"
	"github.com/berth-containers/berth/shim/logs"
)

// The container's output goes to a rotated JSON-lines log; a long line is
// split into partial entries.
func TestLogRotation(t *testing.T) {
	t.Parallel()
	ct := startShim(t, cOpts{args: []string{"sh", "-c", "seq 1 500; echo done >&2"}})
	ctx := ct.ctx()
	logPath := filepath.Join(t.TempDir(), "c.log")
	if _, err := ct.c.Create(ctx, shim.CreateOpts{LogPath: logPath, LogMaxSize: 4096, LogMaxFiles: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.c.Start(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if e, err := ct.c.Wait(ctx, ""); err != nil || e.Code != 0 {
		t.Fatalf("wait: %+v %v", e, err)
	}
	for _, f := range []string{logPath, logPath + ".1", logPath + ".2"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatalf("rotated file: %v", err)
		}
		if st.Size() > 4096 {
			t.Fatalf("%s: %d bytes, over LogMaxSize", f, st.Size())
		}
	}
	if _, err := os.Stat(logPath + ".3"); !os.IsNotExist(err) {
		t.Fatal("more than LogMaxFiles files")
	}
	var out []string
	for e, err := range logs.Read(ctx, logPath, logs.ReadOpts{Tail: -1, MaxFiles: 3}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Stream == "stdout" {
			out = append(out, e.Log)
		}
	}
	if len(out) == 0 || out[len(out)-1] != "500\n" {
		t.Fatalf("last stdout entry %q", out[len(out)-1:])
	}
	for i := 1; i < len(out); i++ {
		var a, b int
		fmt.Sscan(out[i-1], &a)
		fmt.Sscan(out[i], &b)
		if b != a+1 {
			t.Fatalf("stdout entries out of order: %q then %q", out[i-1], out[i])
		}
	}
}

func TestLongLineSplit(t *testing.T) {
	t.Parallel()
	ct := startShim(t, cOpts{args: []string{"sh", "-c", "seq 1 8000 | tr -d '\\n'; echo"}})
	ctx := ct.ctx()
	logPath := filepath.Join(t.TempDir(), "c.log")
	if _, err := ct.c.Create(ctx, shim.CreateOpts{LogPath: logPath}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.c.Start(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.c.Wait(ctx, ""); err != nil {
		t.Fatal(err)
	}
	var whole strings.Builder
	var pieces, partial int
	for e, err := range logs.Read(ctx, logPath, logs.ReadOpts{Tail: -1}) {
		if err != nil {
			t.Fatal(err)
		}
		pieces++
		if e.Partial() {
			partial++
			if len(e.Log) != logs.MaxLine {
				t.Fatalf("partial entry of %d bytes", len(e.Log))
			}
		}
		whole.WriteString(e.Log)
	}
	var want strings.Builder
	for i := 1; i <= 8000; i++ {
		fmt.Fprint(&want, i)
	}
	want.WriteString("\n")
	if whole.String() != want.String() || partial != pieces-1 || pieces < 2 {
		t.Fatalf("%d entries (%d partial), %d bytes; want %d bytes", pieces, partial, whole.Len(), want.Len())
	}
}

// An exec with a terminal: output through the pty, resize, exit code.
func TestExecTerminal(t *testing.T) {
	t.Parallel()
	ct := startShim(t, cOpts{args: []string{"sleep", "1000"}})
	ctx := ct.ctx()
	if _, err := ct.c.Create(ctx, shim.CreateOpts{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.c.Start(ctx, ""); err != nil {
		t.Fatal(err)
	}
	p := &specs.Process{Terminal: true, Args: []string{"sh", "-c", "busybox stty size; read x; busybox stty size; exit 4"}, Cwd: "/", Env: []string{"PATH=/bin", "TERM=xterm"}}
	if err := ct.c.Exec(ctx, "t1", p, shim.ExecOpts{Terminal: true, Stdin: true, ConsoleSize: &shim.ConsoleSize{Width: 90, Height: 30}}); err != nil {
		t.Fatal(err)
	}
	var out syncBuf
	in := newLineFeeder()
	a, err := ct.c.Attach(ctx, "t1", client.AttachOpts{Stdin: in, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ct.c.Start(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool { return strings.Contains(out.String(), "30 90") }) {
		t.Fatalf("exec pty size: %q", out.String())
	}
	if err := ct.c.ResizePty(ctx, "t1", 120, 50); err != nil {
		t.Fatal(err)
	}
	in.feed("x\n")
	e, err := ct.c.Wait(ctx, "t1")
	if err != nil || e.Code != 4 {
		t.Fatalf("exec wait: %+v %v", e, err)
	}
	_ = a.Wait()
	if !strings.Contains(out.String(), "50 120") {
		t.Fatalf("after resize: %q", out.String())
	}
	if err := ct.c.ResizePty(ctx, "", 10, 10); err == nil {
		t.Fatal("resize of an init without a terminal succeeded")
	}
}

// lineFeeder is a stdin that gives what feed is given, and blocks
// otherwise.
type lineFeeder struct{ ch chan string }

func newLineFeeder() *lineFeeder { return &lineFeeder{ch: make(chan string, 4)} }

func (l *lineFeeder) feed(s string) { l.ch <- s }

func (l *lineFeeder) Read(p []byte) (int, error) {
	s := <-l.ch
	return copy(p, s), nil
}
