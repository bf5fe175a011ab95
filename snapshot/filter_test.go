package snapshot

import (
	"testing"

	"github.com/berth-containers/berth/internal/errdefs"
)

func TestFilters(t *testing.T) {
	info := Info{Kind: KindCommitted, Name: "n", Parent: "p", Labels: map[string]string{"a": "1"}}
	for _, c := range []struct {
		filters []string
		want    bool
	}{
		{nil, true},
		{[]string{"kind==committed"}, true},
		{[]string{"kind==active"}, false},
		{[]string{"name==n,parent==p"}, true},
		{[]string{"name==n", "parent==x"}, false},
		{[]string{`labels.a=="1"`}, true},
		{[]string{"labels.a!=1"}, false},
		{[]string{"labels.b!=1"}, true},
		{[]string{"labels.b==1"}, false},
	} {
		f, err := ParseFilters(c.filters...)
		if err != nil {
			t.Fatalf("%v: %v", c.filters, err)
		}
		if got := f.Match(info); got != c.want {
			t.Errorf("%v: match %v, want %v", c.filters, got, c.want)
		}
	}
	for _, bad := range []string{"kind", "size==1", "labels.==x", "=="} {
		if _, err := ParseFilters(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: %v, want invalid argument", bad, err)
		}
	}
}

func FuzzParseFilters(f *testing.F) {
	f.Add("kind==committed,parent==x")
	f.Add(`labels.a!="b"`)
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilters(s)
		if err != nil {
			return
		}
		_ = flt.Match(Info{Labels: map[string]string{"a": "b"}})
	})
}
