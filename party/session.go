package party

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"runtime/debug"
	"sort"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"

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

// session runs one tss-lib protocol instance. It is a small state machine:
// envelopes come in through deliver, outgoing envelopes and the result leave
// through send; the network and the keystore are outside it.
type session struct {
	id    []byte
	start *mpcv1.SessionStart
	self  string
	log   *slog.Logger
	send  func(*mpcv1.ConnectRequest)
	inbox chan *mpcv1.SessionMessage
	deps  sessionDeps
}

// sessionDeps is what a session needs from the agent.
type sessionDeps struct {
	shares interface {
		load(keyID string, epoch uint64) (*Share, error)
		save(meta ShareMeta, data keygen.LocalPartySaveData) error
	}
	pool interface {
		Take(ctx context.Context) (*preparams.Set, error)
	}
}

func newSession(start *mpcv1.SessionStart, self string, log *slog.Logger, send func(*mpcv1.ConnectRequest), deps sessionDeps) *session {
	return &session{
		id:    start.GetSessionId(),
		start: start,
		self:  self,
		log:   log,
		send:  send,
		inbox: make(chan *mpcv1.SessionMessage, inboxSize),
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

// participants builds the sorted tss-lib party ids of the session.
func (s *session) participants() (tss.SortedPartyIDs, map[string]*tss.PartyID, error) {
	ps := s.start.GetParticipants()
	if len(ps) < 2 || len(ps) > 64 {
		return nil, nil, errors.New("participant count out of range")
	}
	var unsorted tss.UnSortedPartyIDs
	seen := map[string]bool{}
	for _, p := range ps {
		if len(p.GetIdentityPublicKey()) != 32 || identity.DeviceID(p.GetIdentityPublicKey()) != p.GetDeviceId() {
			return nil, nil, fmt.Errorf("participant %q: identity key does not match device id", p.GetDeviceId())
		}
		if seen[p.GetDeviceId()] {
			return nil, nil, fmt.Errorf("participant %q listed twice", p.GetDeviceId())
		}
		seen[p.GetDeviceId()] = true
		unsorted = append(unsorted, identity.PartyID(p.GetDeviceId(), p.GetIdentityPublicKey()))
	}
	if !seen[s.self] {
		return nil, nil, errors.New("this device is not a participant")
	}
	sorted := tss.SortPartyIDs(unsorted)
	byDevice := make(map[string]*tss.PartyID, len(sorted))
	for _, p := range sorted {
		byDevice[p.Id] = p
	}
	return sorted, byDevice, nil
}

// run drives the session to its end and reports the result or failure to the
// coordinator. It never panics: a panic inside tss-lib on this goroutine is
// turned into a failure.
func (s *session) run(ctx context.Context) {
	res, err := s.execute(ctx)
	if err != nil {
		var f *Failure
		if !errors.As(err, &f) {
			f = &Failure{Reason: err.Error()}
		}
		s.log.Warn("session failed", "reason", f.Reason, "culprits", f.Culprits)
		s.send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Failure{Failure: &mpcv1.SessionFailure{
			SessionId: s.id, Reason: f.Reason, Culprits: f.Culprits,
		}}})
		return
	}
	res.SessionId = s.id
	s.send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Result{Result: res}})
}

func (s *session) execute(ctx context.Context) (res *mpcv1.SessionResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("recovered from panic in protocol", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = &Failure{Reason: "internal error in the protocol library"}
		}
	}()
	sorted, byDevice, err := s.participants()
	if err != nil {
		return nil, &Failure{Reason: err.Error()}
	}
	self := byDevice[s.self]
	peerCtx := tss.NewPeerContext(sorted)
	t := int(s.start.GetThreshold())
	out := make(chan tss.Message, 4*len(sorted))
	var party tss.Party
	var keygenEnd chan *keygen.LocalPartySaveData
	var signEnd chan *common.SignatureData
	var share *Share

	switch s.start.GetKind() {
	case mpcv1.SessionKind_SESSION_KIND_KEYGEN:
		if t < 1 || t >= len(sorted) {
			return nil, &Failure{Reason: "threshold does not fit the participant count"}
		}
		pre, err := s.deps.pool.Take(ctx)
		if err != nil {
			return nil, &Failure{Reason: err.Error()}
		}
		keygenEnd = make(chan *keygen.LocalPartySaveData, 1)
		params := tss.NewParameters(tss.S256(), peerCtx, self, len(sorted), t)
		party = keygen.NewLocalParty(params, out, keygenEnd, pre.Local())
	case mpcv1.SessionKind_SESSION_KIND_SIGN:
		if len(s.start.GetDigest()) != 32 {
			return nil, &Failure{Reason: "digest must be 32 bytes"}
		}
		share, err = s.deps.shares.load(s.start.GetKeyId(), s.start.GetEpoch())
		if err != nil {
			return nil, &Failure{Reason: fmt.Sprintf("no usable share of key %s epoch %d", s.start.GetKeyId(), s.start.GetEpoch())}
		}
		if len(sorted) != share.Meta.Threshold+1 {
			return nil, &Failure{Reason: fmt.Sprintf("a signature needs exactly %d signers", share.Meta.Threshold+1)}
		}
		holders := map[string]bool{}
		for _, h := range share.Meta.Holders {
			holders[h] = true
		}
		for _, p := range sorted {
			if !holders[p.Id] {
				return nil, &Failure{Reason: fmt.Sprintf("device %s does not hold this key", p.Id)}
			}
		}
		data, err := share.SaveData()
		if err != nil {
			return nil, err
		}
		signEnd = make(chan *common.SignatureData, 1)
		params := tss.NewParameters(tss.S256(), peerCtx, self, len(sorted), share.Meta.Threshold)
		digest := new(big.Int).SetBytes(s.start.GetDigest())
		party = signing.NewLocalParty(digest, params, data, out, signEnd, 32)
	default:
		return nil, &Failure{Reason: "unknown session kind"}
	}

	errCh := make(chan *tss.Error, 1)
	go func() {
		if err := party.Start(); err != nil {
			errCh <- err
		}
	}()
	var seq uint64
	emit := func(m tss.Message) error {
		seq++
		env, err := s.envelope(m, seq)
		if err != nil {
			return err
		}
		s.send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Message{Message: env}})
		return nil
	}
	// flush sends every message tss-lib has queued. It runs after each
	// Update and before a result is reported: the last round's outgoing
	// message and the result can be ready at the same moment, and a party that
	// reported without sending it would leave its peers waiting.
	flush := func() error {
		for {
			select {
			case m := <-out:
				if err := emit(m); err != nil {
					return err
				}
			default:
				return nil
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil, &Failure{Reason: "session deadline passed", Culprits: deviceIDs(party.WaitingFor())}
		case e := <-errCh:
			return nil, tssFailure(e)
		case m := <-out:
			if err := emit(m); err != nil {
				return nil, err
			}
		case in := <-s.inbox:
			from, ok := byDevice[in.GetFrom()]
			if !ok || from == self {
				s.log.Warn("dropped message from a non-participant", "from", in.GetFrom())
				continue
			}
			if _, err := party.UpdateFromBytes(in.GetPayload(), from, in.GetBroadcast()); err != nil {
				return nil, tssFailure(err)
			}
			if err := flush(); err != nil {
				return nil, err
			}
		case data := <-keygenEnd:
			if err := flush(); err != nil {
				return nil, err
			}
			return s.finishKeygen(sorted, t, data)
		case sig := <-signEnd:
			if err := flush(); err != nil {
				return nil, err
			}
			return s.finishSign(share, sig)
		}
	}
}

func (s *session) envelope(m tss.Message, seq uint64) (*mpcv1.SessionMessage, error) {
	payload, routing, err := m.WireBytes()
	if err != nil {
		return nil, fmt.Errorf("encode outgoing message: %w", err)
	}
	env := &mpcv1.SessionMessage{SessionId: s.id, From: s.self, Broadcast: routing.IsBroadcast, Payload: payload, Seq: seq}
	if !routing.IsBroadcast {
		env.To = deviceIDs(routing.To)
	}
	return env, nil
}

func (s *session) finishKeygen(sorted tss.SortedPartyIDs, t int, data *keygen.LocalPartySaveData) (*mpcv1.SessionResult, error) {
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
		Holders:   deviceIDs(sorted),
	}
	// Persist, then acknowledge: the result is sent only after the share is on disk.
	if err := s.deps.shares.save(meta, *data); err != nil {
		return nil, fmt.Errorf("store share: %w", err)
	}
	s.log.Info("key share stored", "key", meta.KeyID, "epoch", meta.Epoch)
	return &mpcv1.SessionResult{PublicKey: pub}, nil
}

func (s *session) finishSign(share *Share, sig *common.SignatureData) (*mpcv1.SessionResult, error) {
	if _, err := sigfmt.FinishECDSA(share.Meta.PublicKey, s.start.GetDigest(), sig.GetR(), sig.GetS()); err != nil {
		return nil, fmt.Errorf("signature check: %w", err)
	}
	return &mpcv1.SessionResult{PublicKey: share.Meta.PublicKey, R: sig.GetR(), S: sig.GetS()}, nil
}

func tssFailure(e *tss.Error) *Failure {
	f := &Failure{Reason: fmt.Sprintf("protocol error in %s round %d", e.Task(), e.Round())}
	f.Culprits = deviceIDs(e.Culprits())
	return f
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
