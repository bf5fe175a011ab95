package logs

import (
	"bytes"
	"context"
	"iter"
	"os"
	"strconv"
	"time"
)

// ReadOpts select the entries Read yields.
type ReadOpts struct {
	// Tail keeps only the last Tail entries of what is already written
	// (< 0: all; 0: none, useful with Follow).
	Tail int
	// Since drops entries older than this (zero: no limit).
	Since time.Time
	// Until drops entries newer than this (zero: no limit).
	Until time.Time
	// Follow keeps reading new entries, across rotations, until ctx ends.
	Follow bool
	// MaxFiles is how many files rotation keeps (PATH.1 … PATH.(MaxFiles-1)
	// are looked for); 0 looks for as many as exist.
	MaxFiles int
	// PollInterval is how often a followed file is checked for growth and
	// rotation; default 100ms.
	PollInterval time.Duration
}

// Read yields the entries of the log at path, oldest first: the rotated
// files PATH.N … PATH.1, then PATH; with Follow, then every entry appended
// later, following PATH when it is rotated (the old file is finished, files
// rotated in between are read in full, then the new PATH). Half-written
// lines are never yielded. A line that cannot be parsed is reported as an
// error and reading goes on. A missing PATH yields nothing (or, following,
// waits for it). Following ends when ctx ends.
func Read(ctx context.Context, path string, opts ReadOpts) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		if opts.PollInterval <= 0 {
			opts.PollInterval = 100 * time.Millisecond
		}
		keep := func(e Entry) bool {
			if !opts.Since.IsZero() && e.Time.Before(opts.Since) {
				return false
			}
			if !opts.Until.IsZero() && e.Time.After(opts.Until) {
				return false
			}
			return true
		}
		files := rotatedFiles(path, opts.MaxFiles)
		// Open the current file first so that a rotation racing with the
		// read of the old files is noticed by the follower below.
		cur, _ := os.Open(path)
		var ring []Entry
		emit := func(e Entry, err error) bool {
			if err != nil {
				return yield(Entry{}, err)
			}
			if !keep(e) {
				return true
			}
			if opts.Tail < 0 {
				return yield(e, nil)
			}
			if opts.Tail == 0 {
				return true
			}
			if len(ring) == opts.Tail {
				copy(ring, ring[1:])
				ring = ring[:len(ring)-1]
			}
			ring = append(ring, e)
			return true
		}
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				continue
			}
			ok := readAll(fh, emit)
			fh.Close()
			if !ok {
				return
			}
		}
		var rd *lineReader
		if cur != nil {
			rd = newLineReader(cur)
			if !rd.drain(emit) {
				cur.Close()
				return
			}
		}
		for _, e := range ring {
			if !yield(e, nil) {
				if cur != nil {
					cur.Close()
				}
				return
			}
		}
		if !opts.Follow {
			if cur != nil {
				cur.Close()
			}
			return
		}
		follow(ctx, path, cur, rd, opts.PollInterval, func(e Entry, err error) bool {
			if err != nil {
				return yield(Entry{}, err)
			}
			if !keep(e) {
				return true
			}
			return yield(e, nil)
		})
	}
}

// rotatedFiles lists existing PATH.N … PATH.1, oldest first.
func rotatedFiles(path string, max int) []string {
	var out []string
	for i := 1; max <= 0 || i < max; i++ {
		p := path + "." + strconv.Itoa(i)
		if _, err := os.Stat(p); err != nil {
			if max <= 0 {
				break
			}
			continue
		}
		out = append([]string{p}, out...)
	}
	return out
}

// lineReader reads complete lines from a file that may still be growing: a
// trailing incomplete line (a write in progress) is kept until its newline
// arrives.
type lineReader struct {
	f       *os.File
	pending []byte
	chunk   []byte
}

func newLineReader(f *os.File) *lineReader { return &lineReader{f: f, chunk: make([]byte, 32*1024)} }

// drain parses every complete line up to the current end of the file.
func (l *lineReader) drain(emit func(Entry, error) bool) bool {
	for {
		n, err := l.f.Read(l.chunk)
		data := l.chunk[:n]
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				l.pending = append(l.pending, data...)
				break
			}
			line := data[:i]
			if len(l.pending) > 0 {
				l.pending = append(l.pending, line...)
				line = l.pending
			}
			e, perr := ParseEntry(line)
			l.pending = l.pending[:0]
			data = data[i+1:]
			if !emit(e, perr) {
				return false
			}
		}
		if err != nil || n == 0 {
			return true
		}
	}
}

func readAll(f *os.File, emit func(Entry, error) bool) bool {
	return newLineReader(f).drain(emit)
}

func follow(ctx context.Context, path string, cur *os.File, rd *lineReader, every time.Duration, emit func(Entry, error) bool) {
	defer func() {
		if cur != nil {
			cur.Close()
		}
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if cur == nil {
			f, err := os.Open(path)
			if err == nil {
				cur, rd = f, newLineReader(f)
			}
		}
		if cur != nil {
			if !rd.drain(emit) {
				return
			}
			// Rotated? PATH is now another file: finish the old one (it
			// is PATH.1 now, and complete), then switch.
			st, err1 := cur.Stat()
			nst, err2 := os.Stat(path)
			if err1 == nil && (err2 != nil || !os.SameFile(st, nst)) {
				if !rd.drain(emit) {
					return
				}
				cur.Close()
				cur, rd = nil, nil
				// More than one rotation since the last look: our file
				// is PATH.k; the ones rotated after it are complete.
				if !drainNewer(path, st, emit) {
					return
				}
				if err2 == nil {
					continue
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// drainNewer reads in full the rotated files newer than old (which is now
// PATH.k): PATH.(k-1) … PATH.1.
func drainNewer(path string, old os.FileInfo, emit func(Entry, error) bool) bool {
	k := 0
	for i := 1; i < 1000; i++ {
		st, err := os.Stat(path + "." + strconv.Itoa(i))
		if err != nil {
			return true
		}
		if os.SameFile(st, old) {
			k = i
			break
		}
	}
	for j := k - 1; j >= 1; j-- {
		f, err := os.Open(path + "." + strconv.Itoa(j))
		if err != nil {
			continue
		}
		ok := readAll(f, emit)
		f.Close()
		if !ok {
			return false
		}
	}
	return true
}
