package main

import (
	"bytes"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

func TestParseDetachKeys(t *testing.T) {
	for in, want := range map[string][]byte{
		"ctrl-p,ctrl-q":  {0x10, 0x11},
		"ctrl-a,a":       {1, 'a'},
		"CTRL-Z":         {26},
		"ctrl-@,ctrl-[":  {0, 27},
		"ctrl-\\,ctrl-_": {28, 31},
		"x,y,z":          []byte("xyz"),
	} {
		got, err := parseDetachKeys(in)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("parseDetachKeys(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ctrl-", "ctrl-1", "ab", "ctrl-p,", ",", "ctrl-pp", "meta-x"} {
		if _, err := parseDetachKeys(bad); err == nil {
			t.Errorf("parseDetachKeys(%q) accepted", bad)
		}
	}
}

// readDetach feeds in through a detachReader one byte per read (the worst
// case for a sequence split across reads) and returns what passed through
// and whether it detached. After detaching, Read blocks for good (stdin must
// not look closed to the container), so reading runs in a goroutine.
func readDetach(t *testing.T, keys, in []byte) ([]byte, bool) {
	t.Helper()
	detached := make(chan struct{})
	d := &detachReader{r: iotest.OneByteReader(bytes.NewReader(in)), keys: keys, detach: func() { close(detached) }}
	var mu sync.Mutex
	var out []byte
	eof := make(chan struct{})
	go func() {
		buf := make([]byte, 3)
		for {
			n, err := d.Read(buf)
			mu.Lock()
			out = append(out, buf[:n]...)
			mu.Unlock()
			if err != nil {
				close(eof)
				return
			}
		}
	}()
	var det bool
	select {
	case <-detached:
		det = true
		time.Sleep(20 * time.Millisecond) // what was read before the keys is returned first
	case <-eof:
	case <-time.After(5 * time.Second):
		t.Fatalf("input %q: neither detached nor ended", in)
	}
	mu.Lock()
	defer mu.Unlock()
	return append([]byte(nil), out...), det
}

func TestDetachReader(t *testing.T) {
	pq := []byte{0x10, 0x11}
	for _, c := range []struct {
		keys, in, out []byte
		detached      bool
	}{
		{pq, []byte("ls\n"), []byte("ls\n"), false},
		{pq, []byte("ab\x10\x11cd"), []byte("ab"), true},
		{pq, []byte("a\x10b\x10\x10\x11"), []byte("a\x10b\x10"), true}, // broken-off keys pass on
		{pq, []byte("x\x10"), []byte("x\x10"), false},                  // a sequence cut by EOF passes on
		{[]byte("abc"), []byte("aabxabc"), []byte("aabx"), true},       // restart on a mismatch
		{[]byte{1, 'a'}, []byte("\x01\x01a!"), []byte("\x01"), true},
	} {
		out, det := readDetach(t, c.keys, c.in)
		if !bytes.Equal(out, c.out) || det != c.detached {
			t.Errorf("keys %q, input %q: passed %q detached %v; want %q %v", c.keys, c.in, out, det, c.out, c.detached)
		}
	}
}

func FuzzParseDetachKeys(f *testing.F) {
	f.Add("ctrl-p,ctrl-q")
	f.Add("ctrl-a,a")
	f.Fuzz(func(t *testing.T, s string) {
		keys, err := parseDetachKeys(s)
		if err == nil && len(keys) == 0 {
			t.Fatalf("%q: no keys and no error", s)
		}
	})
}
