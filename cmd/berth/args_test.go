package main

import (
	"reflect"
	"testing"
)

func TestParseArgsInterspersed(t *testing.T) {
	fs := newFlags("pull")
	q := fs.Bool("q", false, "")
	p := fs.String("platform", "", "")
	pos, err := parseArgs(fs, []string{"busybox", "-q", "--platform", "linux/arm64", "extra"})
	if err != nil || !*q || *p != "linux/arm64" || !reflect.DeepEqual(pos, []string{"busybox", "extra"}) {
		t.Fatalf("pos %v q %v platform %q err %v", pos, *q, *p, err)
	}
	if _, err := parseArgs(newFlags("x"), []string{"--nope"}); err == nil {
		t.Fatal("unknown flag accepted")
	}
}

func TestSplitName(t *testing.T) {
	for _, tc := range []struct{ name, repo, tag string }{
		{"docker.io/library/busybox:latest", "busybox", "latest"},
		{"docker.io/team/app:1.2", "team/app", "1.2"},
		{"127.0.0.1:5000/busybox:latest", "127.0.0.1:5000/busybox", "latest"},
		{"example.com/a/b@sha256:" + "0123456789012345678901234567890123456789012345678901234567890123", "example.com/a/b", "<none>"},
		{"sha256:0123456789012345678901234567890123456789012345678901234567890123", "<none>", "<none>"},
	} {
		r, tg := splitName(tc.name)
		if r != tc.repo || tg != tc.tag {
			t.Errorf("%s: %s %s, want %s %s", tc.name, r, tg, tc.repo, tc.tag)
		}
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 999: "999B", 1000: "1kB", 1085421: "1.09MB", 316e6: "316MB", 2.5e12: "2.5TB"} {
		if got := humanSize(n); got != want {
			t.Errorf("%d: %s, want %s", n, got, want)
		}
	}
	if shortDigest("sha256:0123456789abcdef") != "0123456789ab" || shortDigest("abc") != "abc" {
		t.Error("shortDigest")
	}
}
