package container

import (
	"os"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Foreground run and exec forward the signals they receive to the container's
// process, as runc does. Asking Go's runtime for a signal costs a round trip to
// its signal-mask thread (two or more thread switches), so catching all 60-odd
// signals up front cost more CPU than the rest of a short `run` together. The
// catcher therefore takes the signals that would otherwise end the runtime at
// once, before the container exists, and the rest only once the container has
// lived for lateSignalsAfter; a signal of the second kind that arrives earlier
// is ignored, not forwarded.
//
// The catcher is process-wide and never stopped: the runtime's command line
// exits once run or exec returns, and a signal that arrives after that is
// dropped rather than killing the runtime half-way through its delete.

var earlySignals = []os.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGABRT}

const lateSignalsAfter = 50 * time.Millisecond

var catcher struct {
	once     sync.Once
	lateOnce sync.Once
	ch       chan os.Signal
}

// catchSignals starts catching the early signals (once per process) and returns
// the channel they arrive on.
func catchSignals() chan os.Signal {
	catcher.once.Do(func() {
		catcher.ch = make(chan os.Signal, 64)
		signal.Notify(catcher.ch, earlySignals...)
	})
	return catcher.ch
}

// catchLateSignals adds every other signal to the catcher.
func catchLateSignals() {
	catcher.lateOnce.Do(func() {
		var late []os.Signal
		for s := unix.Signal(1); s <= 64; s++ {
			if !forwardable(s) || isEarly(s) {
				continue
			}
			late = append(late, s)
		}
		signal.Notify(catcher.ch, late...)
	})
}

func isEarly(s unix.Signal) bool {
	for _, e := range earlySignals {
		if e == s {
			return true
		}
	}
	return false
}

// forwardable reports whether a caught signal is passed on to the container:
// not the ones the runtime itself lives with (child exits, Go's preemption
// signal, terminal resizes, broken pipes), nor those no process can catch or
// that Go reserves for itself.
func forwardable(s unix.Signal) bool {
	switch s {
	case unix.SIGCHLD, unix.SIGURG, unix.SIGWINCH, unix.SIGPIPE, unix.SIGKILL, unix.SIGSTOP,
		unix.SIGILL, unix.SIGTRAP, unix.SIGBUS, unix.SIGFPE, unix.SIGSEGV, unix.SIGPROF:
		return false
	}
	// 32-34 are glibc's and musl's internal signals (Go never delivers them).
	return s < 32 || s > 34
}

// waitForward waits for pid (our child), forwarding the signals that arrive on
// sigs (nil: none), and returns its exit code.
func waitForward(pid int, sigs chan os.Signal) int {
	done := make(chan unix.WaitStatus, 1)
	go func() { done <- waitExit(pid) }()
	var late <-chan time.Time
	if sigs != nil {
		t := time.NewTimer(lateSignalsAfter)
		defer t.Stop()
		late = t.C
	}
	for {
		select {
		case ws := <-done:
			return exitCode(ws)
		case <-late:
			late = nil
			catchLateSignals()
		case s := <-sigs:
			if sig, ok := s.(unix.Signal); ok && forwardable(sig) {
				_ = unix.Kill(pid, sig)
			}
		}
	}
}

// waitExit waits for pid (our child) to exit and reaps it. It waits on a
// pidfd in Go's poller where the kernel has pidfds (see exitOf), so that no
// thread sits in wait4 (which keeps the Go runtime's monitor thread polling).
func waitExit(pid int) unix.WaitStatus {
	if exited, stop := exitOf(pid); exited != nil {
		<-exited
		stop()
	}
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			ws = 255 << 8
		}
		return ws
	}
}
