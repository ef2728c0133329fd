package party

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"regexp"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	edkeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	edresharing "github.com/bnb-chain/tss-lib/v2/eddsa/resharing"
	edsigning "github.com/bnb-chain/tss-lib/v2/eddsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"google.golang.org/protobuf/proto"

	"github.com/mpcsign/mpcsign/internal/blame"
	"github.com/mpcsign/mpcsign/internal/envelope"
	"github.com/mpcsign/mpcsign/internal/guard"
	"github.com/mpcsign/mpcsign/internal/hd"
	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/preparams"
	"github.com/mpcsign/mpcsign/internal/sigfmt"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	keycommit "github.com/mpcsign/mpcsign/resharing"
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
	deps  sessionDeps

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
		unsorted = append(unsorted, identity.PartyID(id, pubs[id], epoch))
	}
	c := committee{sorted: tss.SortPartyIDs(unsorted), byDevice: map[string]*tss.PartyID{}}
	for _, p := range c.sorted {
		c.byDevice[p.Id] = p
	}
	return c
}

// reshareRoute is who sends a resharing message type and which committees
// receive it (from tss-lib v2.0.2's message constructors).
type reshareRoute struct {
	from role
	to   []role
}

var reshareRoutes = map[string]reshareRoute{
	string(proto.MessageName((*resharing.DGRound1Message)(nil))):  {roleOld, []role{roleNew}},
	string(proto.MessageName((*resharing.DGRound2Message1)(nil))): {roleNew, []role{roleNew}},
	string(proto.MessageName((*resharing.DGRound2Message2)(nil))): {roleNew, []role{roleOld}},
	string(proto.MessageName((*resharing.DGRound3Message1)(nil))): {roleOld, []role{roleNew}},
	string(proto.MessageName((*resharing.DGRound3Message2)(nil))): {roleOld, []role{roleNew}},
	string(proto.MessageName((*resharing.DGRound4Message1)(nil))): {roleNew, []role{roleNew}},
	string(proto.MessageName((*resharing.DGRound4Message2)(nil))): {roleNew, []role{roleOld, roleNew}},
	// EdDSA (tss-lib's eddsa/resharing)
	string(proto.MessageName((*edresharing.DGRound1Message)(nil))):  {roleOld, []role{roleNew}},
	string(proto.MessageName((*edresharing.DGRound2Message)(nil))):  {roleNew, []role{roleOld}},
	string(proto.MessageName((*edresharing.DGRound3Message1)(nil))): {roleOld, []role{roleNew}},
	string(proto.MessageName((*edresharing.DGRound3Message2)(nil))): {roleOld, []role{roleNew}},
	string(proto.MessageName((*edresharing.DGRound4Message)(nil))):  {roleNew, []role{roleOld, roleNew}},
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
		ref:   start.GetRef(),
		start: start,
		self:  self,
		log:   log.With("kind", kindName(start.GetKind())),
		send:  send,
		inbox: make(chan *mpcv1.SessionMessage, inboxSize),
		begin: make(chan *mpcv1.SessionBegin, 1),
		deps:  deps,
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
		if s.isEd25519() {
			if n := len(s.start.GetMessage()); n == 0 || n > sigfmt.MaxMessage || len(s.start.GetDigest()) != 0 || s.start.GetDerivationPath() != "" {
				return fmt.Errorf("an Ed25519 signature takes a message of 1 to %d bytes, and no digest or path", sigfmt.MaxMessage)
			}
		} else if len(s.start.GetDigest()) != 32 || len(s.start.GetMessage()) != 0 {
			return errors.New("digest must be 32 bytes")
		}
		var share *Share
		var err error
		if nonce := s.start.GetTestNonce(); len(nonce) > 0 {
			// A reshare's test signature with the pending shares: they sign
			// the labelled test digest of this key and epoch, and nothing else.
			want, derr := keycommit.TestDigest(s.start.GetKeyId(), s.start.GetEpoch(), nonce)
			got := s.start.GetDigest()
			if s.isEd25519() {
				got = s.start.GetMessage()
			}
			if derr != nil || !bytes.Equal(got, want) {
				return errors.New("a test signature signs only the reshare test digest of its key and epoch")
			}
			share, err = s.deps.shares.loadPending(s.start.GetKeyId(), s.start.GetEpoch())
		} else {
			share, err = s.deps.shares.load(s.start.GetKeyId(), s.start.GetEpoch())
		}
		if errors.Is(err, ErrRetiredEpoch) {
			return err
		}
		if err != nil {
			return fmt.Errorf("no usable share of key %s epoch %d", s.start.GetKeyId(), s.start.GetEpoch())
		}
		if err := s.checkCurve(share); err != nil {
			return err
		}
		if p := s.start.GetDerivationPath(); p != "" {
			// The device derives the tweak itself, from the path and the
			// chain code it stored at keygen: the coordinator never supplies it.
			if s.path, err = hd.ParsePath(p); err != nil {
				return err
			}
			if len(s.path) == 0 {
				return errors.New("the derivation path names the root key; sign without a path")
			}
			if len(share.Meta.ChainCode) != 32 {
				return fmt.Errorf("key %s has no chain code (made before derivation existed)", share.Meta.KeyID)
			}
		}
		if t != share.Meta.Threshold || len(s.members) != t+1 {
			return fmt.Errorf("a signature needs exactly %d signers", share.Meta.Threshold+1)
		}
		c := newCommittee(s.members, keyPubs, s.start.GetEpoch())
		if err := share.holds(c.sorted); err != nil {
			return err
		}
		s.share = share
		s.committees[roleMain] = c
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

// prepareReshare checks a reshare request: both committees are made of the
// participants (and only of them), the thresholds fit, and this device has
// what its roles need: a committed share of the current epoch as an old
// holder, and no record yet of the new epoch as a new one.
func (s *session) prepareReshare(pubs, keyPubs map[string][]byte) error {
	st := s.start
	oldIDs, newIDs := st.GetOldCommittee(), st.GetNewCommittee()
	union := map[string]bool{}
	for _, c := range [][]string{oldIDs, newIDs} {
		seen := map[string]bool{}
		for _, id := range c {
			if pubs[id] == nil {
				return fmt.Errorf("committee member %q is not a participant", id)
			}
			if seen[id] {
				return fmt.Errorf("committee member %q listed twice", id)
			}
			seen[id] = true
			union[id] = true
		}
	}
	if len(union) != len(s.members) {
		return errors.New("a participant is in neither committee")
	}
	t, nt := int(st.GetThreshold()), int(st.GetNewThreshold())
	if t < 1 || len(oldIDs) < t+1 {
		return fmt.Errorf("the old committee needs at least %d holders", t+1)
	}
	if nt < 1 || nt >= len(newIDs) {
		return errors.New("new threshold does not fit the new committee")
	}
	if st.GetNewEpoch() <= st.GetEpoch() {
		return errors.New("the new epoch must be above the current one")
	}
	// Epoch numbers of abandoned attempts are skipped, never reused, so the
	// new epoch may be a few above; a coordinator must not be able to jump
	// to the top of the range and leave the key unable to reshare again.
	if st.GetNewEpoch()-st.GetEpoch() > maxEpochStep {
		return fmt.Errorf("the new epoch %d is more than %d above the current one", st.GetNewEpoch(), maxEpochStep)
	}
	inOld, inNew := slices.Contains(oldIDs, s.self), slices.Contains(newIDs, s.self)
	oldC := newCommittee(oldIDs, keyPubs, st.GetEpoch())
	if inOld {
		share, err := s.deps.shares.load(st.GetKeyId(), st.GetEpoch())
		if errors.Is(err, ErrRetiredEpoch) {
			return err
		}
		if err != nil {
			return fmt.Errorf("no usable share of key %s epoch %d", st.GetKeyId(), st.GetEpoch())
		}
		if share.Meta.Threshold != t {
			return fmt.Errorf("the key's threshold is %d, not %d", share.Meta.Threshold, t)
		}
		if err := s.checkCurve(share); err != nil {
			return err
		}
		// New holders take the chain code from the session start; every old
		// holder checks it is the key's.
		if !bytes.Equal(share.Meta.ChainCode, st.GetChainCode()) {
			return errors.New("the chain code differs from this device's record of the key")
		}
		if err := share.holds(oldC.sorted); err != nil {
			return err
		}
		s.share = share
	}
	if n := len(st.GetChainCode()); n != 0 && (n != 32 || s.isEd25519()) {
		return errors.New("malformed chain code")
	}
	if inNew {
		has, err := s.deps.shares.has(st.GetKeyId(), st.GetNewEpoch())
		if err != nil {
			return err
		}
		if has {
			return fmt.Errorf("this device already has a record of key %s epoch %d", st.GetKeyId(), st.GetNewEpoch())
		}
	}
	if !inOld && !inNew {
		return errors.New("this device is in neither committee")
	}
	s.committees[roleOld] = oldC
	// The new epoch's party keys always derive from each device's own identity.
	s.committees[roleNew] = newCommittee(newIDs, pubs, st.GetNewEpoch())
	return nil
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
	res, err = r.run(ctx)
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

// runner is the protocol phase of a session, after the session id is agreed.
type runner struct {
	s       *session
	es      *envelope.Session
	tracker *envelope.Tracker
	guard   guard.Params
	gs      *guard.Session
	out     chan tss.Message
	seq     uint64
	echoes  map[string][]byte
	parties []*localParty
	// selfQueue holds messages from one of this device's parties to another
	// (a reshare where the device is in both committees); they never leave it.
	selfQueue []selfMsg
	// pending holds messages that arrived before an earlier message of the
	// same sender they are checked against (possible when delivery reorders).
	pending []pendingMsg
	// moduli maps every Paillier modulus and NTilde announced in keygen (or
	// by the new committee of a reshare) to its owner, this device's own
	// included: two members may never share one.
	moduli map[string]string
	// ownSSID is the session id this device's old-committee party announced;
	// ssids, those the other old members announced.
	ownSSID []byte
	ssids   map[string][]byte
	// taken is the pre-parameter set this session took from the pool, and
	// sent whether any envelope left the device since: a set nothing was
	// sent from goes back to the pool when the session fails.
	taken *preparams.Set
	sent  bool
	// sentRound is the highest round this device sent a message of (for
	// the per-round Debug line).
	sentRound uint32
}

// localParty is one tss-lib party this device runs in the session.
type localParty struct {
	role  role
	id    *tss.PartyID
	party tss.Party
	ended bool
}

type selfMsg struct {
	to     *localParty
	parsed tss.ParsedMessage
}

type pendingMsg struct {
	from    string
	parsed  tss.ParsedMessage
	targets []*localParty
}

func (r *runner) run(ctx context.Context) (*mpcv1.SessionResult, error) {
	s := r.s
	t := int(s.start.GetThreshold())
	r.out = make(chan tss.Message, 16*len(s.members)+16)
	var keygenEnd, oldEnd, newEnd chan *keygen.LocalPartySaveData
	var edKeygenEnd, edOldEnd, edNewEnd chan *edkeygen.LocalPartySaveData
	var signEnd chan *common.SignatureData
	var signPub []byte // the key a signature verifies under (derived, with a path)
	ed := s.isEd25519()
	switch s.start.GetKind() {
	case mpcv1.SessionKind_SESSION_KIND_KEYGEN:
		c := s.committees[roleMain]
		if ed {
			// EdDSA keygen needs no Paillier pre-parameters.
			edKeygenEnd = make(chan *edkeygen.LocalPartySaveData, 1)
			self := c.byDevice[s.self]
			r.parties = []*localParty{{role: roleMain, id: self,
				party: edkeygen.NewLocalParty(tss.NewParameters(tss.Edwards(), tss.NewPeerContext(c.sorted), self, len(c.sorted), t), r.out, edKeygenEnd)}}
			r.guard = guard.Params{Protocol: guard.KeygenEdDSA, Threshold: t, PartyCount: len(c.sorted)}
			break
		}
		pre, err := s.deps.pool.Take(ctx)
		if err != nil {
			return nil, &Failure{Reason: err.Error()}
		}
		r.taken = pre
		s.log.Info("took pre-parameter set from pool")
		keygenEnd = make(chan *keygen.LocalPartySaveData, 1)
		self := c.byDevice[s.self]
		r.parties = []*localParty{{role: roleMain, id: self,
			party: keygen.NewLocalParty(tss.NewParameters(tss.S256(), tss.NewPeerContext(c.sorted), self, len(c.sorted), t), r.out, keygenEnd, pre.Local())}}
		r.guard = guard.Params{Protocol: guard.KeygenECDSA, Threshold: t, PartyCount: len(c.sorted)}
		r.moduli = map[string]string{moduliKey(pre.Local().PaillierSK.N.Bytes()): s.self, moduliKey(pre.Local().NTildei.Bytes()): s.self}
	case mpcv1.SessionKind_SESSION_KIND_SIGN:
		c := s.committees[roleMain]
		signEnd = make(chan *common.SignatureData, 1)
		self := c.byDevice[s.self]
		signPub = s.share.Meta.PublicKey
		if ed {
			data, err := s.share.EdSaveData()
			if err != nil {
				return nil, err
			}
			// v2.0.2 drops the message's leading zero bytes unless told its length.
			msg := s.start.GetMessage()
			r.parties = []*localParty{{role: roleMain, id: self,
				party: edsigning.NewLocalParty(new(big.Int).SetBytes(msg), tss.NewParameters(tss.Edwards(), tss.NewPeerContext(c.sorted), self, len(c.sorted), t), data, r.out, signEnd, len(msg))}}
			r.guard = guard.Params{Protocol: guard.SignEdDSA, Threshold: t, PartyCount: len(c.sorted)}
			break
		}
		data, err := s.share.SaveData()
		if err != nil {
			return nil, err
		}
		var delta *big.Int
		if s.path != nil {
			if data, delta, signPub, err = derive(s.share, data, s.path); err != nil {
				return nil, err
			}
		}
		digest := new(big.Int).SetBytes(s.start.GetDigest())
		r.parties = []*localParty{{role: roleMain, id: self,
			party: signing.NewLocalPartyWithKDD(digest, tss.NewParameters(tss.S256(), tss.NewPeerContext(c.sorted), self, len(c.sorted), t), data, delta, r.out, signEnd, 32)}}
		r.guard = guard.Params{Protocol: guard.SignECDSA, Threshold: t, PartyCount: len(c.sorted)}
	case mpcv1.SessionKind_SESSION_KIND_RESHARE:
		oldC, newC := s.committees[roleOld], s.committees[roleNew]
		nt := int(s.start.GetNewThreshold())
		oldCtx, newCtx := tss.NewPeerContext(oldC.sorted), tss.NewPeerContext(newC.sorted)
		curve := tss.S256()
		if ed {
			curve = tss.Edwards()
		}
		params := func(self *tss.PartyID) *tss.ReSharingParameters {
			return tss.NewReSharingParameters(curve, oldCtx, newCtx, self, len(oldC.sorted), t, len(newC.sorted), nt)
		}
		if ed {
			if self := oldC.byDevice[s.self]; self != nil {
				data, err := s.share.EdSaveData() // a deep copy: the library zeroes it
				if err != nil {
					return nil, err
				}
				edOldEnd = make(chan *edkeygen.LocalPartySaveData, 1)
				r.parties = append(r.parties, &localParty{role: roleOld, id: self, party: edresharing.NewLocalParty(params(self), data, r.out, edOldEnd)})
			}
			if self := newC.byDevice[s.self]; self != nil {
				edNewEnd = make(chan *edkeygen.LocalPartySaveData, 1)
				r.parties = append(r.parties, &localParty{role: roleNew, id: self, party: edresharing.NewLocalParty(params(self), edkeygen.NewLocalPartySaveData(len(newC.sorted)), r.out, edNewEnd)})
			}
			r.guard = guard.Params{Protocol: guard.ReshareEdDSA, Threshold: t, PartyCount: len(oldC.sorted), NewThreshold: nt, NewPartyCount: len(newC.sorted)}
			break
		}
		if self := oldC.byDevice[s.self]; self != nil {
			// The library zeroes the share inside the data it is given:
			// it gets a deep copy, never the stored record.
			data, err := s.share.SaveData()
			if err != nil {
				return nil, err
			}
			oldEnd = make(chan *keygen.LocalPartySaveData, 1)
			r.parties = append(r.parties, &localParty{role: roleOld, id: self, party: resharing.NewLocalParty(params(self), data, r.out, oldEnd)})
		}
		if self := newC.byDevice[s.self]; self != nil {
			pre, err := s.deps.pool.Take(ctx)
			if err != nil {
				return nil, &Failure{Reason: err.Error()}
			}
			r.taken = pre
			s.log.Info("took pre-parameter set from pool")
			data := keygen.NewLocalPartySaveData(len(newC.sorted))
			data.LocalPreParams = pre.Local()
			newEnd = make(chan *keygen.LocalPartySaveData, 1)
			r.parties = append(r.parties, &localParty{role: roleNew, id: self, party: resharing.NewLocalParty(params(self), data, r.out, newEnd)})
			r.moduli = map[string]string{moduliKey(pre.Local().PaillierSK.N.Bytes()): s.self, moduliKey(pre.Local().NTildei.Bytes()): s.self}
		}
		r.guard = guard.Params{Protocol: guard.ReshareECDSA, Threshold: t, PartyCount: len(oldC.sorted), NewThreshold: nt, NewPartyCount: len(newC.sorted)}
	}

	gs, err := guard.NewSession(r.guard)
	if err != nil {
		return nil, err
	}
	if s.start.GetKind() == mpcv1.SessionKind_SESSION_KIND_SIGN && !ed {
		// Signing: the guard checks each signer's ciphertexts against that
		// signer's Paillier modulus from the key data (v2.0.2 would panic
		// on some of them in a goroutine of its own, beyond any recover).
		data, err := s.share.SaveData()
		if err != nil {
			return nil, err
		}
		if err := gs.LearnKey(data); err != nil {
			return nil, err
		}
	}
	if s.start.GetKind() == mpcv1.SessionKind_SESSION_KIND_SIGN && ed {
		// Only holders of the key may send.
		data, err := s.share.EdSaveData()
		if err != nil {
			return nil, err
		}
		if err := gs.LearnKeyEdDSA(data); err != nil {
			return nil, err
		}
	}
	r.gs = gs
	errCh := make(chan *tss.Error, len(r.parties))
	for _, lp := range r.parties {
		go func() {
			defer func() {
				if p := recover(); p != nil {
					s.log.Error("recovered from panic in protocol start", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					errCh <- tss.NewError(errors.New("internal error"), "start", 0, nil)
				}
			}()
			if err := lp.party.Start(); err != nil {
				errCh <- err
			}
		}()
	}
	var keyData, newData *keygen.LocalPartySaveData
	var edKeyData, edNewData *edkeygen.LocalPartySaveData
	var sig *common.SignatureData
	finished := false
	ended := func(role role) error {
		for _, lp := range r.parties {
			if lp.role == role {
				lp.ended = true
			}
		}
		for _, lp := range r.parties {
			if !lp.ended {
				return r.flush()
			}
		}
		finished = true
		if accused := maliciousAccuses(s.self, s.members); accused != nil && s.start.GetKind() != mpcv1.SessionKind_SESSION_KIND_RESHARE {
			// -tags malicious only (malicious_on.go): a false accusation.
			return &Failure{Reason: "protocol error (a false accusation by a test-only malicious build)", Culprits: accused}
		}
		return r.finish()
	}
	for {
		if err := r.deliverSelf(); err != nil {
			return nil, err
		}
		if finished && len(r.echoes) == len(s.members)-1 {
			// Every other member echoed what it saw; compare before accepting the result.
			for from, echo := range r.echoes {
				if err := r.es.CheckEcho(r.tracker, from, echo); err != nil {
					f := blamed(err)
					f.unchecked = true
					return nil, f
				}
			}
			switch s.start.GetKind() {
			case mpcv1.SessionKind_SESSION_KIND_KEYGEN:
				return s.finishKeygen(t, keyData, edKeyData, r.es.ID)
			case mpcv1.SessionKind_SESSION_KIND_RESHARE:
				return s.finishReshare(ctx, newData, edNewData)
			}
			return s.finishSign(sig, signPub)
		}
		if len(r.selfQueue) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			var stopped *errStopped
			if errors.As(context.Cause(ctx), &stopped) {
				return nil, &Failure{Reason: stopped.reason}
			}
			if finished {
				var missing []string
				for _, id := range s.members {
					if _, ok := r.echoes[id]; !ok && id != s.self {
						missing = append(missing, id)
					}
				}
				return nil, &Failure{Reason: timeoutReason + " waiting for broadcast echoes", Culprits: missing}
			}
			var waiting []*tss.PartyID
			for _, lp := range r.parties {
				if !lp.ended {
					waiting = append(waiting, lp.party.WaitingFor()...)
				}
			}
			return nil, &Failure{Reason: timeoutReason, Culprits: deviceIDs(waiting)}
		case e := <-errCh:
			return nil, tssFailure(e)
		case m := <-r.out:
			if err := r.emit(m); err != nil {
				return nil, err
			}
		case in := <-s.inbox:
			if err := r.receive(in, finished); err != nil {
				return nil, err
			}
			if err := r.flush(); err != nil {
				return nil, err
			}
		case keyData = <-keygenEnd:
			if err := ended(roleMain); err != nil {
				return nil, err
			}
		case sig = <-signEnd:
			if err := ended(roleMain); err != nil {
				return nil, err
			}
		case <-oldEnd:
			// The old committee's party ends with nothing to keep: its share
			// (a copy) was zeroed; the stored one goes when the coordinator
			// says the new epoch is committed.
			if err := ended(roleOld); err != nil {
				return nil, err
			}
		case newData = <-newEnd:
			if err := ended(roleNew); err != nil {
				return nil, err
			}
		case edKeyData = <-edKeygenEnd:
			if err := ended(roleMain); err != nil {
				return nil, err
			}
		case <-edOldEnd:
			if err := ended(roleOld); err != nil {
				return nil, err
			}
		case edNewData = <-edNewEnd:
			if err := ended(roleNew); err != nil {
				return nil, err
			}
		}
	}
}

// finish sends what tss-lib still queued, then this member's echo.
func (r *runner) finish() error {
	if err := r.flush(); err != nil {
		return err
	}
	payload, err := r.tracker.EchoPayload()
	if err != nil {
		return err
	}
	r.s.echoed = true
	return r.seal(envelope.Header{Broadcast: true, Type: envelope.EchoType}, payload)
}

// flush sends every message tss-lib has queued. The last round's outgoing
// message and the result can be ready at the same moment; a member that
// moved on without sending it would leave its peers waiting.
func (r *runner) flush() error {
	for {
		select {
		case m := <-r.out:
			if err := r.emit(m); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

var roundInType = regexp.MustCompile(`Round(\d+)`)

func roundOf(typ string) uint32 {
	m := roundInType.FindStringSubmatch(typ)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseUint(m[1], 10, 32)
	return uint32(n)
}

// local returns this device's party with the given tss-lib id, or nil.
func (r *runner) local(id *tss.PartyID) *localParty {
	if id == nil {
		return nil
	}
	for _, lp := range r.parties {
		if lp.id.KeyInt().Cmp(id.KeyInt()) == 0 {
			return lp
		}
	}
	return nil
}

// emit seals one tss-lib message: a broadcast once, a point-to-point message
// once per recipient, encrypted to it. A recipient that is another party of
// this device gets it directly.
func (r *runner) emit(m tss.Message) error {
	r.atRound(m.Type()) // test-only crash points (crashpoints.go)
	if round := roundOf(m.Type()); round > r.sentRound {
		r.sentRound = round
		r.s.log.Debug("round started", "round", round)
	}
	payload, routing, err := m.WireBytes()
	if err != nil {
		return fmt.Errorf("encode outgoing message: %w", err)
	}
	from := r.local(routing.From)
	if from == nil {
		return errors.New("outgoing message from no party of this device")
	}
	if m1, ok := m.(tss.ParsedMessage); ok {
		if c, ok := m1.Content().(*resharing.DGRound1Message); ok && from.role == roleOld {
			r.ownSSID = c.GetSsid()
			if err := r.checkSSIDs(); err != nil {
				return err
			}
		}
	}
	var self []*localParty
	var remote []string
	for _, p := range routing.To {
		if lp := r.local(p); lp != nil {
			if lp != from {
				self = append(self, lp)
			}
		} else if !routing.IsBroadcast {
			remote = append(remote, p.Id)
		}
	}
	if len(self) > 0 {
		parsed, err := tss.ParseWireMessage(payload, from.id, routing.IsBroadcast)
		if err != nil {
			return fmt.Errorf("parse own message: %w", err)
		}
		for _, lp := range self {
			r.selfQueue = append(r.selfQueue, selfMsg{to: lp, parsed: parsed})
		}
	}
	h := envelope.Header{Broadcast: routing.IsBroadcast, Type: m.Type(), Round: roundOf(m.Type())}
	if routing.IsBroadcast {
		remote = []string{""}
	}
	for _, id := range remote {
		h.To = id
		payloads := [][]byte{payload}
		if r.s.deps.tamper != nil {
			payloads = (*r.s.deps.tamper)(h.Type, id, payload)
		}
		for _, p := range payloads {
			if err := r.seal(h, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// deliverSelf hands messages between this device's own parties.
func (r *runner) deliverSelf() error {
	for len(r.selfQueue) > 0 {
		m := r.selfQueue[0]
		r.selfQueue = r.selfQueue[1:]
		if _, terr := m.to.party.Update(m.parsed); terr != nil {
			return tssFailure(terr)
		}
	}
	return nil
}

func (r *runner) seal(h envelope.Header, payload []byte) error {
	r.seq++
	h.Seq = r.seq
	env, err := r.es.Seal(r.s.deps.identity, h, payload)
	if err != nil {
		return err
	}
	if env.Broadcast {
		if err := r.tracker.Observe(env); err != nil && r.s.deps.tamper == nil {
			return err
		}
	}
	r.sent = true
	r.s.send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Message{Message: env.Proto()}})
	return nil
}

// route says which committee a message's sender speaks for and which of
// this device's parties receive it.
func (r *runner) route(env envelope.Envelope) (*tss.PartyID, []*localParty, error) {
	blame := func(reason string) error { return &Failure{Reason: reason, Culprits: []string{env.From}} }
	if r.s.start.GetKind() != mpcv1.SessionKind_SESSION_KIND_RESHARE {
		return r.s.committees[roleMain].byDevice[env.From], r.parties, nil
	}
	rt, ok := reshareRoutes[env.Type]
	if !ok {
		return nil, nil, blame("sent a message type resharing does not have")
	}
	from := r.s.committees[rt.from].byDevice[env.From]
	if from == nil {
		return nil, nil, blame("sent a message for a committee it is not in")
	}
	var targets []*localParty
	for _, lp := range r.parties {
		if slices.Contains(rt.to, lp.role) {
			targets = append(targets, lp)
		}
	}
	if len(targets) == 0 && !env.Broadcast {
		return nil, nil, blame("sent a point-to-point message to a device outside its recipients")
	}
	return from, targets, nil
}

// receive checks one envelope and, if it is a protocol message, hands it to
// tss-lib. from and the broadcast flag come from the verified envelope.
func (r *runner) receive(in *mpcv1.SessionMessage, finished bool) error {
	env := envelope.FromProto(in)
	plain, err := r.es.Open(env)
	if errors.Is(err, envelope.ErrWrongSession) {
		r.s.log.Debug("dropped a message for another session")
		return nil
	}
	if err != nil {
		return blamed(err)
	}
	if err := r.tracker.Observe(env); errors.Is(err, envelope.ErrDuplicate) {
		return nil
	} else if err != nil {
		return blamed(err)
	}
	if env.Type == envelope.EchoType {
		if !env.Broadcast {
			return &Failure{Reason: "echo sent point to point", Culprits: []string{env.From}, unchecked: true}
		}
		r.echoes[env.From] = plain
		return nil
	}
	if finished {
		return nil // late protocol messages after this member finished change nothing
	}
	from, targets, err := r.route(env)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		return nil // a broadcast between other committees: tracked for the echo only
	}
	if err := guard.CheckWire(r.guard, plain); err != nil {
		return &Failure{Reason: "rejected protocol message: " + err.Error(), Culprits: []string{env.From}}
	}
	parsed, err := tss.ParseWireMessage(plain, from, env.Broadcast)
	if err != nil {
		return &Failure{Reason: "unparseable protocol message", Culprits: []string{env.From}}
	}
	if parsed.Type() != env.Type || roundOf(parsed.Type()) != env.Round {
		return &Failure{Reason: "message type differs from its envelope", Culprits: []string{env.From}}
	}
	if err := r.checkFresh(env.From, parsed); err != nil {
		return err
	}
	if err := r.deliver(env.From, parsed, targets); err != nil && !errors.Is(err, errHeld) {
		return err
	}
	// A message may have unblocked ones held back for it.
	for progress := true; progress; {
		progress = false
		for i, p := range r.pending {
			err := r.deliver(p.from, p.parsed, p.targets)
			if errors.Is(err, errHeld) {
				continue
			}
			r.pending = append(r.pending[:i], r.pending[i+1:]...)
			if err != nil {
				return err
			}
			progress = true
			break
		}
	}
	return nil
}

var errHeld = errors.New("held until an earlier message of its sender arrives")

// deliver runs the guard on a parsed message and hands it to tss-lib. A
// message that depends on an earlier one of its sender is held back.
func (r *runner) deliver(from string, parsed tss.ParsedMessage, targets []*localParty) error {
	if err := r.gs.Check(parsed); errors.Is(err, guard.ErrOutOfOrder) {
		if !r.isPending(parsed) {
			if len(r.pending) >= 4*len(r.s.members)+8 {
				// The judge would not see what they wait for: no evidence.
				return &Failure{Reason: "too many messages out of order", Culprits: []string{from}, unchecked: true}
			}
			r.pending = append(r.pending, pendingMsg{from: from, parsed: parsed, targets: targets})
		}
		return errHeld
	} else if err != nil {
		return &Failure{Reason: "rejected protocol message: " + err.Error(), Culprits: []string{from}}
	}
	for _, n := range announcedModuli(parsed) {
		if r.moduli == nil {
			break
		}
		owner, dup := r.moduli[n]
		switch {
		case dup && owner == r.s.self:
			// Only the owner knows for sure who copied its modulus. No
			// evidence: this device's own announcement may not have left it
			// yet, and without it nothing relayed shows the copy.
			return &Failure{Reason: "announced a modulus (Paillier N or NTilde) that another member uses", Culprits: []string{from}, unchecked: true}
		case dup && owner != from:
			// Two other members share a modulus and this device cannot tell
			// which one copied: the owner aborts and blames the copier, and
			// the copier cannot prove knowledge of the modulus's factors
			// later anyway. Blaming the later one here could blame the owner.
			r.s.log.Warn("two members announced the same modulus", "first", owner, "second", from)
		default:
			r.moduli[n] = from
		}
	}
	if err := r.checkReshareRound1(from, parsed); err != nil {
		return err
	}
	for _, lp := range targets {
		if _, terr := lp.party.Update(parsed); terr != nil {
			return tssFailure(terr)
		}
	}
	return nil
}

// announcedModuli are the moduli (Paillier N and NTilde) a keygen or
// new-committee message announces, as canonical bytes. A member that copies
// another's NTilde could replay its proofs and get tss-lib to blame the owner.
func announcedModuli(parsed tss.ParsedMessage) []string {
	switch m := parsed.Content().(type) {
	case *keygen.KGRound1Message:
		return []string{moduliKey(m.GetPaillierN()), moduliKey(m.GetNTilde())}
	case *resharing.DGRound2Message1:
		return []string{moduliKey(m.GetPaillierN()), moduliKey(m.GetNTilde())}
	}
	return nil
}

func moduliKey(b []byte) string { return string(new(big.Int).SetBytes(b).Bytes()) }

// checkReshareRound1 checks what the old committee's first message claims,
// where tss-lib v2.0.2 would blame the wrong members: it takes the public key
// and the session id from one old member's message and blames everyone who
// disagrees with it.
//   - A new holder knows the key id, so a message for another public key
//     is blamed on its sender.
//   - An old holder made the session id itself; a different one is blamed on
//     its sender. A new-only holder that sees two session ids cannot tell
//     who lies, and blames nobody.
func (r *runner) checkReshareRound1(from string, parsed tss.ParsedMessage) error {
	if m, ok := parsed.Content().(*edresharing.DGRound1Message); ok {
		// EdDSA's round 1 carries no session id; the public key is checked.
		pub, err := sigfmt.Ed25519PublicKey(new(big.Int).SetBytes(m.GetEddsaPubX()), new(big.Int).SetBytes(m.GetEddsaPubY()))
		if err != nil || identity.KeyID(pub) != r.s.start.GetKeyId() {
			return &Failure{Reason: "announced another public key for the key being reshared", Culprits: []string{from}}
		}
		return nil
	}
	m, ok := parsed.Content().(*resharing.DGRound1Message)
	if !ok {
		return nil
	}
	x, y := new(big.Int).SetBytes(m.GetEcdsaPubX()), new(big.Int).SetBytes(m.GetEcdsaPubY())
	pub, err := sigfmt.CompressPoint(x, y)
	if err != nil || identity.KeyID(pub) != r.s.start.GetKeyId() {
		return &Failure{Reason: "announced another public key for the key being reshared", Culprits: []string{from}}
	}
	if r.ssids == nil {
		r.ssids = map[string][]byte{}
	}
	r.ssids[from] = m.GetSsid()
	return r.checkSSIDs()
}

func (r *runner) checkSSIDs() error {
	var first []byte
	for from, ssid := range r.ssids {
		if r.ownSSID != nil {
			if !bytes.Equal(ssid, r.ownSSID) {
				return &Failure{Reason: "announced another session id than the old committee's", Culprits: []string{from}}
			}
			continue
		}
		if first != nil && !bytes.Equal(ssid, first) {
			return &Failure{Reason: "old committee members announced different session ids"}
		}
		first = ssid
	}
	return nil
}

func (r *runner) isPending(parsed tss.ParsedMessage) bool {
	for _, p := range r.pending {
		if p.parsed == parsed {
			return true
		}
	}
	return false
}

// finishKeygen stores the new share. A secp256k1 key's BIP32 chain code
// comes from the keygen session id, to which every party contributed fresh
// randomness: neither one party nor the coordinator chooses it.
func (s *session) finishKeygen(t int, data *keygen.LocalPartySaveData, edData *edkeygen.LocalPartySaveData, sessionID []byte) (*mpcv1.SessionResult, error) {
	rec := shareRecord{Meta: ShareMeta{
		Epoch:     0,
		State:     ShareCommitted,
		Threshold: t,
		Holders:   slices.Clone(s.members),
	}}
	var err error
	if edData != nil {
		rec.Meta.Curve, rec.EdData = CurveEd25519, edData
		rec.Meta.PublicKey, err = sigfmt.Ed25519PublicKey(edData.EDDSAPub.X(), edData.EDDSAPub.Y())
	} else {
		rec.Data = *data
		rec.Meta.ChainCode = hd.ChainCodeFromSession(sessionID)
		rec.Meta.PublicKey, err = sigfmt.CompressPoint(data.ECDSAPub.X(), data.ECDSAPub.Y())
	}
	if err != nil {
		return nil, err
	}
	rec.Meta.KeyID = identity.KeyID(rec.Meta.PublicKey)
	// Persist, then acknowledge: the result is sent only after the share is on disk.
	if err := s.deps.shares.save(rec); err != nil {
		return nil, fmt.Errorf("store share: %w", err)
	}
	s.log.Info("key share stored", "key", rec.Meta.KeyID, "epoch", rec.Meta.Epoch)
	att, err := attest(s.deps.identity, s.self, rec)
	if err != nil {
		return nil, fmt.Errorf("attest the new key: %w", err)
	}
	return &mpcv1.SessionResult{PublicKey: rec.Meta.PublicKey, ChainCode: rec.Meta.ChainCode, Attestation: att, KeyPublic: keyPublic(data, edData)}, nil
}

// finishReshare stores a new holder's share as pending (durably, before the
// result goes out); the coordinator's commit promotes it. An old holder
// keeps its share until then, so the key stays signable at every instant.
func (s *session) finishReshare(ctx context.Context, data *keygen.LocalPartySaveData, edData *edkeygen.LocalPartySaveData) (*mpcv1.SessionResult, error) {
	if data == nil && edData == nil {
		return &mpcv1.SessionResult{PublicKey: s.share.Meta.PublicKey}, nil
	}
	rec := shareRecord{EdData: edData}
	var pub []byte
	var err error
	switch {
	case edData != nil && edData.EDDSAPub != nil:
		rec.Meta.Curve = CurveEd25519
		pub, err = sigfmt.Ed25519PublicKey(edData.EDDSAPub.X(), edData.EDDSAPub.Y())
	case data != nil && data.ECDSAPub != nil:
		rec.Data = *data
		pub, err = sigfmt.CompressPoint(data.ECDSAPub.X(), data.ECDSAPub.Y())
	default:
		return nil, errors.New("reshare ended without a public key")
	}
	if err != nil {
		return nil, err
	}
	if identity.KeyID(pub) != s.start.GetKeyId() || (s.share != nil && !bytes.Equal(pub, s.share.Meta.PublicKey)) {
		return nil, &Failure{Reason: "the new shares belong to another public key"}
	}
	rec.Meta.KeyID = s.start.GetKeyId()
	rec.Meta.Epoch = s.start.GetNewEpoch()
	rec.Meta.State = SharePending
	rec.Meta.Threshold = int(s.start.GetNewThreshold())
	rec.Meta.PublicKey = pub
	rec.Meta.ChainCode = s.start.GetChainCode()
	rec.Meta.Holders = slices.Sorted(slices.Values(s.start.GetNewCommittee()))
	if err := s.deps.shares.save(rec); err != nil {
		return nil, fmt.Errorf("store share: %w", err)
	}
	// A session stopped meanwhile (the coordinator aborted it) sends no
	// result, so its epoch can never be committed; and the coordinator's
	// word that the reshare was abandoned, handled on the link right after
	// the abort, may have been applied before this write and missed it.
	// The write is undone here, so no pending share of an abandoned epoch
	// outlives the abandonment.
	if ctx.Err() != nil {
		if err := s.deps.shares.dropPending(rec.Meta.KeyID, rec.Meta.Epoch); err != nil {
			return nil, fmt.Errorf("drop the pending share of a stopped session: %w", err)
		}
		s.log.Info("pending key share of a stopped session dropped", "key", rec.Meta.KeyID, "epoch", rec.Meta.Epoch)
		var stopped *errStopped
		if errors.As(context.Cause(ctx), &stopped) {
			return nil, &Failure{Reason: stopped.reason}
		}
		return nil, &Failure{Reason: timeoutReason}
	}
	s.log.Info("new key share stored, pending the commit", "key", rec.Meta.KeyID, "epoch", rec.Meta.Epoch)
	// Stored first, attested after: the statement is true when it leaves.
	att, err := attest(s.deps.identity, s.self, rec)
	if err != nil {
		return nil, fmt.Errorf("attest the new share: %w", err)
	}
	return &mpcv1.SessionResult{PublicKey: pub, Attestation: att, KeyPublic: keyPublic(data, edData)}, nil
}

// finishSign checks the signature under pub (the key, or the derived key of
// the session's path) before it leaves the device.
func (s *session) finishSign(sig *common.SignatureData, pub []byte) (*mpcv1.SessionResult, error) {
	res := &mpcv1.SessionResult{PublicKey: pub}
	if s.isEd25519() {
		if err := sigfmt.FinishEd25519(pub, s.start.GetMessage(), sig.GetSignature()); err != nil {
			return nil, fmt.Errorf("signature check: %w", err)
		}
		res.Signature = sig.GetSignature()
	} else {
		if _, err := sigfmt.FinishECDSA(pub, s.start.GetDigest(), sig.GetR(), sig.GetS()); err != nil {
			return nil, fmt.Errorf("signature check: %w", err)
		}
		res.R, res.S = sig.GetR(), sig.GetS()
	}
	// The signature was counted against the limits when it was approved.
	return res, nil
}

// derive adjusts a copy of a secp256k1 share's key data to the BIP32 child
// at path: the public key becomes the child's and every party's public
// share is shifted by delta·G. It returns the data, delta and the child key.
func derive(share *Share, data keygen.LocalPartySaveData, path []uint32) (keygen.LocalPartySaveData, *big.Int, []byte, error) {
	d, err := hd.Derive(share.Meta.PublicKey, share.Meta.ChainCode, path)
	if err != nil {
		return data, nil, nil, err
	}
	if d.Delta.Sign() == 0 {
		return data, nil, nil, errors.New("the derivation path names the root key")
	}
	child, err := secp256k1.ParsePubKey(d.PublicKey)
	if err != nil {
		return data, nil, nil, err
	}
	keys := []keygen.LocalPartySaveData{data}
	if err := signing.UpdatePublicKeyAndAdjustBigXj(d.Delta, keys, &ecdsa.PublicKey{Curve: tss.S256(), X: child.X(), Y: child.Y()}, tss.S256()); err != nil {
		return data, nil, nil, fmt.Errorf("derive the child key: %w", err)
	}
	return keys[0], d.Delta, d.PublicKey, nil
}

// keyPublic is the public part of a key's data (ECDSA or EdDSA), for the
// coordinator's judge of signing complaints (nil if it cannot be encoded:
// the coordinator then treats such complaints as unverified).
func keyPublic(data *keygen.LocalPartySaveData, edData *edkeygen.LocalPartySaveData) []byte {
	var b []byte
	var err error
	switch {
	case edData != nil && edData.EDDSAPub != nil:
		var p blame.EdKeyPublic
		if p, err = blame.PublicOfEdDSA(*edData); err == nil {
			b, err = p.Marshal()
		}
	case data != nil && data.ECDSAPub != nil:
		var p blame.KeyPublic
		if p, err = blame.PublicOf(*data); err == nil {
			b, err = p.Marshal()
		}
	}
	if err != nil {
		return nil
	}
	return b
}

func tssFailure(e *tss.Error) *Failure {
	return &Failure{Reason: fmt.Sprintf("protocol error in %s round %d", e.Task(), e.Round()), Culprits: deviceIDs(e.Culprits())}
}

func deviceIDs(ps []*tss.PartyID) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if p != nil {
			out = append(out, p.Id)
		}
	}
	sort.Strings(out)
	return out
}

// maxEpochStep bounds how far a reshare's new epoch may be above the
// current one (each abandoned attempt skips a number, so it is rarely more
// than a few): a coordinator cannot jump to the top of the range and leave
// the key unable to be reshared again.
const maxEpochStep = 1 << 20
