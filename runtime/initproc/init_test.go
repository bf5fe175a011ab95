package initproc

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "prog")
	os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "data"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	env := []string{"PATH=/nonexistent:" + dir}
	if p, err := lookPath("prog", env, "/"); err != nil || p != exe {
		t.Fatalf("lookPath(prog) = %q, %v", p, err)
	}
	for _, bad := range []string{"data", "sub", "missing"} {
		if _, err := lookPath(bad, env, "/"); err == nil {
			t.Errorf("lookPath(%q) succeeded", bad)
		}
	}
	if p, err := lookPath("./prog", nil, dir); err != nil || p != "./prog" {
		t.Fatalf("relative lookPath = %q, %v", p, err)
	}
	if _, err := lookPath(filepath.Join(dir, "data"), nil, "/"); err == nil {
		t.Fatal("non-executable absolute path accepted")
	}
}

func TestEnvHelpers(t *testing.T) {
	env := []string{"A=1", "PATH=/x", "PATH=/y"}
	if !hasEnv(env, "PATH") || hasEnv(env, "PAT") || getEnv(env, "PATH") != "/y" {
		t.Fatal("env helpers")
	}
}

func TestProtocolRoundTrip(t *testing.T) {
	var b bytes.Buffer
	if err := Send(&b, Message{Type: MsgError, Error: "boom"}); err != nil {
		t.Fatal(err)
	}
	m, err := Receive(&b)
	if err != nil || m.Type != MsgError || m.Error != "boom" {
		t.Fatalf("Receive = %+v, %v", m, err)
	}
	if _, err := Receive(bytes.NewReader([]byte{3, 0, 0, 0, '{', 'x', '}'})); err == nil {
		t.Fatal("bad JSON accepted")
	}
}
