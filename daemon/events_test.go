package daemon

import (
	"context"
	"testing"
	"time"
)

func TestEventFilters(t *testing.T) {
	f, err := parseEventFilters([]string{"type=container", "event=start", "event=die", "container=web"})
	if err != nil {
		t.Fatal(err)
	}
	ev := Event{Type: "container", Action: "die", ID: "abcdef", Attributes: map[string]string{"name": "web"}}
	if !f.match(ev) {
		t.Fatal("die of web should match")
	}
	ev.Action = "create"
	if f.match(ev) {
		t.Fatal("create should not match event=start|die")
	}
	byID, _ := parseEventFilters([]string{"container=abc"})
	if !byID.match(Event{Type: "container", ID: "abcdef"}) || byID.match(Event{Type: "image", ID: "abcdef"}) {
		t.Fatal("container=ID-prefix")
	}
	for _, bad := range []string{"type", "type=", "colour=red", "=x"} {
		if _, err := parseEventFilters([]string{bad}); err == nil {
			t.Errorf("filter %q accepted", bad)
		}
	}
}

func TestEventsBroker(t *testing.T) {
	e := NewEvents()
	ctx, cancel := context.WithCancel(context.Background())
	ch := e.Subscribe(ctx)
	e.Publish("default", "container", "start", "id1", nil)
	select {
	case ev := <-ch:
		if ev.Action != "start" || ev.ID != "id1" || ev.Namespace != "default" {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(time.Second):
		t.Fatal("no event")
	}
	cancel()
	for range ch { // closed once the subscription ends
	}
	e.Publish("default", "container", "stop", "id1", nil) // no subscriber: dropped
	var nilEvents *Events
	nilEvents.Publish("default", "container", "start", "x", nil)
}

func TestRestartPolicy(t *testing.T) {
	for _, d := range []struct {
		n    int
		want time.Duration
	}{{0, 100 * time.Millisecond}, {3, 800 * time.Millisecond}, {20, time.Minute}} {
		if got := restartDelay(d.n); got != d.want {
			t.Errorf("restartDelay(%d) = %s, want %s", d.n, got, d.want)
		}
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "A=1", "B=2"}, []string{"A=3", "B", "C=4"})
	want := []string{"PATH=/bin", "A=3", "C=4"}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%v, want %v", got, want)
		}
	}
}

func FuzzEventFilters(f *testing.F) {
	for _, s := range []string{"type=container", "container=/web", "event=die", "x", "="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := parseEventFilters([]string{s})
		if err != nil {
			return
		}
		_ = flt.match(Event{Type: "container", Action: "start", ID: "abc", Attributes: map[string]string{"name": "web"}})
	})
}
