package main

import (
	"fmt"
	"io"
	"strings"
)

// defaultDetachKeys are docker's: ctrl-p ctrl-q.
const defaultDetachKeys = "ctrl-p,ctrl-q"

// parseDetachKeys reads docker's --detach-keys: comma-separated keys, each a
// single character or "ctrl-" and one of a-z @ [ \ ] ^ _ .
func parseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("--detach-keys: empty")
	}
	var keys []byte
	for _, k := range strings.Split(s, ",") {
		if len(k) == 1 {
			keys = append(keys, k[0])
			continue
		}
		c, ok := strings.CutPrefix(strings.ToLower(k), "ctrl-")
		if !ok || len(c) != 1 {
			return nil, fmt.Errorf("--detach-keys %q: %q is neither one character nor ctrl-<key>", s, k)
		}
		switch b := c[0]; {
		case b >= 'a' && b <= 'z':
			keys = append(keys, b-'a'+1)
		case b == '@':
			keys = append(keys, 0)
		case b >= '[' && b <= '_':
			keys = append(keys, b-'['+27)
		default:
			return nil, fmt.Errorf("--detach-keys %q: no control character for %q", s, k)
		}
	}
	return keys, nil
}

// detachReader passes stdin through until the detach key sequence, then
// calls detach and returns no more data. The keys of a sequence that breaks
// off (or that the input ends in) are passed on after all.
type detachReader struct {
	r       io.Reader
	keys    []byte
	detach  func()
	matched int
	pending []byte
	err     error // the reader's, returned once pending is drained
	done    bool
}

func (d *detachReader) Read(p []byte) (int, error) {
	for {
		if len(d.pending) > 0 {
			n := copy(p, d.pending)
			d.pending = d.pending[n:]
			return n, nil
		}
		if d.err != nil {
			return 0, d.err
		}
		if d.done {
			select {} // the stream is being torn down
		}
		buf := make([]byte, len(p))
		n, err := d.r.Read(buf)
		var out []byte
		for _, b := range buf[:n] {
			if b == d.keys[d.matched] {
				d.matched++
				if d.matched == len(d.keys) {
					d.done = true
					d.detach()
					break
				}
				continue
			}
			out = append(out, d.keys[:d.matched]...)
			d.matched = 0
			if b == d.keys[0] {
				d.matched = 1
			} else {
				out = append(out, b)
			}
		}
		if err != nil {
			if !d.done {
				out = append(out, d.keys[:d.matched]...)
				d.matched = 0
			}
			d.err = err
		}
		d.pending = append(d.pending, out...)
		if len(d.pending) == 0 && d.err == nil && !d.done && n == 0 {
			return 0, nil // a reader that returned nothing: let the caller decide
		}
	}
}
