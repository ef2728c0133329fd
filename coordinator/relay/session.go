package relay

import (
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/internal/envelope"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// session is the coordinator's view of one protocol run: who takes part, and
// what each participant reported. It routes envelopes between participants
// and cannot read or forge them.
type session struct {
	ref     []byte
	sid     []byte // agreed session id, set once every participant joined
	kind    mpcv1.SessionKind
	members map[string]registry.Device // by device id
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
	key              *registry.Key // the key signed with or reshared (nil: keygen)
	path             string        // a signature's derivation path
	message          []byte        // an Ed25519 signature's message
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
func (s *session) roundSeen(mx Metrics, from string, round uint32) {
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
func (s *session) lastRoundDone(mx Metrics) {
	s.mu.Lock()
	round, start, done := s.round, s.roundStart, s.roundsDone
	s.roundsDone = true
	s.mu.Unlock()
	if round != 0 && !done {
		s.roundDone(mx, round, time.Since(start))
	}
}

func (s *session) roundDone(mx Metrics, round uint32, took time.Duration) {
	mx.RoundEnded(KindName(s.kind), round, took)
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
