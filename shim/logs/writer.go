package logs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// MaxLine is the longest piece of a line stored in one entry; longer lines
// are split into partial entries, as Docker's json-file driver does.
const MaxLine = 16 * 1024

// Entry is one log record.
type Entry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// Partial reports whether the entry is a piece of a longer line, or a last
// line that had no newline.
func (e Entry) Partial() bool { return len(e.Log) == 0 || e.Log[len(e.Log)-1] != '\n' }

// ParseEntry decodes one line of a log file.
func ParseEntry(line []byte) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(line, &e); err != nil {
		return Entry{}, fmt.Errorf("log entry: %w", err)
	}
	if e.Stream == "" {
		return Entry{}, fmt.Errorf("log entry: field stream: missing")
	}
	if e.Time.IsZero() {
		return Entry{}, fmt.Errorf("log entry: field time: missing")
	}
	return e, nil
}

// Writer appends entries to a log file, rotating it by size. It is safe for
// concurrent use by the stdout and stderr copiers.
type Writer struct {
	path     string
	maxSize  int64
	maxFiles int

	mu   sync.Mutex
	f    *os.File
	size int64
	buf  []byte
	now  func() time.Time
}

// NewWriter opens (appending) or creates path. maxSize <= 0 disables
// rotation; maxFiles < 1 is taken as 1 (rotation then truncates).
func NewWriter(path string, maxSize int64, maxFiles int) (*Writer, error) {
	if path == "" {
		return nil, fmt.Errorf("log path: empty")
	}
	if maxFiles < 1 {
		maxFiles = 1
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open log: %w", err)
	}
	return &Writer{path: path, maxSize: maxSize, maxFiles: maxFiles, f: f, size: st.Size(), now: time.Now}, nil
}

// Path is the file being written.
func (w *Writer) Path() string { return w.path }

// WriteEntry appends one entry with text as its log field.
func (w *Writer) WriteEntry(stream string, text []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return os.ErrClosed
	}
	b := w.buf[:0]
	b = append(b, `{"log":`...)
	b = appendJSONString(b, text)
	b = append(b, `,"stream":`...)
	b = appendJSONString(b, []byte(stream))
	b = append(b, `,"time":"`...)
	b = w.now().UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, "\"}\n"...)
	if cap(b) <= 4*MaxLine {
		w.buf = b
	}
	if w.maxSize > 0 && w.size > 0 && w.size+int64(len(b)) > w.maxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(b)
	w.size += int64(n)
	return err
}

func (w *Writer) rotate() error {
	if err := w.f.Close(); err != nil {
		w.f = nil
		return fmt.Errorf("rotate log: %w", err)
	}
	w.f = nil
	if w.maxFiles > 1 {
		_ = os.Remove(w.path + "." + strconv.Itoa(w.maxFiles-1))
		for i := w.maxFiles - 2; i >= 1; i-- {
			if err := os.Rename(w.path+"."+strconv.Itoa(i), w.path+"."+strconv.Itoa(i+1)); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("rotate log: %w", err)
			}
		}
		if err := os.Rename(w.path, w.path+".1"); err != nil {
			return fmt.Errorf("rotate log: %w", err)
		}
	}
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	w.f, w.size = f, 0
	return nil
}

// Close flushes nothing (writes are unbuffered) and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD
// as encoding/json would do.
func appendJSONString(b, s []byte) []byte {
	if bytes.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == '"' || r == '\\' || r >= 0x7f }) < 0 {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(string(s))
	return append(b, q...)
}

// LineSplitter cuts a byte stream into log entries: one per line, lines
// longer than MaxLine in MaxLine pieces. It is not safe for concurrent use;
// use one per stream.
type LineSplitter struct {
	Stream string
	Emit   func(stream string, text []byte)
	buf    []byte
}

// Write implements io.Writer.
func (s *LineSplitter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.buf = append(s.buf, p...)
			p = nil
		} else {
			if len(s.buf) == 0 {
				s.emitLong(p[:i+1])
			} else {
				s.buf = append(s.buf, p[:i+1]...)
				s.emitLong(s.buf)
				s.buf = s.buf[:0]
			}
			p = p[i+1:]
			continue
		}
		for len(s.buf) >= MaxLine {
			s.Emit(s.Stream, s.buf[:MaxLine])
			s.buf = append(s.buf[:0], s.buf[MaxLine:]...)
		}
	}
	if cap(s.buf) > 2*MaxLine && len(s.buf) < MaxLine {
		s.buf = append([]byte(nil), s.buf...)
	}
	return n, nil
}

func (s *LineSplitter) emitLong(line []byte) {
	for len(line) > MaxLine {
		s.Emit(s.Stream, line[:MaxLine])
		line = line[MaxLine:]
	}
	s.Emit(s.Stream, line)
}

// Flush emits a last line that had no newline.
func (s *LineSplitter) Flush() {
	if len(s.buf) > 0 {
		s.Emit(s.Stream, s.buf)
		s.buf = s.buf[:0]
	}
	s.buf = nil
}
