package party

import (
	"errors"
	"strings"
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

// TestLearnedAddresses: what a coordinator announces is checked, and only
// ever added after the pairing code's addresses, which stay first.
func TestLearnedAddresses(t *testing.T) {
	for _, tc := range []struct {
		addrs []string
		ok    bool
	}{
		{[]string{"a.example:7400", "10.0.0.2:7400", "[::1]:7400"}, true},
		{[]string{"a.example"}, false},                               // no port
		{[]string{":7400"}, false},                                   // no host
		{[]string{"a:1,b:2"}, false},                                 // a separator inside
		{[]string{"a:1/x"}, false},                                   // a path
		{[]string{"a b:1"}, false},                                   // a space
		{[]string{strings.Repeat("h", 250) + ":7400", "b:1"}, false}, // too long in all
	} {
		if err := checkAddresses(tc.addrs); (err == nil) != tc.ok {
			t.Errorf("checkAddresses(%q): %v, want ok %v", tc.addrs, err, tc.ok)
		}
	}
	for _, tc := range []struct{ paired, learned, want string }{
		{"a:1", "", "a:1"},
		{"a:1", "b:1,a:1,c:1", "a:1,b:1,c:1"},
		{"a:1,b:1", "evil:1", "a:1,b:1,evil:1"}, // the paired ones stay, first
	} {
		if got := dialList(tc.paired, tc.learned); got != tc.want {
			t.Errorf("dialList(%q, %q) = %q, want %q", tc.paired, tc.learned, got, tc.want)
		}
	}
}
