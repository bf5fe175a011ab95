package cgroups

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func uniqueName(t testing.TB) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "berth-test-" + hex.EncodeToString(b)
}

// child is a shell that waits for a line on stdin before running script, so a
// test can place it in a cgroup first.
type child struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	pid   int
	t     testing.TB
	ended bool
}

func startChild(t testing.TB, script string) *child {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", "read go; "+script)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, in: in, out: bufio.NewReader(pr), pid: cmd.Process.Pid, t: t}
	t.Cleanup(c.stop)
	return c
}

// goOn lets the child's script run (or continue past its next `read`).
func (c *child) goOn() {
	c.t.Helper()
	if _, err := io.WriteString(c.in, "\n"); err != nil {
		c.t.Fatalf("write to child: %v", err)
	}
}

// line reads one output line, failing after 10s.
func (c *child) line() string {
	c.t.Helper()
	ch := make(chan string, 1)
	go func() {
		s, _ := c.out.ReadString('\n')
		ch <- strings.TrimSpace(s)
	}()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		c.t.Fatalf("child %d: no output within 10s", c.pid)
		return ""
	}
}

// stop kills the child's process group and waits for it.
func (c *child) stop() {
	if c.ended {
		return
	}
	c.ended = true
	_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	_ = c.in.Close()
	_ = c.cmd.Wait()
}

// killAll SIGKILLs every process in the manager's cgroup and waits until
// the cgroup is empty (thawing first: frozen tasks do not die).
func killAll(t testing.TB, m Manager) {
	t.Helper()
	_ = m.Thaw()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := m.Pids()
		if err != nil || len(pids) == 0 {
			reapOrphans()
			return
		}
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		if time.Now().After(deadline) {
			t.Errorf("cgroup still has pids %v after 10s", pids)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// assertGone fails if any of the manager's directories still exists.
func assertGone(t testing.TB, s Saved) {
	t.Helper()
	for c, d := range s.Paths {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup dir for %s left behind: %s", c, d)
		}
	}
}

func readT(t testing.TB, path ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(path...))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func p64(v int64) *int64    { return &v }
func pu64(v uint64) *uint64 { return &v }
func pu16(v uint16) *uint16 { return &v }
func pbool(v bool) *bool    { return &v }

func itoa(i int) string { return strconv.Itoa(i) }

// verdict is the next output line that is not a shell error message.
func (c *child) verdict() string {
	c.t.Helper()
	for {
		l := c.line()
		if !strings.Contains(l, "not permitted") {
			return l
		}
	}
}

// reapOrphans collects adopted grandchildren that have exited. Tests in this
// package do not run in parallel, and every direct child is waited for by its
// own cleanup before this runs.
func reapOrphans() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
