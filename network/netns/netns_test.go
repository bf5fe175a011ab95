package netns

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/testutil"
)

func mounted(t *testing.T, p string) bool {
	t.Helper()
	ok, err := isMountPoint(p)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return ok
}

func TestNewRemove(t *testing.T) {
	testutil.Integration(t)
	state := t.TempDir()
	t.Cleanup(func() {
		ents, _ := os.ReadDir(Dir(state))
		for _, e := range ents {
			Remove(filepath.Join(Dir(state), e.Name()))
		}
		if err := Cleanup(state); err != nil {
			t.Error(err)
		}
	})
	p, err := New(state, "ns-one")
	if err != nil {
		t.Fatal(err)
	}
	if !IsPinned(p) || !mounted(t, p) || !mounted(t, Dir(state)) {
		t.Fatalf("%s not pinned", p)
	}
	// A different namespace from ours.
	var self, pinned unix.Stat_t
	unix.Stat("/proc/self/ns/net", &self)
	unix.Stat(p, &pinned)
	if self.Ino == pinned.Ino {
		t.Fatal("pinned namespace is the host's")
	}
	// lo is up: a listener on 127.0.0.1 inside answers a dial inside.
	var l net.Listener
	if err := Do(p, func() error {
		var err error
		l, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Write([]byte("x"))
			c.Close()
		}
	}()
	if err := Do(p, func() error {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		b := make([]byte, 1)
		_, err = c.Read(b)
		return err
	}); err != nil {
		t.Fatalf("loopback in netns: %v", err)
	}
	// Our own namespace was not changed by any of this.
	var after unix.Stat_t
	unix.Stat("/proc/self/ns/net", &after)
	if after.Ino != self.Ino {
		t.Fatal("calling thread's namespace changed")
	}

	if names, err := List(state); err != nil || len(names) != 1 || names[0] != "ns-one" {
		t.Fatalf("List: %v %v", names, err)
	}
	if _, err := New(state, "ns-one"); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("second New: %v", err)
	}
	if !IsPinned(p) {
		t.Fatal("failed New disturbed the existing pin")
	}
	if err := Cleanup(state); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("cleanup with a pinned netns: %v", err)
	}
	if err := Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := Remove(p); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) || mounted(t, p) {
		t.Fatalf("%s left behind: %v", p, err)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), p) {
		t.Fatalf("mount of %s left", p)
	}
}

func TestNewBadName(t *testing.T) {
	state := t.TempDir()
	for _, n := range []string{"", ".x", "a/b", "../x", strings.Repeat("a", 129), "a b"} {
		if _, err := New(state, n); !errdefs.IsInvalidArgument(err) {
			t.Errorf("New(%q): %v", n, err)
		}
	}
	if _, err := os.Stat(Dir(state)); !os.IsNotExist(err) {
		t.Fatalf("bad names created %s", Dir(state))
	}
	if err := Remove(""); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Remove(\"\"): %v", err)
	}
}

func TestUnescapeMountPath(t *testing.T) {
	if got := unescapeMountPath(`/a\040b\134c`); got != `/a b\c` {
		t.Fatalf("got %q", got)
	}
}
