package container

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-containers/berth/internal/testutil"
	"github.com/berth-containers/berth/runtime/nsexec"
	"github.com/berth-containers/berth/runtime/state"
)

func TestBootstrapFor(t *testing.T) {
	s := &specs.Spec{Linux: &specs.Linux{
		Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.MountNamespace},
			{Type: specs.NetworkNamespace, Path: "/var/run/netns/x"}, {Type: specs.TimeNamespace},
		},
		TimeOffsets: map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 7}},
	}}
	b, err := bootstrapFor(s)
	if err != nil {
		t.Fatal(err)
	}
	want := uint32(unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWTIME)
	if b.CloneFlags != want || len(b.Join) != 1 || b.Join[0].Flag != unix.CLONE_NEWNET || b.TimeOffsets != "monotonic 7 0\n" {
		t.Fatalf("bootstrap %+v", b)
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
	if _, err := bootstrapFor(s); err == nil {
		t.Fatal("unknown namespace type accepted")
	}
	if _, err := bootstrapFor(&specs.Spec{}); err == nil {
		t.Fatal("spec without linux accepted")
	}
}

func TestJoinBootstrap(t *testing.T) {
	st := &state.State{ID: "x", Pid: os.Getpid()}
	b, err := joinBootstrap(st, &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
		{Type: specs.UserNamespace}, {Type: specs.MountNamespace}, {Type: specs.NetworkNamespace},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	// Our own user namespace is skipped (setns into it would fail).
	if len(b.Join) != 2 || b.Join[0].Path != "/proc/"+strconv.Itoa(os.Getpid())+"/ns/mnt" || b.Join[1].Flag != unix.CLONE_NEWNET || b.CloneFlags != 0 {
		t.Fatalf("join bootstrap %+v", b)
	}
	if _, err := nsexec.Decode(b.Encode()); err != nil {
		t.Fatal(err)
	}
}

func TestWithDefaultDevices(t *testing.T) {
	maj := int64(4)
	res := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: &maj, Access: "r"}}}
	out := withDefaultDevices(res, &specs.Linux{Devices: []specs.LinuxDevice{{Type: "c", Major: 10, Minor: 229}, {Type: "p", Path: "/dev/fifo"}}})
	if len(res.Devices) != 2 {
		t.Fatal("input resources modified")
	}
	first, last := out.Devices[0], out.Devices[len(out.Devices)-1]
	if first.Allow || first.Access != "rwm" {
		t.Fatalf("first rule %+v, want deny all", first)
	}
	if !last.Allow || *last.Major != 10 || *last.Minor != 229 {
		t.Fatalf("last rule %+v, want the linux.devices entry", last)
	}
	for _, d := range out.Devices {
		if d.Type == "p" {
			t.Fatal("fifo got a device rule")
		}
	}
}

func TestMergeResources(t *testing.T) {
	l1, l2 := int64(1), int64(2)
	shares := uint64(5)
	old := &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &l1}, CPU: &specs.LinuxCPU{Shares: &shares}}
	got := mergeResources(old, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &l2}})
	if *got.Pids.Limit != 2 || got.CPU == nil || *got.CPU.Shares != 5 {
		t.Fatalf("merged %+v", got)
	}
}

func TestExitCode(t *testing.T) {
	if exitCode(unix.WaitStatus(3<<8)) != 3 || exitCode(unix.WaitStatus(9)) != 137 {
		t.Fatal("exit codes")
	}
}

func TestWritePidFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pid")
	if err := writePidFile(p, 1234); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "1234" {
		t.Fatalf("pid file %q", b)
	}
	if err := writePidFile(filepath.Join(t.TempDir(), "no", "such", "pid"), 1); err == nil {
		t.Fatal("pid file in a missing directory accepted")
	}
}

func TestProtectedExeIsReadOnly(t *testing.T) {
	testutil.RequireRoot(t)
	for name, get := range map[string]func() (*os.File, error){"open_tree": protectedExe, "memfd": sealedCopy} {
		f, err := get()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// The read-only mount refuses the open; the sealed memfd refuses the write.
		w, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), os.O_WRONLY, 0)
		if err == nil {
			if _, err := w.Write([]byte("x")); err == nil {
				t.Errorf("%s: wrote to the runtime binary copy", name)
			}
			w.Close()
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Size == 0 {
			t.Errorf("%s: fstat %v size %d", name, err, st.Size)
		}
		f.Close()
	}
}
