package testregistry

import (
	"net/http"
	"regexp"
	"strconv"
	"time"
)

// Fault changes the registry's answers to matching requests.
type Fault struct {
	Method string // "" matches any
	Path   string // regexp on the URL path ("" matches any), e.g. "/blobs/sha256:"
	Times  int    // requests it applies to; 0 = every one

	// Status answers with this status instead of serving, with a
	// distribution error body (or Body) and Retry-After if set.
	Status     int
	RetryAfter string
	Body       string

	Hang      bool          // answer nothing until the client gives up or the registry closes
	Delay     time.Duration // wait before answering
	Cut       bool          // serve, but drop the connection after CutAfter body bytes
	CutAfter  int64
	HangBody  bool // serve, but stall forever after HangAfter body bytes
	HangAfter int64
	// BytesPerSecond throttles the body.
	BytesPerSecond int64
	// Corrupt flips the first body byte (the digest no longer matches).
	Corrupt bool
	// Header sets answer headers (e.g. a wrong Content-Type or digest).
	Header map[string]string

	re   *regexp.Regexp
	hits int
}

// AddFault installs f; faults are matched in the order added. It returns f
// (Hits tells how often it applied).
func (r *Registry) AddFault(f *Fault) *Fault {
	if f.Path != "" {
		f.re = regexp.MustCompile(f.Path)
	}
	r.mu.Lock()
	r.faults = append(r.faults, f)
	r.mu.Unlock()
	return f
}

// ClearFaults removes every fault.
func (r *Registry) ClearFaults() {
	r.mu.Lock()
	r.faults = nil
	r.mu.Unlock()
}

// Hits is how many requests f applied to.
func (f *Fault) Hits(r *Registry) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return f.hits
}

func (r *Registry) matchFault(req *http.Request) *Fault {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.faults {
		if f.Method != "" && f.Method != req.Method {
			continue
		}
		if f.re != nil && !f.re.MatchString(req.URL.Path) {
			continue
		}
		if f.Times > 0 && f.hits >= f.Times {
			continue
		}
		f.hits++
		return f
	}
	return nil
}

func (r *Registry) wait(req *http.Request, d time.Duration) bool {
	var c <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		c = t.C
	}
	select {
	case <-req.Context().Done():
		return false
	case <-r.closing:
		return false
	case <-c:
		return true
	}
}

// applyFault acts on f; done means the answer was given.
func (r *Registry) applyFault(f *Fault, w http.ResponseWriter, req *http.Request) (http.ResponseWriter, bool) {
	if f.Delay > 0 && !r.wait(req, f.Delay) {
		return w, true
	}
	if f.Hang {
		r.wait(req, 0)
		return w, true
	}
	if f.Status != 0 {
		for k, v := range f.Header {
			w.Header().Set(k, v)
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		if f.Body != "" {
			w.Header().Set("Content-Length", strconv.Itoa(len(f.Body)))
			w.WriteHeader(f.Status)
			_, _ = w.Write([]byte(f.Body))
			return w, true
		}
		errorBody(w, f.Status, "INJECTED", "injected fault "+http.StatusText(f.Status))
		return w, true
	}
	return &faultWriter{ResponseWriter: w, f: f, r: r, req: req}, false
}

type faultWriter struct {
	http.ResponseWriter
	f       *Fault
	r       *Registry
	req     *http.Request
	written int64
	wrote   bool
}

func (fw *faultWriter) WriteHeader(code int) {
	for k, v := range fw.f.Header {
		fw.Header().Set(k, v)
	}
	fw.wrote = true
	fw.ResponseWriter.WriteHeader(code)
}

func (fw *faultWriter) flush() {
	if fl, ok := fw.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}

func (fw *faultWriter) Write(p []byte) (int, error) {
	if !fw.wrote {
		fw.WriteHeader(http.StatusOK)
	}
	if fw.f.Corrupt && fw.written == 0 && len(p) > 0 {
		p = append([]byte(nil), p...)
		p[0] ^= 0xff
	}
	limit := int64(-1)
	if fw.f.Cut {
		limit = fw.f.CutAfter
	} else if fw.f.HangBody {
		limit = fw.f.HangAfter
	}
	total := 0
	for len(p) > 0 {
		chunk := p
		if limit >= 0 && fw.written+int64(len(chunk)) > limit {
			chunk = chunk[:max(limit-fw.written, 0)]
		}
		if bps := fw.f.BytesPerSecond; bps > 0 {
			step := max(bps/20, 1)
			if int64(len(chunk)) > step {
				chunk = chunk[:step]
			}
		}
		if len(chunk) > 0 {
			n, err := fw.ResponseWriter.Write(chunk)
			fw.written += int64(n)
			total += n
			if err != nil {
				return total, err
			}
			p = p[n:]
		}
		if fw.f.BytesPerSecond > 0 {
			fw.flush()
			if !fw.r.wait(fw.req, time.Duration(int64(len(chunk))*int64(time.Second)/fw.f.BytesPerSecond)) {
				panic(http.ErrAbortHandler)
			}
		}
		if limit >= 0 && fw.written >= limit && len(p) > 0 {
			fw.flush()
			if fw.f.HangBody {
				fw.r.wait(fw.req, 0)
			}
			// Drop the connection mid-body.
			panic(http.ErrAbortHandler)
		}
	}
	return total, nil
}

func (fw *faultWriter) Flush() { fw.flush() }
