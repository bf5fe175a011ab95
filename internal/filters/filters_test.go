package filters

import (
	"testing"

	"github.com/berth-containers/berth/internal/errdefs"
)

func adaptor(obj map[string]string) Adaptor {
	return func(p []string) (string, bool) {
		if len(p) >= 1 && p[0] == "labels" {
			labels := map[string]string{}
			for k, v := range obj {
				if len(k) > 7 && k[:7] == "labels:" {
					labels[k[7:]] = v
				}
			}
			return LabelAdaptor(labels, p[1:])
		}
		if len(p) != 1 {
			return "", false
		}
		v, ok := obj[p[0]]
		return v, ok
	}
}

func TestMatch(t *testing.T) {
	obj := adaptor(map[string]string{"name": "docker.io/library/busybox:latest", "labels:berth.io/x": "y", "labels:a": "b,c"})
	cases := []struct {
		filters []string
		want    bool
	}{
		{nil, true},
		{[]string{""}, true},
		{[]string{"name==docker.io/library/busybox:latest"}, true},
		{[]string{"name!=docker.io/library/busybox:latest"}, false},
		{[]string{`labels."berth.io/x"==y`}, true},
		{[]string{`labels.berth.io/x==y`}, true},
		{[]string{`labels."berth.io/x"`}, true},
		{[]string{`labels."nope"`}, false},
		{[]string{`labels.a=="b,c"`}, true},
		{[]string{`name~=busybox, labels.a=="b,c"`}, true},
		{[]string{`name~=^busy`}, false},
		{[]string{`name==x`, `labels."berth.io/x"==y`}, true},
		{[]string{`name==x`, `labels."berth.io/x"==z`}, false},
		{[]string{`labels.nope!=q`}, true},
	}
	for _, c := range cases {
		f, err := Parse(c.filters...)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.filters, err)
		}
		if got := f.Match(obj); got != c.want {
			t.Errorf("Parse(%q).Match = %v, want %v", c.filters, got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, s := range []string{"==x", `labels."unterminated`, "name=x", "a,,b", "name~=(", `name=="x" y`, "a..b"} {
		if _, err := Parse(s); !errdefs.IsInvalidArgument(err) {
			t.Errorf("Parse(%q) = %v, want invalid argument", s, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`labels."a.b"==c`, "name~=x,kind!=y", `a.\"b`, `"\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := Parse(s)
		if err != nil {
			return
		}
		flt.Match(func([]string) (string, bool) { return "v", true })
	})
}
