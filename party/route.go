package party

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"sort"
	"strconv"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/mpcsign/mpcsign/internal/envelope"
	"github.com/mpcsign/mpcsign/internal/guard"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

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
	if f := maliciousSeal(r.s, h, payload); f != nil {
		// -tags malicious only (malicious_on.go): it sent an envelope its
		// recipient cannot open and, right behind it, a false accusation.
		r.sent = true
		return f
	}
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

func (r *runner) isPending(parsed tss.ParsedMessage) bool {
	for _, p := range r.pending {
		if p.parsed == parsed {
			return true
		}
	}
	return false
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
