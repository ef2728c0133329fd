package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/internal/coordclient"
)

// Sentinel errors of the coordinator. Their text is safe to show a client.
var (
	ErrPairingInvalid  = errors.New("pairing code is not valid")
	ErrPairingUsed     = errors.New("pairing code was already used")
	ErrPairingExpired  = errors.New("pairing code has expired; ask the operator for a new one")
	ErrPairingBurned   = errors.New("pairing code was disabled after too many wrong attempts; ask the operator for a new one")
	ErrDevicePending   = errors.New("device is waiting for the operator's approval")
	ErrSASMismatch     = coordclient.ErrSASMismatch
	ErrDeviceExists    = errors.New("device is already enrolled")
	ErrDeviceUnknown   = errors.New("unknown device")
	ErrDeviceRevoked   = errors.New("device is revoked")
	ErrKeyNotFound     = errors.New("unknown key")
	ErrNameTaken       = errors.New("a device with that name already exists")
	ErrUnauthenticated = errors.New("missing or invalid API token")
	ErrIdentityCheck   = errors.New("device identity check failed (wrong key, or an answer meant for another coordinator)")
	ErrForbidden       = errors.New("this token's role may not call this method")
	ErrShuttingDown    = errors.New("coordinator is shutting down")
)

// codeOf is the one table that maps the coordinator's errors to gRPC codes.
var codeOf = map[error]codes.Code{
	ErrPairingInvalid:  codes.PermissionDenied,
	ErrPairingUsed:     codes.PermissionDenied,
	ErrPairingExpired:  codes.PermissionDenied,
	ErrPairingBurned:   codes.PermissionDenied,
	ErrDevicePending:   codes.FailedPrecondition,
	ErrSASMismatch:     codes.FailedPrecondition,
	ErrDeviceExists:    codes.AlreadyExists,
	ErrDeviceUnknown:   codes.PermissionDenied,
	ErrDeviceRevoked:   codes.PermissionDenied,
	ErrKeyNotFound:     codes.NotFound,
	ErrNameTaken:       codes.AlreadyExists,
	ErrUnauthenticated: codes.Unauthenticated,
	ErrIdentityCheck:   codes.Unauthenticated,
	ErrForbidden:       codes.PermissionDenied,
	ErrShuttingDown:    codes.Unavailable,
}

// clientError is an error with a code and a message that is safe to show.
type clientError struct {
	code codes.Code
	msg  string
}

func (e *clientError) Error() string { return e.msg }

func invalidArg(format string, a ...any) error {
	return &clientError{codes.InvalidArgument, fmt.Sprintf(format, a...)}
}

func failedPrecondition(format string, a ...any) error {
	return &clientError{codes.FailedPrecondition, fmt.Sprintf(format, a...)}
}

func unavailable(format string, a ...any) error {
	return &clientError{codes.Unavailable, fmt.Sprintf(format, a...)}
}

// toStatus turns any error into a gRPC status with a safe message. Errors not
// known here become Internal, and their text stays in the log.
func toStatus(log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	st, internal := publicStatus(err)
	if internal {
		log.Error("internal error", "method", method, "err", err)
	}
	return st.Err()
}

// errorText is what a client may see of err (for reports and job details,
// which reach clients outside a gRPC status).
func errorText(err error) string {
	st, _ := publicStatus(err)
	return st.Message()
}

// publicStatus is the one mapping from the coordinator's errors to what a
// client sees. internal reports an error that is not one of ours: its text
// must stay in the log.
func publicStatus(err error) (st *status.Status, internal bool) {
	if st, ok := status.FromError(err); ok {
		return st, false
	}
	var ce *clientError
	if errors.As(err, &ce) {
		return status.New(ce.code, ce.msg), false
	}
	var se *SessionError
	if errors.As(err, &se) {
		return status.New(codes.Aborted, se.Error()), false
	}
	if errors.Is(err, registry.ErrFenced) {
		return status.New(codes.Unavailable, "this coordinator replica no longer holds the leader lease (another replica took it, or this one is stopping); "+
			"retry: the active replica answers (a client given every replica's address moves there by itself)"), false
	}
	var pr *PolicyRefusal
	if errors.As(err, &pr) {
		return status.New(codes.PermissionDenied, pr.Error()), false
	}
	for sentinel, code := range codeOf {
		if errors.Is(err, sentinel) {
			return status.New(code, sentinel.Error()), false
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, "deadline exceeded"), false
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "canceled"), false
	}
	return status.New(codes.Internal, "internal error (see the coordinator's log)"), true
}

func unaryErrors(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("panic in handler", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				resp, err = nil, status.Error(codes.Internal, "internal error (see the coordinator's log)")
			}
		}()
		resp, err = h(ctx, req)
		return resp, toStatus(log, info.FullMethod, err)
	}
}

func streamErrors(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("panic in stream handler", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error (see the coordinator's log)")
			}
		}()
		return toStatus(log, info.FullMethod, h(srv, ss))
	}
}
