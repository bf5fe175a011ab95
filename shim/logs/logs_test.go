package logs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func collect(t *testing.T, path string, o ReadOpts) []Entry {
	t.Helper()
	var out []Entry
	for e, err := range Read(context.Background(), path, o) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestWriterFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	w, err := NewWriter(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	fixed := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	w.now = func() time.Time { return fixed }
	if err := w.WriteEntry("stdout", []byte("hello \"world\"\t\x01\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteEntry("stderr", []byte("bad utf8 \xff\n")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines %q", lines)
	}
	want := `{"log":"hello \"world\"\t\u0001\n","stream":"stdout","time":"2026-01-02T03:04:05.0000006Z"}`
	if lines[0] != want {
		t.Fatalf("line\n%s\nwant\n%s", lines[0], want)
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %s: %v", l, err)
		}
	}
	es := collect(t, path, ReadOpts{Tail: -1})
	if es[0].Log != "hello \"world\"\t\x01\n" || es[1].Log != "bad utf8 \uFFFD\n" || !es[0].Time.Equal(fixed) {
		t.Fatalf("entries %+v", es)
	}
}

func TestSplitter(t *testing.T) {
	var got []string
	s := &LineSplitter{Stream: "stdout", Emit: func(_ string, b []byte) { got = append(got, string(b)) }}
	long := strings.Repeat("x", MaxLine+10)
	s.Write([]byte("a\nb"))
	s.Write([]byte("c\n" + long[:100]))
	s.Write([]byte(long[100:] + "\nend"))
	s.Flush()
	want := []string{"a\n", "bc\n", long[:MaxLine], long[MaxLine:] + "\n", "end"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %d pieces %q…", len(got), got)
	}
	if (Entry{Log: long[:MaxLine]}).Partial() != true || (Entry{Log: "x\n"}).Partial() {
		t.Fatal("Partial")
	}
}

func TestRotationAndTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	w, err := NewWriter(path, 500, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if err := w.WriteEntry("stdout", []byte(fmt.Sprintf("line %03d\n", i))); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	for _, f := range []string{path, path + ".1", path + ".2"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 500 {
			t.Fatalf("%s is %d bytes, over the 500 limit", f, st.Size())
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Fatal("more files kept than maxFiles")
	}
	all := collect(t, path, ReadOpts{Tail: -1, MaxFiles: 3})
	if len(all) == 0 || all[len(all)-1].Log != "line 099\n" {
		t.Fatalf("last entry %+v", all)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Log <= all[i-1].Log {
			t.Fatalf("out of order: %q after %q", all[i].Log, all[i-1].Log)
		}
	}
	tail := collect(t, path, ReadOpts{Tail: 3})
	if len(tail) != 3 || tail[0].Log != "line 097\n" || tail[2].Log != "line 099\n" {
		t.Fatalf("tail 3: %+v", tail)
	}
	if got := collect(t, path, ReadOpts{Tail: 0}); len(got) != 0 {
		t.Fatalf("tail 0: %d entries", len(got))
	}
	since := collect(t, path, ReadOpts{Tail: -1, Since: time.Now().Add(time.Hour)})
	if len(since) != 0 {
		t.Fatalf("since the future: %d entries", len(since))
	}
	// Reopening appends.
	w2, err := NewWriter(path, 500, 3)
	if err != nil {
		t.Fatal(err)
	}
	w2.WriteEntry("stderr", []byte("after reopen\n"))
	w2.Close()
	tail = collect(t, path, ReadOpts{Tail: 2})
	if len(tail) != 2 || tail[0].Log != "line 099\n" && tail[1].Log != "after reopen\n" {
		t.Fatalf("after reopen: %+v", tail)
	}
}

// Follow keeps yielding entries as they are written, across rotations, in
// order and without loss.
func TestFollowAcrossRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	w, err := NewWriter(path, 300, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.WriteEntry("stdout", []byte("first\n"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 1000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e, err := range Read(ctx, path, ReadOpts{Tail: -1, Follow: true, PollInterval: 5 * time.Millisecond}) {
			if err != nil {
				got <- "error: " + err.Error()
				continue
			}
			got <- e.Log
		}
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case g := <-got:
			if g != want {
				t.Fatalf("followed %q, want %q", g, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("follow: %q not seen", want)
		}
	}
	expect("first\n")
	for i := 0; i < 60; i++ {
		line := fmt.Sprintf("entry %02d\n", i)
		if err := w.WriteEntry("stdout", []byte(line)); err != nil {
			t.Fatal(err)
		}
		expect(line)
	}
	if _, err := os.Stat(path + ".2"); err != nil {
		t.Fatalf("the test did not rotate: %v", err)
	}
	// Several entries (and a rotation) between two polls.
	var batch []string
	for i := 0; i < 8; i++ {
		line := fmt.Sprintf("batch %02d\n", i)
		batch = append(batch, line)
		w.WriteEntry("stderr", []byte(line))
	}
	for _, l := range batch {
		expect(l)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end with its context")
	}
}

// A line being written (no newline yet) is not yielded until complete.
func TestFollowPartialWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line := `{"log":"x\n","stream":"stdout","time":"2026-01-02T03:04:05Z"}` + "\n"
	f.WriteString(line[:20])
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan Entry, 4)
	go func() {
		for e, err := range Read(ctx, path, ReadOpts{Tail: -1, Follow: true, PollInterval: 5 * time.Millisecond}) {
			if err == nil {
				got <- e
			}
		}
	}()
	time.Sleep(30 * time.Millisecond)
	select {
	case e := <-got:
		t.Fatalf("partial line yielded: %+v", e)
	default:
	}
	f.WriteString(line[20:])
	select {
	case e := <-got:
		if e.Log != "x\n" {
			t.Fatalf("entry %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("completed line not yielded")
	}
}

func TestParseEntryErrors(t *testing.T) {
	for _, in := range []string{``, `{}`, `{"log":"x"}`, `{"log":"x","stream":"stdout"}`, `{"log":1,"stream":"stdout","time":"2026-01-01T00:00:00Z"}`, `not json`} {
		if _, err := ParseEntry([]byte(in)); err == nil {
			t.Errorf("ParseEntry(%q) accepted", in)
		}
	}
}

func FuzzParseEntry(f *testing.F) {
	f.Add([]byte(`{"log":"hi\n","stream":"stdout","time":"2026-01-02T03:04:05.000000006Z"}`))
	f.Add([]byte(`{"log":"","stream":"stderr","time":"2026-01-02T03:04:05Z"}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEntry(b)
		if err != nil {
			return
		}
		if e.Stream == "" || e.Time.IsZero() {
			t.Fatalf("accepted an entry without stream or time: %+v", e)
		}
	})
}

// What the writer writes, the parser reads back.
func FuzzWriteRead(f *testing.F) {
	f.Add([]byte("hello\n"), "stdout")
	f.Add([]byte("\x00\xff\"\\"), "stderr")
	f.Fuzz(func(t *testing.T, text []byte, stream string) {
		if stream == "" {
			return
		}
		path := filepath.Join(t.TempDir(), "l")
		w, err := NewWriter(path, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteEntry(stream, text); err != nil {
			t.Fatal(err)
		}
		w.Close()
		var n int
		for e, err := range Read(context.Background(), path, ReadOpts{Tail: -1}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
			if want := validUTF8(text); e.Log != want {
				t.Fatalf("log %q, want %q", e.Log, want)
			}
		}
		if n != 1 {
			t.Fatalf("%d entries", n)
		}
	})
}

// validUTF8 replaces each invalid byte with U+FFFD, as encoding/json does.
func validUTF8(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			sb.WriteString("\uFFFD")
		} else {
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return sb.String()
}
