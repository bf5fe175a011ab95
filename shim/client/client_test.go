package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/shim"
)

// fakeShim serves the protocol on a socket with canned behaviour.
func fakeShim(t *testing.T, handle func(c net.Conn, req *shim.Request)) *Client {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := shim.DecodeRequest(c)
				if err != nil {
					shim.WriteFrame(c, shim.ErrorResponse(err))
					return
				}
				handle(c, req)
			}()
		}
	}()
	return &Client{cfg: shim.Config{ID: "c1", Socket: sock, StateDir: dir}}
}

func TestCallErrorsKeepTheirKind(t *testing.T) {
	c := fakeShim(t, func(conn net.Conn, req *shim.Request) {
		shim.WriteFrame(conn, shim.ErrorResponse(errors.Join(errors.New("container c1: not created"), errdefs.ErrNotFound)))
	})
	_, err := c.State(context.Background(), "")
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "not created") {
		t.Fatalf("error %v", err)
	}
}

func TestWaitHonoursContext(t *testing.T) {
	c := fakeShim(t, func(conn net.Conn, req *shim.Request) {
		io.Copy(io.Discard, conn) // never answers
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err := c.Wait(ctx, "")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(t0) > 5*time.Second {
		t.Fatalf("wait: %v after %v", err, time.Since(t0))
	}
}

func TestAttachDemux(t *testing.T) {
	gotIn := make(chan string, 1)
	c := fakeShim(t, func(conn net.Conn, req *shim.Request) {
		if req.Method != shim.MethodAttach || !req.Stdin || !req.Stdout || !req.Stderr || !req.StdinOnce {
			shim.WriteFrame(conn, shim.ErrorResponse(errors.New("bad attach request")))
			return
		}
		shim.WriteFrame(conn, &shim.Response{})
		var in bytes.Buffer
		for {
			s, d, err := shim.ReadStream(conn, nil)
			if err != nil || s != shim.StreamStdin {
				return
			}
			if len(d) == 0 {
				break
			}
			in.Write(d)
		}
		gotIn <- in.String()
		shim.WriteStream(conn, shim.StreamStdout, []byte("out1 "))
		shim.WriteStream(conn, shim.StreamStderr, []byte("err1"))
		shim.WriteStream(conn, shim.StreamStdout, []byte("out2"))
		shim.WriteStream(conn, shim.StreamEnd, nil)
	})
	var out, errb bytes.Buffer
	a, err := c.Attach(context.Background(), "", AttachOpts{Stdin: strings.NewReader("input"), StdinOnce: true, Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Wait(); err != nil {
		t.Fatal(err)
	}
	if <-gotIn != "input" || out.String() != "out1 out2" || errb.String() != "err1" {
		t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
	}
}

func TestAttachShimGone(t *testing.T) {
	c := fakeShim(t, func(conn net.Conn, req *shim.Request) {
		shim.WriteFrame(conn, &shim.Response{})
		shim.WriteStream(conn, shim.StreamStdout, []byte("x"))
	})
	a, err := c.Attach(context.Background(), "", AttachOpts{Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Wait(); err == nil {
		t.Fatal("attachment to a vanished shim ended without error")
	}
}

func TestEvents(t *testing.T) {
	c := fakeShim(t, func(conn net.Conn, req *shim.Request) {
		shim.WriteFrame(conn, &shim.Response{})
		shim.WriteFrame(conn, &shim.Event{Kind: shim.EventOOM, ID: "c1"})
		shim.WriteFrame(conn, &shim.Event{Kind: shim.EventExit, ID: "c1", Exit: &shim.ExitStatus{Code: 137, OOMKilled: true}})
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for ev := range ch {
		kinds = append(kinds, ev.Kind)
	}
	if strings.Join(kinds, ",") != "oom,exit" {
		t.Fatalf("events %v", kinds)
	}
}

func TestListConnectRecoverWithoutShim(t *testing.T) {
	root := t.TempDir()
	var want []string
	for _, d := range []string{"a", "ns/b", "ns/c"} {
		dir := filepath.Join(root, d)
		os.MkdirAll(dir, 0o755)
		cfg := shim.Config{ID: filepath.Base(d), Bundle: "/b", StateDir: dir, Runtime: "/bin/false", Socket: filepath.Join(dir, "shim.sock")}
		b, _ := json.Marshal(cfg)
		os.WriteFile(filepath.Join(dir, shim.ConfigFile), b, 0o600)
		want = append(want, dir)
	}
	os.MkdirAll(filepath.Join(root, "empty"), 0o755)
	got, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("List: %v, want %v", got, want)
	}
	ctx := context.Background()
	if _, err := Connect(ctx, filepath.Join(root, "empty")); !errdefs.IsNotFound(err) {
		t.Fatalf("connect to an empty dir: %v", err)
	}
	if _, err := Connect(ctx, filepath.Join(root, "a")); !errdefs.IsUnavailable(err) {
		t.Fatalf("connect to a dead shim: %v", err)
	}
	if _, err := Recover(ctx, filepath.Join(root, "empty")); !errdefs.IsNotFound(err) {
		t.Fatalf("recover an empty dir: %v", err)
	}
}

func TestStartValidates(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cases := []struct {
		o    StartOpts
		want string
	}{
		{StartOpts{Bundle: "/b", StateDir: dir + "/x", Runtime: "runc"}, "id"},
		{StartOpts{ID: "a/b", Bundle: "/b", StateDir: dir + "/x", Runtime: "runc"}, `"a/b"`},
		{StartOpts{ID: "a", Bundle: "b", StateDir: dir + "/x", Runtime: "runc"}, "bundle"},
		{StartOpts{ID: "a", Bundle: "/b", StateDir: "x", Runtime: "runc"}, "stateDir"},
	}
	for _, c := range cases {
		_, err := Start(ctx, c.o)
		if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want invalid argument naming %s", c.o, err, c.want)
		}
	}
	if _, err := os.Stat(dir + "/x"); !os.IsNotExist(err) {
		t.Fatal("a refused Start left its state dir")
	}
}

func TestStartRuntimeNotFound(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "x")
	_, err := Start(context.Background(), StartOpts{ID: "a", Bundle: "/b", StateDir: dir, Runtime: "no-such-runtime-binary"})
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "no-such-runtime-binary") {
		t.Fatalf("%v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatal("state dir left")
	}
}
