package errgrpc

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berth-containers/berth/internal/errdefs"
)

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		kind error
		code codes.Code
	}{
		{errdefs.ErrNotFound, codes.NotFound},
		{errdefs.ErrAlreadyExists, codes.AlreadyExists},
		{errdefs.ErrInvalidArgument, codes.InvalidArgument},
		{errdefs.ErrFailedPrecondition, codes.FailedPrecondition},
		{errdefs.ErrUnavailable, codes.Unavailable},
		{errdefs.ErrNotImplemented, codes.Unimplemented},
		{context.Canceled, codes.Canceled},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
	} {
		err := fmt.Errorf("image %q: %w", "busybox", tc.kind)
		g := ToGRPC(err)
		if st, _ := status.FromError(g); st.Code() != tc.code || st.Message() != err.Error() {
			t.Errorf("%v → %v %q, want %v with the message kept", tc.kind, st.Code(), st.Message(), tc.code)
		}
		n := ToNative(g)
		if !errors.Is(n, tc.kind) || n.Error() != err.Error() {
			t.Errorf("%v: back to %v (%q)", tc.kind, n, n.Error())
		}
		if ToGRPC(g) != g {
			t.Errorf("%v: converting a status error again changed it", tc.kind)
		}
	}
	if ToGRPC(nil) != nil || ToNative(nil) != nil {
		t.Error("nil is not kept")
	}
	plain := ToNative(ToGRPC(errors.New("boom")))
	if plain.Error() != "boom" {
		t.Errorf("unknown kind: %q", plain)
	}
	// Several kinds at once: the first matching in order wins, deterministically.
	both := errors.Join(errdefs.ErrNotFound, errdefs.ErrUnavailable)
	if st, _ := status.FromError(ToGRPC(both)); st.Code() != codes.NotFound {
		t.Errorf("joined kinds → %v", st.Code())
	}
}
