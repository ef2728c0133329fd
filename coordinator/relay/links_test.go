package relay

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// A link's close reasons reach the device as the coordinator's clientError
// did: code Unavailable, the bare message as text.
func TestLinkCloseReasons(t *testing.T) {
	check := func(what string, err error, msg string) {
		t.Helper()
		st, ok := status.FromError(err)
		if !ok || st.Code() != codes.Unavailable || st.Message() != msg || err.Error() != msg {
			t.Fatalf("%s: %v (status %v, %v), want Unavailable %q", what, err, st, ok, msg)
		}
	}
	r := NewLinks()
	d := registry.Device{ID: "id-a", Name: "a"}
	old, l := NewLink(d), NewLink(d)
	r.Add(old)
	changed := r.Wait()
	r.Add(l)
	<-changed
	<-old.Closed()
	check("replaced", old.Reason(), "replaced by a newer connection of the same device")
	if r.Get("id-a") != l || r.Count() != 1 || r.Remove(old) || l.Reason() != nil {
		t.Fatal("the newer link is not the device's")
	}
	for range linkQueue {
		if !l.Send(&mpcv1.ConnectResponse{}) {
			t.Fatal("a link with room refused a message")
		}
	}
	if l.Send(&mpcv1.ConnectResponse{}) {
		t.Fatal("a full link took a message")
	}
	check("full", l.Reason(), "device a is not reading its messages")
	if !r.Remove(l) || r.Get("id-a") != nil || r.Count() != 0 {
		t.Fatal("the link was not removed")
	}
}
