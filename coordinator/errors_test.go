package coordinator

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
)

// Reports and job details use the same mapping as gRPC statuses: a known
// error keeps its safe text, an unknown one never leaks.
func TestPublicStatus(t *testing.T) {
	for _, tc := range []struct {
		err      error
		code     codes.Code
		text     string
		internal bool
	}{
		{fmt.Errorf("wrapped: %w", &PolicyRefusal{Device: "phone", Reason: "denied"}), codes.PermissionDenied, "device phone refused: denied", false},
		{&SessionError{Kind: "reshare", Reason: "x", Culprits: []string{"evil"}}, codes.Aborted, "reshare session failed: x; blamed: evil", false},
		{failedPrecondition("device %q is revoked", "laptop"), codes.FailedPrecondition, `device "laptop" is revoked`, false},
		{fmt.Errorf("load: %w", ErrKeyNotFound), codes.NotFound, "unknown key", false},
		{errors.New("badger: value log /secret/path corrupt"), codes.Internal, "internal error (see the coordinator's log)", true},
	} {
		st, internal := publicStatus(tc.err)
		if st.Code() != tc.code || st.Message() != tc.text || internal != tc.internal || errorText(tc.err) != tc.text {
			t.Errorf("%v: got %v %q internal=%v", tc.err, st.Code(), st.Message(), internal)
		}
		if strings.Contains(errorText(tc.err), "/secret/path") {
			t.Errorf("internal detail leaked: %q", errorText(tc.err))
		}
	}
}
