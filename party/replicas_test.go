package party

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mpcsign/mpcsign/internal/replicas"
)

func standbyErr(active string) error {
	return replicas.WithActiveAddress(status.New(codes.Unavailable, "standby"), active).Err()
}

// TestReplicaDialerFailover follows a device through a failover: its link
// to the active replica a dies; the standby b names a (whose lease has not
// expired yet) until it takes over itself. The device alternates between
// them without backing off and never follows b back to the dead a.
func TestReplicaDialerFailover(t *testing.T) {
	const list = "a:1,b:1"
	var d replicaDialer
	refused := errors.New("connection refused")
	steps := []struct {
		dial      string
		connected bool
		err       error
		soon      bool
	}{
		{"a:1", true, errors.New("EOF"), true},  // the active replica dies
		{"b:1", false, standbyErr("a:1"), true}, // b names the dead a: not followed
		{"a:1", false, refused, true},
		{"b:1", false, standbyErr(""), true}, // a's lease expired; b takes it soon
		{"a:1", false, refused, true},
		{"b:1", true, errors.New("EOF"), true}, // b served, then ended
		{"a:1", false, refused, false},         // both failed since b's link: back off
		{"b:1", false, refused, false},
		{"a:1", false, standbyErr("c:1"), true}, // a standby names c, not in the list
		{"c:1", false, refused, true},           // the detour failed: the list resumes
		{"a:1", false, standbyErr("c:1"), true}, // c again, which just failed: not followed
		{"b:1", false, refused, true},
	}
	for i, s := range steps {
		if got := d.pick(list); got != s.dial {
			t.Fatalf("step %d: dialled %s, want %s", i, got, s.dial)
		}
		if soon := d.ended(list, s.connected, s.err); soon != s.soon {
			t.Fatalf("step %d (%s: %v): soon %v, want %v", i, s.dial, s.err, soon, s.soon)
		}
	}
}

// TestReplicaDialerOneAddress: a device paired before replicas keeps
// dialling its one address, and follows a standby's pointer to the active
// replica.
func TestReplicaDialerOneAddress(t *testing.T) {
	var d replicaDialer
	if got := d.pick("a:1"); got != "a:1" {
		t.Fatalf("dialled %s", got)
	}
	if !d.ended("a:1", false, standbyErr("b:1")) {
		t.Fatal("a standby's answer did not make the device dial again at once")
	}
	if got := d.pick("a:1"); got != "b:1" {
		t.Fatalf("after a standby named b, dialled %s", got)
	}
	if d.ended("a:1", false, errors.New("refused")) {
		t.Fatal("with its one address refused, the device did not back off")
	}
	if got := d.pick("a:1"); got != "a:1" {
		t.Fatalf("after the detour, dialled %s", got)
	}
}
