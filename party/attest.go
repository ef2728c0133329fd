package party

import (
	"errors"
	"math/big"
	"slices"

	"github.com/bnb-chain/tss-lib/v2/crypto"

	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/sigfmt"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	keycommit "github.com/mpcsign/mpcsign/resharing"
)

// attest signs this holder's statement about the share in rec, after it was
// stored: the key, curve, epoch, public key, chain code, threshold, the
// committee and this holder's public share point. Keygen's statements let
// wallets check a key without believing the coordinator; a reshare's are
// what old holders need before they erase (resharing.Certificate).
func attest(id *identity.Identity, self string, rec shareRecord) (*mpcv1.KeyAttestation, error) {
	curve, commitment, err := shareCommitment(rec)
	if err != nil {
		return nil, err
	}
	a := keycommit.Attestation{
		Version: 1, KeyID: rec.Meta.KeyID, Curve: curve, Epoch: rec.Meta.Epoch, PublicKey: rec.Meta.PublicKey,
		ChainCode: rec.Meta.ChainCode, Threshold: rec.Meta.Threshold, Committee: slices.Sorted(slices.Values(rec.Meta.Holders)),
		Holder: self, ShareCommitment: commitment,
	}
	sa, err := keycommit.Attest(a, id.Sign)
	if err != nil {
		return nil, err
	}
	return &mpcv1.KeyAttestation{Body: sa.Body, Signature: sa.Signature}, nil
}

// shareCommitment is this holder's public share point X_i = x_i·G, from
// the key data (the point whose index holds this party's own key).
func shareCommitment(rec shareRecord) (string, []byte, error) {
	var ks []*big.Int
	var xs []*crypto.ECPoint
	var own *big.Int
	if rec.EdData != nil {
		ks, xs, own = rec.EdData.Ks, rec.EdData.BigXj, rec.EdData.ShareID
	} else {
		ks, xs, own = rec.Data.Ks, rec.Data.BigXj, rec.Data.ShareID
	}
	for i, k := range ks {
		if k == nil || own == nil || k.Cmp(own) != 0 || i >= len(xs) || xs[i] == nil {
			continue
		}
		if rec.EdData != nil {
			b, err := sigfmt.Ed25519PublicKey(xs[i].X(), xs[i].Y())
			return keycommit.CurveEd25519, b, err
		}
		b, err := sigfmt.CompressPoint(xs[i].X(), xs[i].Y())
		return keycommit.CurveSecp256k1, b, err
	}
	return "", nil, errors.New("party: the key data has no public share for this party")
}
