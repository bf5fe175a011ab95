package main

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestExpandShorts(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"-it busybox sh", "-i -t busybox sh"},
		{"-dit --name x busybox", "-d -i -t --name x busybox"},
		{"-p 80:80 -it busybox -it", "-p 80:80 -i -t busybox -it"},
		{"--rm -e A=1 busybox", "--rm -e A=1 busybox"},
		{"-v /a:/b -d busybox", "-v /a:/b -d busybox"},
	} {
		if got := strings.Join(expandShorts(strings.Fields(c.in)), " "); got != c.want {
			t.Errorf("expandShorts(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParseCreateFlags(t *testing.T) {
	f, o, image, err := parseCreate("run", strings.Fields("-it --rm --name web -e A=1 -p 127.0.0.1:8080:80 --memory 64m --cpus 0.5 --pids-limit 10 --restart no --cap-add NET_ADMIN --ulimit nofile=10:20 --sysctl net.ipv4.ip_forward=1 busybox sh -c true"), true)
	if err != nil {
		t.Fatal(err)
	}
	if image != "busybox" || !f.interactive || !f.tty || !o.AutoRemove || o.Name != "web" || o.Memory != 64<<20 || o.NanoCPUs != 5e8 || o.PidsLimit != 10 {
		t.Fatalf("options %+v", o)
	}
	if !reflect.DeepEqual(o.Cmd, []string{"sh", "-c", "true"}) || !reflect.DeepEqual(o.Env, []string{"A=1"}) || !reflect.DeepEqual(o.Ports, []string{"127.0.0.1:8080:80"}) {
		t.Fatalf("cmd %v env %v ports %v", o.Cmd, o.Env, o.Ports)
	}
	for _, c := range []struct{ args, want string }{
		{"-p 70000:80 busybox", "70000"},
		{"--memory=-1 busybox", "-1"},
		{"--cpus lots busybox", "lots"},
		{"--restart always --rm busybox", "--rm"},
		{"--ulimit nofile busybox", "nofile"},
		{"--network container busybox", ""},
	} {
		_, _, _, err := parseCreate("run", strings.Fields(c.args), true)
		if c.want == "" {
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run %s: error %v, want one naming %q", c.args, err, c.want)
		}
	}
}

func TestParseSince(t *testing.T) {
	if ts, err := parseSince("10m"); err != nil || time.Since(ts) < 9*time.Minute {
		t.Fatalf("10m: %v %v", ts, err)
	}
	if ts, err := parseSince("2026-01-02T03:04:05Z"); err != nil || ts.Year() != 2026 {
		t.Fatalf("rfc3339: %v %v", ts, err)
	}
	if ts, err := parseSince("1700000000.5"); err != nil || ts.Unix() != 1700000000 {
		t.Fatalf("unix: %v %v", ts, err)
	}
	if _, err := parseSince("yesterday"); err == nil || !strings.Contains(err.Error(), "yesterday") {
		t.Fatalf("bad since: %v", err)
	}
}

func FuzzExpandShorts(f *testing.F) {
	for _, s := range []string{"-it busybox", "-p 1:2 -dit x", "--", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		in := strings.Fields(s)
		out := expandShorts(in)
		if len(out) < len(in) {
			t.Fatalf("expandShorts(%q) lost arguments: %q", in, out)
		}
	})
}

func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"10m", "2026-01-02T03:04:05Z", "1.5", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { _, _ = parseSince(s) })
}
