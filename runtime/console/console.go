package console

import (
	"fmt"
	"io"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// OpenPtyPair opens path (normally /dev/ptmx) and returns the master and its
// slave; the slave is opened with TIOCGPTPEER so no path lookup can be redirected.
func OpenPtyPair(ptmx string) (master, slave *os.File, err error) {
	mfd, err := unix.Open(ptmx, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", ptmx, err)
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(mfd)
		return nil, nil, fmt.Errorf("unlockpt: %w", err)
	}
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), uintptr(unix.TIOCGPTPEER), uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if e != 0 {
		unix.Close(mfd)
		return nil, nil, fmt.Errorf("open pty peer (TIOCGPTPEER): %w", e)
	}
	n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(mfd)
		unix.Close(int(r))
		return nil, nil, fmt.Errorf("pty number: %w", err)
	}
	return os.NewFile(uintptr(mfd), ptmx), os.NewFile(r, fmt.Sprintf("/dev/pts/%d", n)), nil
}

// MakeControlling makes slave the calling process's controlling terminal and its
// stdin, stdout and stderr. The caller must be a session leader (setsid).
func MakeControlling(slave *os.File) error {
	fd := int(slave.Fd())
	if err := unix.IoctlSetInt(fd, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("make pty the controlling terminal: %w", err)
	}
	for i := 0; i <= 2; i++ {
		if err := unix.Dup3(fd, i, 0); err != nil {
			return fmt.Errorf("dup pty to fd %d: %w", i, err)
		}
	}
	return nil
}

// SetSize sets a terminal's window size.
func SetSize(f *os.File, height, width uint) error {
	return unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(height), Col: uint16(width)})
}

// SendFd sends fd over the unix socket sock with name as the message payload
// (the convention runc's console socket users expect).
func SendFd(sock *os.File, name string, fd int) error {
	if name == "" {
		name = "/dev/ptmx"
	}
	rights := unix.UnixRights(fd)
	if err := unix.Sendmsg(int(sock.Fd()), []byte(name), rights, nil, 0); err != nil {
		return fmt.Errorf("send pty master over console socket: %w", err)
	}
	return nil
}

// RecvFd receives one fd sent by SendFd.
func RecvFd(sock *os.File) (*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("receive pty master: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receive pty master: no control message (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("receive pty master: want 1 fd (%v)", err)
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}

// Connect dials the console socket path given by --console-socket.
func Connect(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("--console-socket %s: connect: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// Attach copies between the caller's stdio and a pty master until the master
// reports EOF (the container side closed). When stdin is a terminal it is put in
// raw mode and its size is propagated (and kept in sync on SIGWINCH).
func Attach(master *os.File, stdin io.Reader, stdout io.Writer) (restore func()) {
	restore = func() {}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if old, err := term.MakeRaw(int(f.Fd())); err == nil {
			restore = func() { _ = term.Restore(int(f.Fd()), old) }
		}
		resize := func() {
			if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil {
				_ = unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, ws)
			}
		}
		resize()
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, unix.SIGWINCH)
		go func() {
			for range ch {
				resize()
			}
		}()
	}
	go func() { _, _ = io.Copy(master, stdin) }()
	return restore
}
