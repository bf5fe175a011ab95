package shim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-containers/berth/internal/errdefs"
)

func frame(b []byte) []byte {
	out := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(out, uint32(len(b)))
	copy(out[4:], b)
	return out
}

func TestRequestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	req := &Request{Method: MethodExec, ExecID: "e1", Process: &specs.Process{Args: []string{"sh"}}, Exec: &ExecOpts{Stdin: true}}
	if err := WriteFrame(&buf, req); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRequest(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got.Method != MethodExec || got.ExecID != "e1" || got.Process.Args[0] != "sh" || !got.Exec.Stdin {
		t.Fatalf("decoded %+v", got)
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		kind error
		want string
	}{
		{"empty method", frame([]byte(`{}`)), errdefs.ErrInvalidArgument, "method"},
		{"unknown method", frame([]byte(`{"method":"format"}`)), errdefs.ErrNotImplemented, `"format"`},
		{"not json", frame([]byte(`{`)), errdefs.ErrInvalidArgument, "request"},
		{"too long", []byte{0xff, 0xff, 0xff, 0xff}, errdefs.ErrInvalidArgument, "exceeds"},
		{"bad exec id", frame([]byte(`{"method":"state","execID":"../x"}`)), errdefs.ErrInvalidArgument, "exec id"},
		{"exec without args", frame([]byte(`{"method":"exec","execID":"a","process":{"args":[]}}`)), errdefs.ErrInvalidArgument, "process.args"},
		{"exec without id", frame([]byte(`{"method":"exec","process":{"args":["x"]}}`)), errdefs.ErrInvalidArgument, "execID"},
		{"exec terminal mismatch", frame([]byte(`{"method":"exec","execID":"a","process":{"args":["x"],"terminal":true}}`)), errdefs.ErrInvalidArgument, "terminal"},
		{"kill signal 0", frame([]byte(`{"method":"kill"}`)), errdefs.ErrInvalidArgument, "signal"},
		{"kill signal 99", frame([]byte(`{"method":"kill","signal":99}`)), errdefs.ErrInvalidArgument, "signal 99"},
		{"create without opts", frame([]byte(`{"method":"create"}`)), errdefs.ErrInvalidArgument, "create"},
		{"negative log size", frame([]byte(`{"method":"create","create":{"logMaxSize":-1}}`)), errdefs.ErrInvalidArgument, "logMaxSize"},
		{"update without resources", frame([]byte(`{"method":"update"}`)), errdefs.ErrInvalidArgument, "resources"},
		{"resize zero", frame([]byte(`{"method":"resize","size":{"width":0,"height":3}}`)), errdefs.ErrInvalidArgument, "width"},
	}
	for _, c := range cases {
		_, err := DecodeRequest(bytes.NewReader(c.in))
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want kind %v mentioning %q", c.name, err, c.kind, c.want)
		}
	}
	if _, err := DecodeRequest(bytes.NewReader(frame([]byte(`{"method":"ping"}`))[:6])); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated frame: %v", err)
	}
}

func TestErrorKindsCrossTheWire(t *testing.T) {
	for _, k := range kinds {
		r := ErrorResponse(errors.Join(errors.New("context"), k))
		if err := r.Err(); !errors.Is(err, k) {
			t.Errorf("kind %v lost: %v", k, err)
		}
	}
	if (&Response{}).Err() != nil {
		t.Error("empty response is an error")
	}
}

func TestStreamFrames(t *testing.T) {
	var buf bytes.Buffer
	big := bytes.Repeat([]byte("a"), MaxStreamFrame+5)
	if err := WriteStream(&buf, StreamStdout, big); err != nil {
		t.Fatal(err)
	}
	WriteStream(&buf, StreamEnd, nil)
	var got []byte
	for {
		s, d, err := ReadStream(&buf, nil)
		if err != nil {
			t.Fatal(err)
		}
		if s == StreamEnd {
			break
		}
		got = append(got, d...)
	}
	if !bytes.Equal(got, big) {
		t.Fatalf("got %d bytes", len(got))
	}
	if _, _, err := ReadStream(bytes.NewReader([]byte{9, 0, 0, 0, 0}), nil); err == nil {
		t.Fatal("unknown stream id accepted")
	}
}

func TestValidExecID(t *testing.T) {
	for _, ok := range []string{"a", "exec-1", "A.b_c", strings.Repeat("x", 64)} {
		if err := ValidExecID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".x", "a/b", "..", "a b", strings.Repeat("x", 65), "é"} {
		if err := ValidExecID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSocketPath(t *testing.T) {
	if p := SocketPath("/run/berth/c1", "shim.sock"); p != "/run/berth/c1/shim.sock" {
		t.Fatal(p)
	}
	long := "/" + strings.Repeat("d", 120)
	p := SocketPath(long, "shim.sock")
	if !strings.HasPrefix(p, SocketDir+"/") || len(p) >= 100 || p == SocketPath(long+"x", "shim.sock") {
		t.Fatalf("long state dir: %s", p)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add(frame([]byte(`{"method":"ping"}`)))
	f.Add(frame([]byte(`{"method":"exec","execID":"a","process":{"args":["x"]},"exec":{"stdin":true}}`)))
	f.Add(frame([]byte(`{"method":"update","resources":{"memory":{"limit":1}}}`)))
	f.Add([]byte{0, 0, 0, 1, '{'})
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeRequest(bytes.NewReader(b))
		if err != nil {
			return
		}
		if req.Method == "" {
			t.Fatal("accepted a request without method")
		}
		if req.ExecID != "" && ValidExecID(req.ExecID) != nil {
			t.Fatalf("accepted exec id %q", req.ExecID)
		}
		// What was accepted encodes and decodes again.
		var buf bytes.Buffer
		if err := WriteFrame(&buf, req); err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeRequest(&buf); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func FuzzReadStream(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 2, 'h', 'i'})
	f.Add([]byte{3, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, d, err := ReadStream(bytes.NewReader(b), nil)
		if err != nil {
			return
		}
		if s > StreamEnd || len(d) > MaxStreamFrame {
			t.Fatalf("stream %d, %d bytes", s, len(d))
		}
	})
}
