package party

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
	edkeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	edresharing "github.com/bnb-chain/tss-lib/v2/eddsa/resharing"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"google.golang.org/protobuf/proto"

	"github.com/mpcsign/mpcsign/internal/guard"
	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/sigfmt"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// reshareProtocol moves a key to a new committee (and threshold): a device
// runs one tss-lib party per committee it is in, ECDSA on secp256k1 (a new
// holder with a pre-parameter set from the pool) or EdDSA on Ed25519.
type reshareProtocol struct {
	s *session
	// the new holder's key data once its party ended (one per curve)
	data   *keygen.LocalPartySaveData
	edData *edkeygen.LocalPartySaveData
}

// forget is the end of an old holder's party: it ends with nothing to keep,
// its share (a copy) was zeroed; the stored one goes when the coordinator
// says the new epoch is committed.
func forget[T any](T) {}

func (p *reshareProtocol) start(ctx context.Context, r *runner) (guard.Params, error) {
	s := p.s
	t, nt := int(s.start.GetThreshold()), int(s.start.GetNewThreshold())
	oldC, newC := s.committees[roleOld], s.committees[roleNew]
	oldCtx, newCtx := tss.NewPeerContext(oldC.sorted), tss.NewPeerContext(newC.sorted)
	curve := tss.S256()
	if s.isEd25519() {
		curve = tss.Edwards()
	}
	params := func(self *tss.PartyID) *tss.ReSharingParameters {
		return tss.NewReSharingParameters(curve, oldCtx, newCtx, self, len(oldC.sorted), t, len(newC.sorted), nt)
	}
	if s.isEd25519() {
		if self := oldC.byDevice[s.self]; self != nil {
			data, err := s.share.EdSaveData() // a deep copy: the library zeroes it
			if err != nil {
				return guard.Params{}, err
			}
			r.addParty(roleOld, self, edresharing.NewLocalParty(params(self), data, r.out, watchEnd(r, roleOld, forget[*edkeygen.LocalPartySaveData])))
		}
		if self := newC.byDevice[s.self]; self != nil {
			end := watchEnd(r, roleNew, func(d *edkeygen.LocalPartySaveData) { p.edData = d })
			r.addParty(roleNew, self, edresharing.NewLocalParty(params(self), edkeygen.NewLocalPartySaveData(len(newC.sorted)), r.out, end))
		}
		return guard.Params{Protocol: guard.ReshareEdDSA, Threshold: t, PartyCount: len(oldC.sorted), NewThreshold: nt, NewPartyCount: len(newC.sorted)}, nil
	}
	if self := oldC.byDevice[s.self]; self != nil {
		// The library zeroes the share inside the data it is given:
		// it gets a deep copy, never the stored record.
		data, err := s.share.SaveData()
		if err != nil {
			return guard.Params{}, err
		}
		r.addParty(roleOld, self, resharing.NewLocalParty(params(self), data, r.out, watchEnd(r, roleOld, forget[*keygen.LocalPartySaveData])))
	}
	if self := newC.byDevice[s.self]; self != nil {
		pre, err := s.deps.pool.Take(ctx)
		if err != nil {
			return guard.Params{}, &Failure{Reason: err.Error()}
		}
		r.taken = pre
		s.log.Info("took pre-parameter set from pool")
		data := keygen.NewLocalPartySaveData(len(newC.sorted))
		data.LocalPreParams = pre.Local()
		end := watchEnd(r, roleNew, func(d *keygen.LocalPartySaveData) { p.data = d })
		r.addParty(roleNew, self, resharing.NewLocalParty(params(self), data, r.out, end))
		r.moduli = map[string]string{moduliKey(pre.Local().PaillierSK.N.Bytes()): s.self, moduliKey(pre.Local().NTildei.Bytes()): s.self}
	}
	return guard.Params{Protocol: guard.ReshareECDSA, Threshold: t, PartyCount: len(oldC.sorted), NewThreshold: nt, NewPartyCount: len(newC.sorted)}, nil
}

func (p *reshareProtocol) learn(*guard.Session) error { return nil }

// accuses: a malicious build accuses falsely in keygen and signing only.
func (p *reshareProtocol) accuses() []string { return nil }

func (p *reshareProtocol) finish(ctx context.Context, _ *runner) (*mpcv1.SessionResult, error) {
	return p.s.finishReshare(ctx, p.data, p.edData)
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
		if err := s.loadOldShare(t, oldC); err != nil {
			return err
		}
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

// loadOldShare loads an old holder's committed share of the current epoch
// and checks it is the one the reshare names: threshold, curve, chain code
// and holders.
func (s *session) loadOldShare(t int, oldC committee) error {
	st := s.start
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
	return nil
}

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

// maxEpochStep bounds how far a reshare's new epoch may be above the
// current one (each abandoned attempt skips a number, so it is rarely more
// than a few): a coordinator cannot jump to the top of the range and leave
// the key unable to be reshared again.
const maxEpochStep = 1 << 20
