package ebpf

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Attribute layouts of bpf(2) (include/uapi/linux/bpf.h, union bpf_attr);
// the kernel zero-fills fields past the size passed.
type progLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64
	license     uint64
	logLevel    uint32
	logSize     uint32
	logBuf      uint64
	kernVersion uint32
	progFlags   uint32
	progName    [16]byte
}

type attachAttr struct {
	targetFd     uint32
	attachBpfFd  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBpfFd uint32
}

type queryAttr struct {
	targetFd    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIDs     uint64
	progCnt     uint32
	_           uint32
}

type getFdByIDAttr struct {
	id        uint32
	nextID    uint32
	openFlags uint32
}

func bpf(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	for {
		r, _, e := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
		if e == unix.EINTR || e == unix.EAGAIN && cmd == unix.BPF_PROG_LOAD {
			continue
		}
		if e != 0 {
			return -1, e
		}
		return int(r), nil
	}
}

var license = []byte("Apache-2.0\x00")

// Load loads p as a BPF_PROG_TYPE_CGROUP_DEVICE program and returns its fd.
// On a verifier rejection the error carries the verifier's log.
func Load(p Program) (int, error) {
	if len(p) == 0 {
		return -1, errors.New("load device filter: empty program")
	}
	code := p.Bytes()
	attr := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(p)),
		insns:    uint64(uintptr(unsafe.Pointer(&code[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
	}
	copy(attr.progName[:], "berth_devices")
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(code)
	if err == nil {
		return fd, nil
	}
	// Again with the verifier log, to say why.
	log := make([]byte, 64<<10)
	attr.logLevel, attr.logSize, attr.logBuf = 1, uint32(len(log)), uint64(uintptr(unsafe.Pointer(&log[0])))
	fd2, err2 := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(code)
	runtime.KeepAlive(log)
	if err2 == nil {
		return fd2, nil
	}
	n := 0
	for n < len(log) && log[n] != 0 {
		n++
	}
	return -1, fmt.Errorf("load device filter (BPF_PROG_LOAD): %w; verifier: %s", err, log[:n])
}

// Query lists the ids of the device programs attached to the cgroup dirFd.
func Query(dirFd int) ([]uint32, error) {
	ids := make([]uint32, 64)
	attr := queryAttr{
		targetFd:   uint32(dirFd),
		attachType: unix.BPF_CGROUP_DEVICE,
		progIDs:    uint64(uintptr(unsafe.Pointer(&ids[0]))),
		progCnt:    uint32(len(ids)),
	}
	_, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(ids)
	if err != nil {
		return nil, fmt.Errorf("query device programs (BPF_PROG_QUERY): %w", err)
	}
	return ids[:attr.progCnt], nil
}

// AttachDeviceFilter loads p and attaches it to the cgroup directory dir with
// BPF_F_ALLOW_MULTI, then detaches the device programs attached there
// before, so the new rules replace the old ones (an update) instead of adding
// to them. The cgroup keeps the program alive; no fd stays open.
func AttachDeviceFilter(dir string, p Program) error {
	dirFd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	defer unix.Close(dirFd)
	old, err := Query(dirFd)
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", dir, err)
	}
	progFd, err := Load(p)
	if err != nil {
		return err
	}
	defer unix.Close(progFd)
	attr := attachAttr{
		targetFd:    uint32(dirFd),
		attachBpfFd: uint32(progFd),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	if _, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		return fmt.Errorf("attach device filter to %s (BPF_PROG_ATTACH): %w", dir, err)
	}
	for _, id := range old {
		if err := detachID(dirFd, id); err != nil {
			return fmt.Errorf("cgroup %s: detach old device filter %d: %w", dir, id, err)
		}
	}
	return nil
}

func detachID(dirFd int, id uint32) error {
	ga := getFdByIDAttr{id: id}
	fd, err := bpf(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&ga), unsafe.Sizeof(ga))
	if err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return err
	}
	defer unix.Close(fd)
	attr := attachAttr{targetFd: uint32(dirFd), attachBpfFd: uint32(fd), attachType: unix.BPF_CGROUP_DEVICE}
	if _, err := bpf(unix.BPF_PROG_DETACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil && err != unix.ENOENT {
		return err
	}
	return nil
}
