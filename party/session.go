package party

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sort"
	"time"

	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/mpcsign/mpcsign/internal/envelope"
	"github.com/mpcsign/mpcsign/internal/guard"
	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/partyid"
	"github.com/mpcsign/mpcsign/internal/preparams"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// timeoutReason starts the reason of a failure because the session's
// deadline passed (the coordinator's partyTimeoutReason matches it).
const timeoutReason = "session deadline passed"

// inboxSize bounds the messages queued for one session; a session whose
// inbox overflows aborts instead of growing without bound.
const inboxSize = 512

// Failure is a session that ended without a result. Culprits are device ids.
type Failure struct {
	Reason   string
	Culprits []string
	// unchecked: the blame does not come from a check of the culprits'
	// protocol messages (a join, an echo), so no evidence backs it.
	unchecked bool
}

func (f *Failure) Error() string { return "party: session failed: " + f.Reason }

func blamed(err error) *Failure {
	var b *envelope.Blame
	if errors.As(err, &b) {
		return &Failure{Reason: b.Reason, Culprits: []string{b.Device}}
	}
	var v *guard.Violation
	if errors.As(err, &v) {
		return &Failure{Reason: "rejected protocol message: " + v.Error()}
	}
	return &Failure{Reason: err.Error()}
}

// sessionDeps is what a session needs from the agent.
type sessionDeps struct {
	identity *identity.Identity
	shares   interface {
		load(keyID string, epoch uint64) (*Share, error)
		// loadPending loads a new holder's pending share of a reshare that
		// is not committed yet (for its test signature only).
		loadPending(keyID string, epoch uint64) (*Share, error)
		has(keyID string, epoch uint64) (bool, error)
		save(rec shareRecord) error
		// dropPending deletes the pending record of keyID at epoch, if any.
		dropPending(keyID string, epoch uint64) error
	}
	pool interface {
		Take(ctx context.Context) (*preparams.Set, error)
		// Return puts back a set no message was sent from.
		Return(s *preparams.Set) error
	}
	tamper *tamperFunc // nil except in malicious-party tests
	replay *replayLog
}

// session runs one protocol instance. It is a small state machine: envelopes
// come in through deliver, outgoing envelopes and the result leave through
// send; the network and the keystore are outside it.
type session struct {
	ref   []byte
	start *mpcv1.SessionStart
	self  string
	log   *slog.Logger
	send  func(*mpcv1.ConnectRequest)
	inbox chan *mpcv1.SessionMessage
	begin chan *mpcv1.SessionBegin
	// joined is closed once this device has sent its join (params and join
	// are set): a begin that comes before cannot hold this device's join.
	joined chan struct{}
	deps   sessionDeps

	// set by prepare
	params     envelope.Params
	members    []string // device ids of every participant, sorted
	committees map[role]committee
	share      *Share   // the share used: signing, or the old role of a reshare
	path       []uint32 // a secp256k1 signature's BIP32 derivation path, if any
	join       envelope.Join
	eph        *envelope.Ephemeral
	// agreed is the session once every join was checked (set by execute).
	agreed *envelope.Session
	// seen are the fingerprints of the protocol content received (replay.go).
	seen []string
	// echoed: this device sent its echo, so the others may complete the
	// session and keep their shares; it never reveals its key after that.
	echoed bool
}

// role is which tss-lib party of a device a message is from or for. Keygen
// and signing run one party per device; a reshare runs one per committee the
// device is in (v2.0.2's resharing needs distinct party ids for them).
type role int

const (
	roleMain role = iota
	roleOld
	roleNew
)

func (r role) String() string {
	switch r {
	case roleOld:
		return "old committee"
	case roleNew:
		return "new committee"
	}
	return "main"
}

// committee is one set of tss-lib parties, each a device at a share epoch.
type committee struct {
	sorted   tss.SortedPartyIDs
	byDevice map[string]*tss.PartyID
}

func newCommittee(ids []string, pubs map[string][]byte, epoch uint64) committee {
	var unsorted tss.UnSortedPartyIDs
	for _, id := range ids {
		unsorted = append(unsorted, partyid.New(id, pubs[id], epoch))
	}
	c := committee{sorted: tss.SortPartyIDs(unsorted), byDevice: map[string]*tss.PartyID{}}
	for _, p := range c.sorted {
		c.byDevice[p.Id] = p
	}
	return c
}

// isEd25519 reports whether the session is for an Ed25519 key.
func (s *session) isEd25519() bool { return s.start.GetCurve() == mpcv1.Curve_CURVE_ED25519 }

// checkCurve refuses a share of another curve than the session's.
func (s *session) checkCurve(share *Share) error {
	if share.isEd25519() != s.isEd25519() {
		return fmt.Errorf("key %s is not a %s key", share.Meta.KeyID, curveName(s.start.GetCurve()))
	}
	return nil
}

func curveName(c mpcv1.Curve) string {
	if c == mpcv1.Curve_CURVE_ED25519 {
		return "Ed25519"
	}
	return "secp256k1"
}

func newSession(start *mpcv1.SessionStart, self string, log *slog.Logger, send func(*mpcv1.ConnectRequest), deps sessionDeps) *session {
	return &session{
		ref:    start.GetRef(),
		start:  start,
		self:   self,
		log:    log.With("kind", kindName(start.GetKind())),
		send:   send,
		inbox:  make(chan *mpcv1.SessionMessage, inboxSize),
		begin:  make(chan *mpcv1.SessionBegin, 1),
		joined: make(chan struct{}),
		deps:   deps,
	}
}

// deliver queues an incoming message; false when the inbox is full.
func (s *session) deliver(m *mpcv1.SessionMessage) bool {
	select {
	case s.inbox <- m:
		return true
	default:
		return false
	}
}

// prepare checks the request before this device agrees to take part, and
// makes its join.
func (s *session) prepare() error {
	ps := s.start.GetParticipants()
	if len(ps) < 2 || len(ps) > 64 {
		return errors.New("participant count out of range")
	}
	pubs := map[string][]byte{}
	// keyPubs: what each participant's party key of the current epoch
	// derives from (another device's identity for a restored share).
	keyPubs := map[string][]byte{}
	for _, p := range ps {
		if len(p.GetIdentityPublicKey()) != 32 || identity.DeviceID(p.GetIdentityPublicKey()) != p.GetDeviceId() {
			return fmt.Errorf("participant %q: identity key does not match device id", p.GetDeviceId())
		}
		if pubs[p.GetDeviceId()] != nil {
			return fmt.Errorf("participant %q listed twice", p.GetDeviceId())
		}
		pubs[p.GetDeviceId()] = p.GetIdentityPublicKey()
		keyPubs[p.GetDeviceId()] = p.GetIdentityPublicKey()
		if k := p.GetPartyKeyIdentity(); len(k) > 0 {
			if len(k) != 32 {
				return fmt.Errorf("participant %q: party key identity is not 32 bytes", p.GetDeviceId())
			}
			keyPubs[p.GetDeviceId()] = k
		}
		s.members = append(s.members, p.GetDeviceId())
	}
	sort.Strings(s.members)
	if pubs[s.self] == nil {
		return errors.New("this device is not a participant")
	}
	s.committees = map[role]committee{}
	t := int(s.start.GetThreshold())
	switch s.start.GetCurve() {
	case mpcv1.Curve_CURVE_SECP256K1, mpcv1.Curve_CURVE_ED25519:
	default:
		return errors.New("unknown curve")
	}
	if s.start.GetKind() != mpcv1.SessionKind_SESSION_KIND_SIGN && (len(s.start.GetMessage()) > 0 || s.start.GetDerivationPath() != "") {
		return errors.New("only a signature takes a message or a derivation path")
	}
	if s.start.GetKind() != mpcv1.SessionKind_SESSION_KIND_RESHARE && len(s.start.GetChainCode()) > 0 {
		return errors.New("only a reshare carries a chain code")
	}
	switch s.start.GetKind() {
	case mpcv1.SessionKind_SESSION_KIND_KEYGEN:
		if t < 1 || t >= len(s.members) {
			return errors.New("threshold does not fit the participant count")
		}
		if s.start.GetEpoch() != 0 {
			return errors.New("keygen makes epoch 0")
		}
		s.committees[roleMain] = newCommittee(s.members, pubs, 0)
	case mpcv1.SessionKind_SESSION_KIND_SIGN:
		if err := s.prepareSign(t, keyPubs); err != nil {
			return err
		}
	case mpcv1.SessionKind_SESSION_KIND_RESHARE:
		if err := s.prepareReshare(pubs, keyPubs); err != nil {
			return err
		}
	default:
		return errors.New("unknown session kind")
	}
	s.params = envelope.StartParams(s.start)
	var err error
	s.join, s.eph, err = envelope.NewJoin(s.deps.identity, s.self, s.params)
	return err
}

// run drives the session to its end and reports the result or failure to the
// coordinator.
func (s *session) run(ctx context.Context) {
	began := time.Now()
	s.log.Info("session accepted", "key", s.start.GetKeyId(), "members", len(s.start.GetParticipants()))
	res, err := s.execute(ctx)
	defer func() {
		if err := s.deps.replay.store(s.seen, time.Now()); err != nil {
			s.log.Warn("could not store the fingerprints of received protocol content", "err", err)
		}
	}()
	if err != nil {
		var f *Failure
		if !errors.As(err, &f) {
			f = &Failure{Reason: err.Error()}
		}
		// tss-lib can name this device's own parties when another member
		// lied to it; a device never blames itself.
		f.Culprits = slices.DeleteFunc(f.Culprits, func(c string) bool { return c == s.self })
		s.log.Warn("session failed", "reason", f.Reason, "culprits", f.Culprits, "took", time.Since(began).Round(time.Millisecond))
		failure := &mpcv1.SessionFailure{Ref: s.ref, Reason: f.Reason, Culprits: f.Culprits}
		if !f.unchecked {
			s.backAccusation(failure)
		}
		s.send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Failure{Failure: failure}})
		return
	}
	res.Ref = s.ref
	s.log.Info("session finished", "took", time.Since(began).Round(time.Millisecond))
	s.send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Result{Result: res}})
}

// execute never panics: a panic inside tss-lib on this goroutine becomes a failure.
func (s *session) execute(ctx context.Context) (res *mpcv1.SessionResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("recovered from panic in protocol", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = &Failure{Reason: "internal error in the protocol library"}
		}
	}()
	var es *envelope.Session
	select {
	case <-ctx.Done():
		var stopped *errStopped
		if errors.As(context.Cause(ctx), &stopped) {
			return nil, &Failure{Reason: stopped.reason}
		}
		return nil, &Failure{Reason: timeoutReason + " before every device joined"}
	case b := <-s.begin:
		var joins []envelope.Join
		for _, j := range b.GetJoins() {
			joins = append(joins, envelope.JoinFromProto(j))
		}
		es, err = envelope.Agree(s.params, s.join, s.eph, joins)
		if err != nil {
			f := blamed(err)
			f.unchecked = true
			return nil, f
		}
		s.agreed = es
	}
	r := &runner{s: s, es: es, tracker: envelope.NewTracker(), echoes: map[string][]byte{}}
	res, err = r.run(ctx, s.protocol())
	if err != nil && r.taken != nil && !r.sent {
		// Nothing derived from the set left this device: it goes back to
		// the pool rather than costing minutes of safe-prime generation.
		if rerr := s.deps.pool.Return(r.taken); rerr != nil {
			s.log.Warn("could not return an unused pre-parameter set to the pool", "err", rerr)
		} else {
			s.log.Info("returned the unused pre-parameter set to the pool (the session ended before this device sent anything)")
		}
	}
	return res, err
}
