package cgroups

import (
	"os"
	"strings"
	"testing"

	"github.com/berth-containers/berth/internal/errdefs"
)

func TestCleanPath(t *testing.T) {
	ok := map[[2]string]string{
		{"", "abc"}:           "/berth/abc",
		{"/a/b", "x"}:         "/a/b",
		{"a/b", "x"}:          "/a/b",
		{"/a//b/./c/", "x"}:   "/a/b/c",
		{"a/../b", "x"}:       "/b",
		{"/docker/1234", "x"}: "/docker/1234",
	}
	for in, want := range ok {
		got, err := CleanPath(in[0], in[1])
		if err != nil || got != want {
			t.Errorf("CleanPath(%q, %q) = %q, %v; want %q", in[0], in[1], got, err, want)
		}
	}
	for _, in := range [][2]string{{"..", "x"}, {"/../x", "x"}, {"a/../../x", "x"}, {"/", "x"}, {".", "x"}, {"a\x00b", "x"}, {"", ""}, {"", "a/b"}, {"", ".."}} {
		_, err := CleanPath(in[0], in[1])
		if err == nil || !strings.Contains(err.Error(), "linux.cgroupsPath") || !errdefs.IsInvalidArgument(err) {
			t.Errorf("CleanPath(%q, %q) error %v, want invalid argument naming linux.cgroupsPath", in[0], in[1], err)
		}
	}
}

func TestNewRejectsEscapingPath(t *testing.T) {
	root := fakeV1(t, "/x", false)
	if _, err := New(Config{Root: root, Path: "../../etc", ID: "x"}); err == nil || !strings.Contains(err.Error(), "linux.cgroupsPath") {
		t.Fatalf("New with an escaping path: %v", err)
	}
}

func TestParseProcCgroup(t *testing.T) {
	data := "12:pids:/a\n3:cpu,cpuacct:/b\n1:name=systemd:/c\n0::/d\n"
	got, err := ParseProcCgroup([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[1].Controllers[1] != "cpuacct" || got[2].Controllers[0] != "name=systemd" || got[3].ID != 0 || got[3].Controllers != nil || got[3].Path != "/d" {
		t.Fatalf("parsed %+v", got)
	}
	for _, bad := range []string{"x:pids:/a", "1:pids", "1:pids:relative", "-1:pids:/a", "01:pids:/a"} {
		if _, err := ParseProcCgroup([]byte(bad)); err == nil {
			t.Errorf("ParseProcCgroup(%q) succeeded", bad)
		}
	}
	own, err := ProcessCgroups(os.Getpid())
	if err != nil || len(own) == 0 {
		t.Fatalf("ProcessCgroups(self) = %v, %v", own, err)
	}
}

func FuzzParseProcCgroup(f *testing.F) {
	f.Add([]byte("12:pids:/a\n0::/\n"))
	f.Add([]byte("1:name=systemd:/user.slice/x:y\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseProcCgroup(data)
		if err != nil {
			return
		}
		for _, l := range got {
			if l.ID < 0 || !strings.HasPrefix(l.Path, "/") {
				t.Fatalf("accepted bad line %+v", l)
			}
		}
	})
}

func FuzzCleanPath(f *testing.F) {
	f.Add("/a/b", "id")
	f.Add("../x", "id")
	f.Add("", "id")
	f.Fuzz(func(t *testing.T, p, id string) {
		c, err := CleanPath(p, id)
		if err != nil {
			return
		}
		if !strings.HasPrefix(c, "/") || c == "/" || strings.Contains(c, "/../") || strings.HasSuffix(c, "/..") || strings.ContainsRune(c, 0) {
			t.Fatalf("CleanPath(%q, %q) = %q", p, id, c)
		}
	})
}

func FuzzStatParsers(f *testing.F) {
	f.Add("8:0 Read 100\n8:0 Write 5\nTotal 105\n")
	f.Add("8:0 rbytes=1 wbytes=2 rios=3 wios=4\n")
	f.Add("user 5\nsystem 7\n")
	f.Fuzz(func(t *testing.T, s string) {
		_ = parseBlkio(s)
		_, _ = parseIOStat(s)
		_ = parseKV(s)
		_, _ = parseUint(s, "fuzz")
	})
}

func FuzzUnifiedKey(f *testing.F) {
	f.Add("memory.high")
	f.Add("../cgroup.procs")
	f.Fuzz(func(t *testing.T, k string) {
		if validateUnifiedKey(k) == nil && (strings.ContainsAny(k, "/\x00") || strings.Contains(k, "..") || k == "cgroup.procs") {
			t.Fatalf("accepted unified key %q", k)
		}
	})
}

func TestLoadRejectsForeignPaths(t *testing.T) {
	for _, s := range []Saved{
		{Mode: ModeV1, Root: "/sys/fs/cgroup", Path: "/x", Paths: map[string]string{"memory": "/etc/x"}},
		{Mode: ModeV1, Root: "/sys/fs/cgroup", Path: "/x", Paths: map[string]string{"memory": "/sys/fs/cgroup/memory/../../../etc/x"}},
		{Mode: ModeV1, Root: "/sys/fs/cgroup", Path: "/x", Paths: map[string]string{"memory": "/sys/fs/cgroup/memory/y"}},
		{Mode: ModeV2, Root: "/sys/fs/cgroup", Path: "/", Paths: map[string]string{Unified: "/sys/fs/cgroup"}},
		{Mode: "v3", Root: "/sys/fs/cgroup", Path: "/x", Paths: map[string]string{Unified: "/sys/fs/cgroup/x"}},
		{Mode: ModeV2, Root: "/sys/fs/cgroup", Path: "/x"},
	} {
		if _, err := Load(s); err == nil || !errdefs.IsInvalidArgument(err) {
			t.Errorf("Load(%+v) = %v, want invalid argument", s, err)
		}
	}
}
