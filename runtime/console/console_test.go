package console

import (
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestPtyOverSocket(t *testing.T) {
	master, slave, err := OpenPtyPair("/dev/ptmx")
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer slave.Close()
	if !strings.HasPrefix(slave.Name(), "/dev/pts/") {
		t.Fatalf("slave name %q", slave.Name())
	}
	if err := SetSize(master, 24, 99); err != nil {
		t.Fatal(err)
	}
	ws, err := unix.IoctlGetWinsize(int(slave.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Row != 24 || ws.Col != 99 {
		t.Fatalf("window size %+v %v", ws, err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	defer a.Close()
	defer b.Close()
	if err := SendFd(a, slave.Name(), int(master.Fd())); err != nil {
		t.Fatal(err)
	}
	got, err := RecvFd(b)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if got.Name() != slave.Name() {
		t.Fatalf("received name %q, want %q", got.Name(), slave.Name())
	}
	// What the slave writes comes out of the received master.
	if _, err := slave.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	got.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := got.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "ping") {
		t.Fatalf("read from master: %q %v", buf[:n], err)
	}
}

func TestRecvFdWithoutFd(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	defer a.Close()
	defer b.Close()
	a.Write([]byte("no fd here"))
	if _, err := RecvFd(b); err == nil {
		t.Fatal("RecvFd accepted a message without an fd")
	}
	if _, err := Connect("/nonexistent/console.sock"); err == nil || !strings.Contains(err.Error(), "--console-socket") {
		t.Fatalf("Connect to a missing socket: %v", err)
	}
}
