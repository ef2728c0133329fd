package coordinator

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

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

// session is the coordinator's view of one protocol run: who takes part, and
// what each participant reported. It routes envelopes between participants
// and cannot read or forge them.
type session struct {
	ref     []byte
	sid     []byte // agreed session id, set once every participant joined
	kind    mpcv1.SessionKind
	members map[string]Device // by device id
	keyID   string
	started time.Time
	events  chan partyEvent
	done    chan struct{}
	once    sync.Once

	// log carries the session's id and kind.
	log *slog.Logger

	// What judging a complaint needs (evidence.go): the session's
	// parameters, the members' signed joins, and every envelope relayed.
	ed25519          bool
	threshold        int
	epoch            uint64
	partyKeyIdentity map[string][]byte
	key              *Key   // the key signed with or reshared (nil: keygen)
	path             string // a signature's derivation path
	message          []byte // an Ed25519 signature's message
	joins            []envelope.Join
	relayed          []*mpcv1.SessionMessage // under mu
	relayedBytes     int                     // under mu
	dropped          bool                    // under mu: relayed is not the whole transcript
	judged           map[string]bool         // reporters whose complaint was judged (session loop only)

	mu   sync.Mutex
	sent map[string]int // protocol messages relayed per sender
	// sentRound is the highest protocol round each member has sent a
	// message of: the coordinator's own view of who is behind (laggards).
	sentRound map[string]uint32
	// round is the highest protocol round relayed so far and roundStart
	// when its first envelope arrived (mpc_session_round_seconds);
	// roundsDone is set once the last round was recorded.
	round      uint32
	roundStart time.Time
	roundsDone bool
}

// partyTimeoutReason starts the failure a party reports when the session's
// deadline passed while it waited for other members (party/session.go).
const partyTimeoutReason = "session deadline passed"

// maxMessagesPerMember bounds what one member may send in a session: far
// above what keygen or signing needs, far below a flood.
func maxMessagesPerMember(n int) int { return 64 + 16*n }

func (s *session) countMessage(from string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent == nil {
		s.sent = map[string]int{}
	}
	s.sent[from]++
	return s.sent[from] <= maxMessagesPerMember(len(s.members))
}

// roundSeen notes a relayed envelope's round. The first envelope of a
// higher round ends the round before it: its duration is observed and
// logged at Debug, once per round. Echoes (round 0) are not a round.
func (s *session) roundSeen(mx *metrics, from string, round uint32) {
	if round == 0 {
		return
	}
	now := time.Now()
	s.mu.Lock()
	s.creditRound(from, round)
	prev, prevStart := s.round, s.roundStart
	advanced := round > s.round && !s.roundsDone
	if advanced {
		s.round, s.roundStart = round, now
	}
	s.mu.Unlock()
	if advanced && prev != 0 {
		s.roundDone(mx, prev, now.Sub(prevStart))
	}
}

// creditRound notes that from sent a message of round, as far as the
// protocol allows: in keygen and signing every member sends in every round
// and starts a round only once it has every member's previous one, so no
// member is credited more than one round past the member least far along
// (itself included). A member that skips ahead to make the others look
// behind gains nothing. s.mu is held.
func (s *session) creditRound(from string, round uint32) {
	if s.sentRound == nil {
		s.sentRound = map[string]uint32{}
	}
	least := round
	for id := range s.members {
		least = min(least, s.sentRound[id])
	}
	s.sentRound[from] = max(s.sentRound[from], min(round, least+1))
}

// laggards are the members the coordinator has relayed fewer protocol
// rounds from than from the member furthest along: when a session stalls,
// they are the ones the others wait for. It is nil while no member has
// sent anything, or when every member is at the same round. Only keygen
// and signing qualify, where every member sends in every round; in a
// reshare the old and the new committee send in different rounds.
func (s *session) laggards() []string {
	if s.kind == mpcv1.SessionKind_SESSION_KIND_RESHARE {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var top uint32
	for _, r := range s.sentRound {
		top = max(top, r)
	}
	if top == 0 {
		return nil
	}
	var out []string
	for id := range s.members {
		if s.sentRound[id] < top {
			out = append(out, id)
		}
	}
	return out
}

// timeoutCulprits checks whom a party blamed for a session that ran out of
// time (tss-lib's WaitingFor) against what the coordinator relayed: a
// member that is as far along as anyone is not what the session waited
// for. It only narrows the party's list to the laggards it names; when it
// names none (or nobody is behind) the list stays as the party gave it,
// since a member can withhold a point-to-point message and still look
// ahead to the coordinator.
func (s *session) timeoutCulprits(named []string) []string {
	lag := s.laggards()
	var both []string
	for _, id := range named {
		if slices.Contains(lag, id) {
			both = append(both, id)
		}
	}
	if len(both) == 0 {
		return named
	}
	return both
}

// lastRoundDone ends the last round when the session succeeded.
func (s *session) lastRoundDone(mx *metrics) {
	s.mu.Lock()
	round, start, done := s.round, s.roundStart, s.roundsDone
	s.roundsDone = true
	s.mu.Unlock()
	if round != 0 && !done {
		s.roundDone(mx, round, time.Since(start))
	}
}

func (s *session) roundDone(mx *metrics, round uint32, took time.Duration) {
	mx.roundEnded(kindName(s.kind), round, took)
	s.log.Debug("round done", "round", round, "took", took.Round(time.Millisecond))
}

type partyEvent struct {
	// seen: for a member's failure, how many envelopes were relayed when
	// it arrived (the judge looks at those only).
	seen    int
	from    string
	reply   *mpcv1.SessionReply
	result  *mpcv1.SessionResult
	failure *mpcv1.SessionFailure
	down    error
}

func (s *session) finish() { s.once.Do(func() { close(s.done) }) }

// sessions tracks running sessions.
type sessions struct {
	log    *slog.Logger
	links  *links
	store  Store
	now    func() time.Time
	mu     sync.Mutex
	byRef  map[string]*session
	bySID  map[string]*session
	idleCh chan struct{}
	relay  RelayFunc
	// metrics is set by New after newSessions; nil records nothing.
	metrics *metrics
	// crash is Options.CrashAt, set by New (test-only crash points).
	crash func(CrashPoint)
}

// runResult is what run returns: the session's log id (the first 8 bytes of its
// ref, in hex: the "session" of every log line about it), set as soon as the
// session exists, failed or not, and each member's result when it succeeded.
type runResult struct {
	id      string
	results map[string]*mpcv1.SessionResult
}

// RelayFunc lets tests stand between the coordinator and a recipient: it
// calls deliver for each message the recipient should get instead of m, now
// or later (never, to drop it). It exists for fault-injection tests; the
// product leaves it nil.
type RelayFunc func(to string, m *mpcv1.SessionMessage, deliver func(*mpcv1.SessionMessage))

func newSessions(log *slog.Logger, l *links, st Store, now func() time.Time, relay RelayFunc) *sessions {
	return &sessions{log: log, links: l, store: st, now: now, relay: relay, byRef: map[string]*session{}, bySID: map[string]*session{}}
}

// setIdleLocked keeps idleCh closed exactly while no session runs.
func (m *sessions) setIdleLocked() {
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

// idle returns a channel that is closed while no session runs.
func (m *sessions) idle() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setIdleLocked()
	return m.idleCh
}

func (m *sessions) running() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byRef)
}

func (m *sessions) sessionsOf(deviceID string) []*session {
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

// fromParty handles a session-related message from an authenticated device.
func (m *sessions) fromParty(l *link, req *mpcv1.ConnectRequest) {
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

func (m *sessions) member(index map[string]*session, id []byte, deviceID string) *session {
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
func (m *sessions) route(l *link, msg *mpcv1.SessionMessage) {
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
			peer := m.links.get(id)
			if peer == nil || !peer.send(&mpcv1.ConnectResponse{Msg: &mpcv1.ConnectResponse_Message{Message: o}}) {
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

// linkDown tells every session of a device that its stream ended.
func (m *sessions) linkDown(deviceID string) {
	for _, s := range m.sessionsOf(deviceID) {
		s.post(partyEvent{from: deviceID, down: unavailable("device disconnected")})
	}
}

// run starts a session with the given members and waits until every member
// reported a result, one failed, or ctx ends. It returns the session's log id
// and the results by device id.
// key is the key a signature or reshare uses (nil for a keygen): its
// PartyKeyIdentity names, for devices holding a share restored from another
// device's backup, the identity their current party key derives from; the
// rest serves to judge complaints (evidence.go).
func (m *sessions) run(ctx context.Context, start *mpcv1.SessionStart, members []Device, key *Key) (runResult, error) {
	ref := make([]byte, 32)
	if _, err := rand.Read(ref); err != nil {
		return runResult{}, err
	}
	out := runResult{id: hex.EncodeToString(ref[:8])}
	var err error
	out.results, err = m.runRef(ctx, ref, start, members, key)
	return out, err
}

// nameList turns device ids reported by a party into names, keeping only
// members: a party cannot blame an outsider.
func (m *sessions) nameList(s *session, ids []string) []string {
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

// sameResults checks that all results carry the same public key.
func samePublicKey(results map[string]*mpcv1.SessionResult) ([]byte, bool) {
	var pub []byte
	for _, r := range results {
		if pub == nil {
			pub = r.GetPublicKey()
		} else if !bytes.Equal(pub, r.GetPublicKey()) {
			return nil, false
		}
	}
	return pub, len(pub) > 0
}

func kindName(k mpcv1.SessionKind) string {
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

func names(ds []Device) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Name
	}
	return out
}

// clip bounds a reason string a party sent before it is logged or returned.
func clip(s string) string {
	const max = 200
	if len(s) > max {
		s = s[:max] + "..."
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
