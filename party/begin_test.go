package party

import (
	"bytes"
	"testing"

	"github.com/mpcsign/mpcsign/internal/envelope"
	"github.com/mpcsign/mpcsign/internal/identity"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// TestBeginOnlyAfterTheJoin: the coordinator's SessionBegin is taken only
// once this device has joined (before, the device is still setting the
// session's parameters, and the begin cannot hold its join), and only
// once: a second begin with other joins registers no second session id.
func TestBeginOnlyAfterTheJoin(t *testing.T) {
	a, _ := newTestAgent(t, t.TempDir())
	l := fakeLink(t, a)
	st := keygenStart(t, a)
	s := newSession(st, a.cfg.DeviceID, a.log, l.send, sessionDeps{identity: a.id})
	rs := &runningSession{s: s}
	l.sessions[string(st.GetRef())] = rs

	other, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	begin := func(nonce byte) *mpcv1.ConnectResponse {
		j := &mpcv1.SessionJoin{DeviceId: identity.DeviceID(other.PublicKey()), Contribution: bytes.Repeat([]byte{nonce}, 32)}
		return &mpcv1.ConnectResponse{Msg: &mpcv1.ConnectResponse_Begin{Begin: &mpcv1.SessionBegin{Ref: st.GetRef(), Joins: []*mpcv1.SessionJoin{j}}}}
	}
	registered := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.bySID)
	}

	l.handle(begin(1))
	if n := registered(); n != 0 {
		t.Fatalf("a begin before the device joined registered %d session ids", n)
	}
	if len(s.begin) != 0 {
		t.Fatal("a begin before the device joined reached the session")
	}

	// The device joins (as accept does once its checks pass).
	if err := s.prepare(); err != nil {
		t.Fatal(err)
	}
	close(s.joined)
	l.handle(begin(2))
	if n := registered(); n != 1 || len(s.begin) != 1 {
		t.Fatalf("the begin after the join: %d session ids, %d begins queued; want 1 and 1", n, len(s.begin))
	}
	want := envelope.ID(s.params, []envelope.Join{envelope.JoinFromProto(begin(2).GetBegin().GetJoins()[0])})
	l.mu.Lock()
	_, ok := l.bySID[string(want)]
	l.mu.Unlock()
	if !ok {
		t.Fatal("the session id registered is not the one of the begin's joins")
	}

	<-s.begin // the session takes it
	l.handle(begin(3))
	if n := registered(); n != 1 || len(s.begin) != 0 {
		t.Fatalf("a second begin: %d session ids, %d begins queued; want 1 and 0", n, len(s.begin))
	}
}
