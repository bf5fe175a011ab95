package compression

import (
	"io"
	"sync"
)

const (
	readAheadBlock  = 256 << 10
	readAheadBlocks = 4
)

// readAhead decodes src in a goroutine into a small ring of large blocks, so
// that the producer (a decompressor) and the consumer run on separate cores.
type readAhead struct {
	full    chan []byte
	free    chan []byte
	done    chan struct{}
	once    sync.Once
	cur     []byte
	block   []byte
	err     error
	errc    chan error
	closeFn func() error
	wg      sync.WaitGroup
}

func newReadAhead(src io.Reader, closeFn func() error) *readAhead {
	ra := &readAhead{
		full:    make(chan []byte, readAheadBlocks),
		free:    make(chan []byte, readAheadBlocks),
		done:    make(chan struct{}),
		errc:    make(chan error, 1),
		closeFn: closeFn,
	}
	for i := 0; i < readAheadBlocks; i++ {
		ra.free <- make([]byte, readAheadBlock)
	}
	ra.wg.Add(1)
	go ra.fill(src)
	return ra
}

func (ra *readAhead) fill(src io.Reader) {
	defer ra.wg.Done()
	defer close(ra.full)
	for {
		var buf []byte
		select {
		case buf = <-ra.free:
		case <-ra.done:
			return
		}
		n, err := readFull(src, buf[:cap(buf)])
		if n > 0 {
			select {
			case ra.full <- buf[:n]:
			case <-ra.done:
				return
			}
		}
		if err != nil {
			ra.errc <- err
			return
		}
	}
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.err != nil {
			return 0, ra.err
		}
		b, ok := <-ra.full
		if !ok {
			select {
			case ra.err = <-ra.errc:
			default:
				ra.err = io.ErrClosedPipe
			}
			continue
		}
		ra.cur, ra.block = b, b
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	if len(ra.cur) == 0 {
		select {
		case ra.free <- ra.block[:cap(ra.block)]:
		default:
		}
		ra.block = nil
	}
	return n, nil
}

// Close stops the decoder goroutine and releases the decoder.
func (ra *readAhead) Close() error {
	ra.once.Do(func() { close(ra.done) })
	ra.wg.Wait()
	if ra.closeFn != nil {
		return ra.closeFn()
	}
	return nil
}

// readFull fills buf unless src ends or fails first; unlike io.ReadFull it
// returns src's own error (io.EOF at a clean end).
func readFull(src io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := src.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
