package party

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"regexp"
	"runtime/debug"
	"sort"
	"strconv"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/mpcsign/mpcsign/internal/envelope"
	"github.com/mpcsign/mpcsign/internal/guard"
	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/preparams"
	"github.com/mpcsign/mpcsign/internal/sigfmt"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// inboxSize bounds the messages queued for one session; a session whose
// inbox overflows aborts instead of growing without bound.
const inboxSize = 512

// Failure is a session that ended without a result. Culprits are device ids.
type Failure struct {
	Reason   string
	Culprits []string
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
		save(meta ShareMeta, data keygen.LocalPartySaveData) error
		signed(keyID string) error
	}
	pool interface {
		Take(ctx context.Context) (*preparams.Set, error)
	}
	tamper *tamperFunc // nil except in malicious-party tests
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
	params   envelope.Params
	sorted   tss.SortedPartyIDs
	byDevice map[string]*tss.PartyID
	share    *Share
	join     envelope.Join
	eph      *envelope.Ephemeral
}

func newSession(start *mpcv1.SessionStart, self string, log *slog.Logger, send func(*mpcv1.ConnectRequest), deps sessionDeps) *session {
	return &session{
		ref:   start.GetRef(),
		start: start,
		self:  self,
		log:   log,
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
	var unsorted tss.UnSortedPartyIDs
	seen := map[string]bool{}
	for _, p := range ps {
		if len(p.GetIdentityPublicKey()) != 32 || identity.DeviceID(p.GetIdentityPublicKey()) != p.GetDeviceId() {
			return fmt.Errorf("participant %q: identity key does not match device id", p.GetDeviceId())
		}
		if seen[p.GetDeviceId()] {
			return fmt.Errorf("participant %q listed twice", p.GetDeviceId())
		}
		seen[p.GetDeviceId()] = true
		unsorted = append(unsorted, identity.PartyID(p.GetDeviceId(), p.GetIdentityPublicKey()))
	}
	if !seen[s.self] {
		return errors.New("this device is not a participant")
	}
	s.sorted = tss.SortPartyIDs(unsorted)
	s.byDevice = make(map[string]*tss.PartyID, len(s.sorted))
	for _, p := range s.sorted {
		s.byDevice[p.Id] = p
	}
	t := int(s.start.GetThreshold())
	switch s.start.GetKind() {
	case mpcv1.SessionKind_SESSION_KIND_KEYGEN:
		if t < 1 || t >= len(s.sorted) {
			return errors.New("threshold does not fit the participant count")
		}
	case mpcv1.SessionKind_SESSION_KIND_SIGN:
		if len(s.start.GetDigest()) != 32 {
			return errors.New("digest must be 32 bytes")
		}
		share, err := s.deps.shares.load(s.start.GetKeyId(), s.start.GetEpoch())
		if err != nil {
			return fmt.Errorf("no usable share of key %s epoch %d", s.start.GetKeyId(), s.start.GetEpoch())
		}
		if t != share.Meta.Threshold || len(s.sorted) != t+1 {
			return fmt.Errorf("a signature needs exactly %d signers", share.Meta.Threshold+1)
		}
		holders := map[string]bool{}
		for _, h := range share.Meta.Holders {
			holders[h] = true
		}
		for _, p := range s.sorted {
			if !holders[p.Id] {
				return fmt.Errorf("device %s does not hold this key", p.Id)
			}
		}
		s.share = share
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
	res, err := s.execute(ctx)
	if err != nil {
		var f *Failure
		if !errors.As(err, &f) {
			f = &Failure{Reason: err.Error()}
		}
		s.log.Warn("session failed", "reason", f.Reason, "culprits", f.Culprits)
		s.send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Failure{Failure: &mpcv1.SessionFailure{
			Ref: s.ref, Reason: f.Reason, Culprits: f.Culprits,
		}}})
		return
	}
	res.Ref = s.ref
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
		return nil, &Failure{Reason: "session deadline passed before every device joined"}
	case b := <-s.begin:
		var joins []envelope.Join
		for _, j := range b.GetJoins() {
			joins = append(joins, envelope.JoinFromProto(j))
		}
		es, err = envelope.Agree(s.params, s.join, s.eph, joins)
		if err != nil {
			return nil, blamed(err)
		}
	}
	r := &runner{s: s, es: es, tracker: envelope.NewTracker(), echoes: map[string][]byte{}}
	return r.run(ctx)
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
	// pending holds messages that arrived before an earlier message of the
	// same sender they are checked against (possible when delivery reorders).
	pending []pendingMsg
	// moduli maps every Paillier modulus announced in keygen to its owner,
	// this device's own included: two members may never share one.
	moduli map[string]string
}

type pendingMsg struct {
	from   string
	parsed tss.ParsedMessage
}

func (r *runner) run(ctx context.Context) (*mpcv1.SessionResult, error) {
	s := r.s
	self := s.byDevice[s.self]
	peerCtx := tss.NewPeerContext(s.sorted)
	t := int(s.start.GetThreshold())
	r.out = make(chan tss.Message, 4*len(s.sorted))
	var party tss.Party
	var keygenEnd chan *keygen.LocalPartySaveData
	var signEnd chan *common.SignatureData
	switch s.start.GetKind() {
	case mpcv1.SessionKind_SESSION_KIND_KEYGEN:
		pre, err := s.deps.pool.Take(ctx)
		if err != nil {
			return nil, &Failure{Reason: err.Error()}
		}
		keygenEnd = make(chan *keygen.LocalPartySaveData, 1)
		party = keygen.NewLocalParty(tss.NewParameters(tss.S256(), peerCtx, self, len(s.sorted), t), r.out, keygenEnd, pre.Local())
		r.guard = guard.Params{Protocol: guard.KeygenECDSA, Threshold: t, PartyCount: len(s.sorted)}
		r.moduli = map[string]string{string(pre.Local().PaillierSK.N.Bytes()): s.self}
	case mpcv1.SessionKind_SESSION_KIND_SIGN:
		data, err := s.share.SaveData()
		if err != nil {
			return nil, err
		}
		signEnd = make(chan *common.SignatureData, 1)
		digest := new(big.Int).SetBytes(s.start.GetDigest())
		party = signing.NewLocalParty(digest, tss.NewParameters(tss.S256(), peerCtx, self, len(s.sorted), t), data, r.out, signEnd, 32)
		r.guard = guard.Params{Protocol: guard.SignECDSA, Threshold: t, PartyCount: len(s.sorted)}
	}

	gs, err := guard.NewSession(r.guard)
	if err != nil {
		return nil, err
	}
	if s.share != nil {
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
	r.gs = gs
	errCh := make(chan *tss.Error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("recovered from panic in protocol start", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				errCh <- tss.NewError(errors.New("internal error"), "start", 0, nil)
			}
		}()
		if err := party.Start(); err != nil {
			errCh <- err
		}
	}()
	var keyData *keygen.LocalPartySaveData
	var sig *common.SignatureData
	finished := false
	for {
		if finished && len(r.echoes) == len(s.sorted)-1 {
			// Every other member echoed what it saw; compare before accepting the result.
			for from, echo := range r.echoes {
				if err := r.es.CheckEcho(r.tracker, from, echo); err != nil {
					return nil, blamed(err)
				}
			}
			if keyData != nil {
				return s.finishKeygen(t, keyData)
			}
			return s.finishSign(sig)
		}
		select {
		case <-ctx.Done():
			var stopped *errStopped
			if errors.As(context.Cause(ctx), &stopped) {
				return nil, &Failure{Reason: stopped.reason}
			}
			if finished {
				var missing []string
				for id := range s.byDevice {
					if _, ok := r.echoes[id]; !ok && id != s.self {
						missing = append(missing, id)
					}
				}
				sort.Strings(missing)
				return nil, &Failure{Reason: "session deadline passed waiting for broadcast echoes", Culprits: missing}
			}
			return nil, &Failure{Reason: "session deadline passed", Culprits: deviceIDs(party.WaitingFor())}
		case e := <-errCh:
			return nil, tssFailure(e)
		case m := <-r.out:
			if err := r.emit(m); err != nil {
				return nil, err
			}
		case in := <-s.inbox:
			if err := r.receive(party, in, finished); err != nil {
				return nil, err
			}
			if err := r.flush(); err != nil {
				return nil, err
			}
		case keyData = <-keygenEnd:
			if err := r.finish(); err != nil {
				return nil, err
			}
			finished = true
		case sig = <-signEnd:
			if err := r.finish(); err != nil {
				return nil, err
			}
			finished = true
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

// emit seals one tss-lib message: a broadcast once, a point-to-point message
// once per recipient, encrypted to it.
func (r *runner) emit(m tss.Message) error {
	payload, routing, err := m.WireBytes()
	if err != nil {
		return fmt.Errorf("encode outgoing message: %w", err)
	}
	h := envelope.Header{Broadcast: routing.IsBroadcast, Type: m.Type(), Round: roundOf(m.Type())}
	var to []string
	if routing.IsBroadcast {
		to = []string{""}
	} else {
		to = deviceIDs(routing.To)
	}
	for _, id := range to {
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
	r.s.send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Message{Message: env.Proto()}})
	return nil
}

// receive checks one envelope and, if it is a protocol message, hands it to
// tss-lib. from and the broadcast flag come from the verified envelope.
func (r *runner) receive(party tss.Party, in *mpcv1.SessionMessage, finished bool) error {
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
			return &Failure{Reason: "echo sent point to point", Culprits: []string{env.From}}
		}
		r.echoes[env.From] = plain
		return nil
	}
	if finished {
		return nil // late protocol messages after this member finished change nothing
	}
	from := r.s.byDevice[env.From]
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
	if err := r.deliver(party, env.From, parsed); err != nil && !errors.Is(err, errHeld) {
		return err
	}
	// A message may have unblocked ones held back for it.
	for progress := true; progress; {
		progress = false
		for i, p := range r.pending {
			err := r.deliver(party, p.from, p.parsed)
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
func (r *runner) deliver(party tss.Party, from string, parsed tss.ParsedMessage) error {
	if err := r.gs.Check(parsed); errors.Is(err, guard.ErrOutOfOrder) {
		if !r.isPending(parsed) {
			if len(r.pending) >= 4*len(r.s.sorted) {
				return &Failure{Reason: "too many messages out of order", Culprits: []string{from}}
			}
			r.pending = append(r.pending, pendingMsg{from: from, parsed: parsed})
		}
		return errHeld
	} else if err != nil {
		return &Failure{Reason: "rejected protocol message: " + err.Error(), Culprits: []string{from}}
	}
	if m, ok := parsed.Content().(*keygen.KGRound1Message); ok && r.moduli != nil {
		n := string(new(big.Int).SetBytes(m.GetPaillierN()).Bytes())
		owner, dup := r.moduli[n]
		switch {
		case dup && owner == r.s.self:
			// Only the owner knows for sure who copied its modulus.
			return &Failure{Reason: "announced a Paillier modulus that another member uses", Culprits: []string{from}}
		case dup && owner != from:
			// Two other members share a modulus and this device cannot tell
			// which one copied: the owner aborts and blames the copier, and
			// the copier cannot prove knowledge of the modulus's factors in
			// round 2 anyway. Blaming the later one here could blame the owner.
			r.s.log.Warn("two members announced the same Paillier modulus", "first", owner, "second", from)
		default:
			r.moduli[n] = from
		}
	}
	if _, terr := party.Update(parsed); terr != nil {
		return tssFailure(terr)
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

func (s *session) finishKeygen(t int, data *keygen.LocalPartySaveData) (*mpcv1.SessionResult, error) {
	pub, err := sigfmt.CompressPoint(data.ECDSAPub.X(), data.ECDSAPub.Y())
	if err != nil {
		return nil, err
	}
	meta := ShareMeta{
		KeyID:     identity.KeyID(pub),
		Epoch:     0,
		State:     ShareCommitted,
		Threshold: t,
		PublicKey: pub,
		Holders:   deviceIDs(s.sorted),
	}
	// Persist, then acknowledge: the result is sent only after the share is on disk.
	if err := s.deps.shares.save(meta, *data); err != nil {
		return nil, fmt.Errorf("store share: %w", err)
	}
	s.log.Info("key share stored", "key", meta.KeyID, "epoch", meta.Epoch)
	return &mpcv1.SessionResult{PublicKey: pub}, nil
}

func (s *session) finishSign(sig *common.SignatureData) (*mpcv1.SessionResult, error) {
	if _, err := sigfmt.FinishECDSA(s.share.Meta.PublicKey, s.start.GetDigest(), sig.GetR(), sig.GetS()); err != nil {
		return nil, fmt.Errorf("signature check: %w", err)
	}
	if err := s.deps.shares.signed(s.share.Meta.KeyID); err != nil {
		return nil, fmt.Errorf("record the signature: %w", err)
	}
	return &mpcv1.SessionResult{PublicKey: s.share.Meta.PublicKey, R: sig.GetR(), S: sig.GetS()}, nil
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
