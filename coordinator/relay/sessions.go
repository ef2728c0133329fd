package relay

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/internal/envelope"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// joinTimeout bounds the wait for every member's join.
// It covers a device asking its person (party.promptTimeout is 30 s).
const joinTimeout = 40 * time.Second

// vagueFailureGrace is how long a failure that blames nobody waits for a
// member's failure that names the culprit.
const vagueFailureGrace = time.Second

// maxPayload caps one relayed protocol message. The largest tss-lib messages
// (keygen round 1 with its proofs) are well under this.
const maxPayload = 1 << 20

// Sessions tracks running sessions.
type Sessions struct {
	log    *slog.Logger
	links  *Links
	store  registry.Store
	now    func() time.Time
	mu     sync.Mutex
	byRef  map[string]*session
	bySID  map[string]*session
	idleCh chan struct{}
	relay  RelayFunc
	// metrics records sessions (noMetrics when Config.Metrics is nil).
	metrics Metrics
	// crash is Config.Crash (test-only crash points).
	crash func(CrashPoint)
}

// Config is what Sessions run on.
type Config struct {
	Log *slog.Logger
	// Links are the connected devices a session's members are reached on.
	Links *Links
	// Store records each session's end (PutSession).
	Store registry.Store
	Now   func() time.Time
	// Relay, when set, stands between the relay and each recipient of a
	// protocol message (fault-injection tests only).
	Relay RelayFunc
	// Metrics, when set, records sessions, rounds, aborts and blame.
	Metrics Metrics
	// Crash, when set, is called at each round boundary (RoundCrashPoint);
	// crash tests kill the process there. The product leaves it nil.
	Crash func(CrashPoint)
}

// Result is what Run returns: the session's log id (the first 8 bytes of
// its ref, in hex: the "session" of every log line about it), set as soon
// as the session exists, failed or not, and each member's result by device
// id when it succeeded.
type Result struct {
	ID      string
	Results map[string]*mpcv1.SessionResult
}

// RelayFunc lets tests stand between the coordinator and a recipient: it
// calls deliver for each message the recipient should get instead of m, now
// or later (never, to drop it). It exists for fault-injection tests; the
// product leaves it nil.
type RelayFunc func(to string, m *mpcv1.SessionMessage, deliver func(*mpcv1.SessionMessage))

// NewSessions is a relay with no session running.
func NewSessions(c Config) *Sessions {
	m := &Sessions{log: c.Log, links: c.Links, store: c.Store, now: c.Now, relay: c.Relay, metrics: c.Metrics, crash: c.Crash,
		byRef: map[string]*session{}, bySID: map[string]*session{}}
	if m.metrics == nil {
		m.metrics = noMetrics{}
	}
	return m
}

// setIdleLocked keeps idleCh closed exactly while no session runs.
func (m *Sessions) setIdleLocked() {
	if m.idleCh == nil {
		m.idleCh = make(chan struct{})
		close(m.idleCh)
	}
	select {
	case <-m.idleCh:
		if len(m.byRef) > 0 {
			m.idleCh = make(chan struct{})
		}
	default:
		if len(m.byRef) == 0 {
			close(m.idleCh)
		}
	}
}

// Idle returns a channel that is closed while no session runs.
func (m *Sessions) Idle() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setIdleLocked()
	return m.idleCh
}

func (m *Sessions) Running() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byRef)
}

func (m *Sessions) sessionsOf(deviceID string) []*session {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*session
	for _, s := range m.byRef {
		if _, ok := s.members[deviceID]; ok {
			out = append(out, s)
		}
	}
	return out
}

// post hands a party's event to its session without blocking the link and
// without a goroutine per event. The buffer holds every event an honest
// session produces; a member that sends more loses the extra ones.
func (s *session) post(ev partyEvent) {
	select {
	case s.events <- ev:
	case <-s.done:
	default:
	}
}

// FromParty handles a session-related message from an authenticated device.
func (m *Sessions) FromParty(l *Link, req *mpcv1.ConnectRequest) {
	switch msg := req.GetMsg().(type) {
	case *mpcv1.ConnectRequest_Reply:
		if s := m.member(m.byRef, msg.Reply.GetRef(), l.deviceID); s != nil {
			s.post(partyEvent{from: l.deviceID, reply: msg.Reply})
		}
	case *mpcv1.ConnectRequest_Result:
		if s := m.member(m.byRef, msg.Result.GetRef(), l.deviceID); s != nil {
			s.post(partyEvent{from: l.deviceID, result: msg.Result})
		}
	case *mpcv1.ConnectRequest_Failure:
		if s := m.member(m.byRef, msg.Failure.GetRef(), l.deviceID); s != nil {
			// What was relayed up to now is all the reporter can have seen.
			s.post(partyEvent{from: l.deviceID, failure: msg.Failure, seen: s.relayedCount()})
		}
	case *mpcv1.ConnectRequest_Message:
		m.route(l, msg.Message)
	}
}

func (m *Sessions) member(index map[string]*session, id []byte, deviceID string) *session {
	m.mu.Lock()
	s := index[string(id)]
	m.mu.Unlock()
	if s == nil {
		return nil
	}
	if _, ok := s.members[deviceID]; !ok {
		return nil
	}
	return s
}

// route forwards an envelope. Its sender must be the authenticated stream and
// its recipients members; the envelope itself is passed on untouched (it is
// signed, and its point-to-point payload is encrypted to the recipient).
func (m *Sessions) route(l *Link, msg *mpcv1.SessionMessage) {
	s := m.member(m.bySID, msg.GetSessionId(), l.deviceID)
	if s == nil {
		m.log.Debug("dropped message for unknown session", "device", l.name)
		return
	}
	blame := func(reason string) {
		s.post(partyEvent{from: l.deviceID, failure: &mpcv1.SessionFailure{Reason: reason, Culprits: []string{l.deviceID}}})
	}
	switch {
	case msg.GetFrom() != l.deviceID:
		blame("sent a message in another device's name")
		return
	case len(msg.GetPayload()) > maxPayload:
		blame("oversized protocol message")
		return
	case msg.GetBroadcast() != (msg.GetTo() == ""):
		blame("sent an envelope addressed both to everyone and to one member")
		return
	case !s.countMessage(l.deviceID):
		blame("sent more protocol messages than the protocol needs")
		return
	case !bytes.Equal(msg.GetSessionId(), s.sid) || !envelope.VerifySigned(s.members[l.deviceID].IdentityPublicKey, envelope.FromProto(msg)):
		// Checked here, where the sender is known for sure: a party that
		// later sees a bad signature knows the relay, not the peer, is at fault.
		blame("sent an envelope that does not verify")
		return
	}
	if compromisedWithholdEcho() && msg.GetType() == envelope.EchoType {
		return // test-only attacker (compromised_on.go)
	}
	m.atRound(s, msg) // test-only crash points (crashpoints.go)
	s.roundSeen(m.metrics, l.deviceID, msg.GetRound())
	s.keep(msg)
	var to []string
	if msg.GetBroadcast() {
		for id := range s.members {
			if id != l.deviceID {
				to = append(to, id)
			}
		}
	} else {
		if _, ok := s.members[msg.GetTo()]; !ok || msg.GetTo() == l.deviceID {
			blame("message addressed to a non-participant")
			return
		}
		to = []string{msg.GetTo()}
	}
	for _, id := range to {
		deliver := func(o *mpcv1.SessionMessage) {
			peer := m.links.Get(id)
			if peer == nil || !peer.Send(&mpcv1.ConnectResponse{Msg: &mpcv1.ConnectResponse_Message{Message: o}}) {
				s.post(partyEvent{from: id, down: unavailable("device went offline")})
			}
		}
		if m.relay != nil {
			m.relay(id, msg, deliver)
		} else {
			deliver(msg)
		}
	}
}

// LinkDown tells every session of a device that its stream ended.
func (m *Sessions) LinkDown(deviceID string) {
	for _, s := range m.sessionsOf(deviceID) {
		s.post(partyEvent{from: deviceID, down: unavailable("device disconnected")})
	}
}

// Run starts a session with the given members and waits until every member
// reported a result, one failed, or ctx ends. It returns the session's log id
// and the results by device id.
// key is the key a signature or reshare uses (nil for a keygen): its
// PartyKeyIdentity names, for devices holding a share restored from another
// device's backup, the identity their current party key derives from; the
// rest serves to judge complaints (evidence.go).
func (m *Sessions) Run(ctx context.Context, start *mpcv1.SessionStart, members []registry.Device, key *registry.Key) (Result, error) {
	ref := make([]byte, 32)
	if _, err := rand.Read(ref); err != nil {
		return Result{}, err
	}
	out := Result{ID: hex.EncodeToString(ref[:8])}
	var err error
	out.Results, err = m.runRef(ctx, ref, start, members, key)
	return out, err
}

// nameList turns device ids reported by a party into names, keeping only
// members: a party cannot blame an outsider.
func (m *Sessions) nameList(s *session, ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if d, ok := s.members[id]; ok && !seen[id] {
			seen[id] = true
			out = append(out, d.Name)
		}
	}
	sort.Strings(out)
	return out
}

// KindName is a session kind's name in logs, records and metrics.
func KindName(k mpcv1.SessionKind) string {
	switch k {
	case mpcv1.SessionKind_SESSION_KIND_KEYGEN:
		return "keygen"
	case mpcv1.SessionKind_SESSION_KIND_SIGN:
		return "sign"
	case mpcv1.SessionKind_SESSION_KIND_RESHARE:
		return "reshare"
	}
	return "unknown"
}

func names(ds []registry.Device) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Name
	}
	return out
}

// Clip bounds a reason string a party sent before it is logged or returned.
func Clip(s string) string {
	const max = 200
	if len(s) > max {
		s = s[:max] + "..."
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
