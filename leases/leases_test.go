package leases

import (
	"context"
	"testing"
	"time"
)

func TestContextAndOpts(t *testing.T) {
	if _, ok := FromContext(context.Background()); ok {
		t.Fatal("lease on an empty context")
	}
	if _, ok := FromContext(WithLease(context.Background(), "")); ok {
		t.Fatal("empty lease id reported")
	}
	if id, ok := FromContext(WithLease(context.Background(), "pull-1")); !ok || id != "pull-1" {
		t.Fatalf("FromContext = %q, %v", id, ok)
	}
	var l Lease
	for _, o := range []Opt{WithID("x"), WithLabels(map[string]string{"a": "b"}), WithExpiration(time.Hour)} {
		if err := o(&l); err != nil {
			t.Fatal(err)
		}
	}
	exp, err := time.Parse(time.RFC3339Nano, l.Labels[LabelExpire])
	if err != nil || l.ID != "x" || l.Labels["a"] != "b" || exp.Before(time.Now().Add(59*time.Minute)) {
		t.Fatalf("lease %+v (expiry %v, %v)", l, exp, err)
	}
	var do DeleteOptions
	SynchronousDelete(&do)
	if !do.Synchronous {
		t.Fatal("SynchronousDelete not set")
	}
}
