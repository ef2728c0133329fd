package party

import (
	"context"
	"fmt"
	"slices"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	edkeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/mpcsign/mpcsign/internal/blame"
	"github.com/mpcsign/mpcsign/internal/guard"
	"github.com/mpcsign/mpcsign/internal/hd"
	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/sigfmt"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// keygenProtocol makes a new key: one tss-lib party per device, ECDSA on
// secp256k1 (with a pre-parameter set from the pool) or EdDSA on Ed25519.
type keygenProtocol struct {
	s *session
	// the key data of this device's party once it ended (one per curve)
	data   *keygen.LocalPartySaveData
	edData *edkeygen.LocalPartySaveData
}

func (k *keygenProtocol) start(ctx context.Context, r *runner) (guard.Params, error) {
	s := k.s
	t := int(s.start.GetThreshold())
	c := s.committees[roleMain]
	self := c.byDevice[s.self]
	if s.isEd25519() {
		// EdDSA keygen needs no Paillier pre-parameters.
		end := watchEnd(r, roleMain, func(d *edkeygen.LocalPartySaveData) { k.edData = d })
		r.addParty(roleMain, self, edkeygen.NewLocalParty(tss.NewParameters(tss.Edwards(), tss.NewPeerContext(c.sorted), self, len(c.sorted), t), r.out, end))
		return guard.Params{Protocol: guard.KeygenEdDSA, Threshold: t, PartyCount: len(c.sorted)}, nil
	}
	pre, err := s.deps.pool.Take(ctx)
	if err != nil {
		return guard.Params{}, &Failure{Reason: err.Error()}
	}
	r.taken = pre
	s.log.Info("took pre-parameter set from pool")
	end := watchEnd(r, roleMain, func(d *keygen.LocalPartySaveData) { k.data = d })
	r.addParty(roleMain, self, keygen.NewLocalParty(tss.NewParameters(tss.S256(), tss.NewPeerContext(c.sorted), self, len(c.sorted), t), r.out, end, pre.Local()))
	r.moduli = map[string]string{moduliKey(pre.Local().PaillierSK.N.Bytes()): s.self, moduliKey(pre.Local().NTildei.Bytes()): s.self}
	return guard.Params{Protocol: guard.KeygenECDSA, Threshold: t, PartyCount: len(c.sorted)}, nil
}

func (k *keygenProtocol) learn(*guard.Session) error { return nil }

func (k *keygenProtocol) accuses() []string { return maliciousAccuses(k.s.self, k.s.members) }

func (k *keygenProtocol) finish(_ context.Context, r *runner) (*mpcv1.SessionResult, error) {
	return k.s.finishKeygen(int(k.s.start.GetThreshold()), k.data, k.edData, r.es.ID)
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
