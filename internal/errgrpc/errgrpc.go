// Package errgrpc maps Berth's error kinds (internal/errdefs) to gRPC status
// codes and back, once, at the API edge. It holds no other logic.
package errgrpc

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berth-containers/berth/internal/errdefs"
)

// ToGRPC converts err to a gRPC status error carrying its message.
func ToGRPC(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Unknown
	switch {
	case errdefs.IsNotFound(err):
		code = codes.NotFound
	case errdefs.IsAlreadyExists(err):
		code = codes.AlreadyExists
	case errdefs.IsInvalidArgument(err):
		code = codes.InvalidArgument
	case errdefs.IsFailedPrecondition(err):
		code = codes.FailedPrecondition
	case errdefs.IsUnavailable(err):
		code = codes.Unavailable
	case errdefs.IsNotImplemented(err):
		code = codes.Unimplemented
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	}
	return status.Error(code, err.Error())
}

// ToNative converts a gRPC status error back to an error wrapping the matching kind.
func ToNative(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var kind error
	switch st.Code() {
	case codes.NotFound:
		kind = errdefs.ErrNotFound
	case codes.AlreadyExists:
		kind = errdefs.ErrAlreadyExists
	case codes.InvalidArgument:
		kind = errdefs.ErrInvalidArgument
	case codes.FailedPrecondition:
		kind = errdefs.ErrFailedPrecondition
	case codes.Unavailable:
		kind = errdefs.ErrUnavailable
	case codes.Unimplemented:
		kind = errdefs.ErrNotImplemented
	case codes.Canceled:
		kind = context.Canceled
	case codes.DeadlineExceeded:
		kind = context.DeadlineExceeded
	default:
		return errors.New(st.Message())
	}
	return &nativeError{msg: st.Message(), kind: kind}
}

type nativeError struct {
	msg  string
	kind error
}

func (e *nativeError) Error() string { return e.msg }
func (e *nativeError) Unwrap() error { return e.kind }
