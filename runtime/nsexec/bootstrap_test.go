package nsexec

import (
	"bytes"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

func TestBootstrapRoundTrip(t *testing.T) {
	in := &Bootstrap{
		CloneFlags:  unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUSER,
		Join:        []NSPath{{Flag: unix.CLONE_NEWNET, Path: "/var/run/netns/x"}, {Flag: unix.CLONE_NEWIPC, Path: "/proc/1/ns/ipc"}},
		TimeOffsets: "monotonic 5 0\n",
		SelfJoin:    true,
	}
	out, err := Decode(in.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: got %+v want %+v", out, in)
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, msg := range map[string][]byte{
		"short header":   {1, 0, 0},
		"overrun":        {1, 0, 0, 0, 9, 0, 0, 0, 1},
		"bad flags":      {1, 0, 0, 0, 1, 0, 0, 0, 1},
		"unknown":        {99, 0, 0, 0, 0, 0, 0, 0},
		"short path":     {2, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4},
		"self-join data": {4, 0, 0, 0, 1, 0, 0, 0, 1},
	} {
		if _, err := Decode(msg); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func TestFrames(t *testing.T) {
	var b bytes.Buffer
	if err := WriteFrame(&b, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFrame(&b)
	if err != nil || string(got) != "hello" {
		t.Fatalf("ReadFrame = %q, %v", got, err)
	}
	if _, err := ReadFrame(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0x7f})); err == nil {
		t.Fatal("oversized frame accepted")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add((&Bootstrap{CloneFlags: unix.CLONE_NEWNS, Join: []NSPath{{Flag: 1, Path: "/x"}}}).Encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		b, err := Decode(msg)
		if err != nil {
			return
		}
		again, err := Decode(b.Encode())
		if err != nil || !reflect.DeepEqual(b.Join, again.Join) && len(b.Join) > 0 {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func TestCgroupFrame(t *testing.T) {
	got, err := CgroupFrame([]string{"/a/tasks", "/b/tasks"})
	if err != nil || string(got) != "c/a/tasks\x00/b/tasks\x00" {
		t.Fatalf("CgroupFrame = %q, %v", got, err)
	}
	if _, err := CgroupFrame([]string{"/a\x00b"}); err == nil {
		t.Fatal("NUL in a path accepted")
	}
}
