package blame

import (
	"encoding/json"
	"errors"
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/crypto"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

// EdKeyPublic is the public part of an EdDSA key's tss-lib data, identical
// at every holder of one epoch: what a judge of an EdDSA signing session
// needs (the party keys and every holder's public share X_j = x_j*G), and
// the key's public key. Like KeyPublic, each holder reports it with its
// keygen or reshare result; the coordinator keeps it only when every
// holder reported the same.
type EdKeyPublic struct {
	Ks       []*big.Int    `json:"ks"`
	BigXj    [][2]*big.Int `json:"big_xj"`
	EDDSAPub [2]*big.Int   `json:"eddsa_pub"`
}

var errEdKeyData = errors.New("blame: inconsistent EdDSA key data")

// PublicOfEdDSA is the public part of a holder's EdDSA save data (Ks,
// BigXj, EDDSAPub; never Xi or ShareID).
func PublicOfEdDSA(d eddsakeygen.LocalPartySaveData) (EdKeyPublic, error) {
	if d.EDDSAPub == nil || len(d.Ks) == 0 || len(d.BigXj) != len(d.Ks) {
		return EdKeyPublic{}, errors.New("blame: incomplete EdDSA key data")
	}
	p := EdKeyPublic{EDDSAPub: [2]*big.Int{d.EDDSAPub.X(), d.EDDSAPub.Y()}}
	for i := range d.Ks {
		if d.Ks[i] == nil || d.BigXj[i] == nil {
			return EdKeyPublic{}, errors.New("blame: incomplete EdDSA key data")
		}
		p.Ks = append(p.Ks, new(big.Int).Set(d.Ks[i]))
		p.BigXj = append(p.BigXj, [2]*big.Int{d.BigXj[i].X(), d.BigXj[i].Y()})
	}
	return p, nil
}

// Marshal encodes p canonically (equal data, equal bytes).
func (p EdKeyPublic) Marshal() ([]byte, error) { return json.Marshal(p) }

// UnmarshalEdKeyPublic decodes what Marshal made (at most MaxKeyPublic
// bytes).
func UnmarshalEdKeyPublic(b []byte) (EdKeyPublic, error) {
	var p EdKeyPublic
	if len(b) > MaxKeyPublic {
		return p, errors.New("blame: key data too large")
	}
	err := json.Unmarshal(b, &p)
	return p, err
}

// SaveData is p as tss-lib EdDSA save data with only the public fields
// set: no share, no ShareID. Every point must be on Ed25519 and every
// party key positive. It never panics on untrusted data.
func (p EdKeyPublic) SaveData() (d eddsakeygen.LocalPartySaveData, err error) {
	defer func() {
		if recover() != nil {
			d, err = eddsakeygen.LocalPartySaveData{}, errEdKeyData
		}
	}()
	n := len(p.Ks)
	if n == 0 || len(p.BigXj) != n {
		return d, errEdKeyData
	}
	d = eddsakeygen.NewLocalPartySaveData(n)
	for i := range n {
		if p.Ks[i] == nil || p.Ks[i].Sign() <= 0 {
			return eddsakeygen.LocalPartySaveData{}, errEdKeyData
		}
		d.Ks[i] = new(big.Int).Set(p.Ks[i])
		if d.BigXj[i], err = edPoint(p.BigXj[i]); err != nil {
			return eddsakeygen.LocalPartySaveData{}, err
		}
	}
	if d.EDDSAPub, err = edPoint(p.EDDSAPub); err != nil {
		return eddsakeygen.LocalPartySaveData{}, err
	}
	return d, nil
}

// edPoint is xy as an Ed25519 point: coordinates below the field prime,
// on the curve.
func edPoint(xy [2]*big.Int) (*crypto.ECPoint, error) {
	prime := tss.Edwards().Params().P
	for _, c := range xy {
		if c == nil || c.Sign() < 0 || c.Cmp(prime) >= 0 {
			return nil, errEdKeyData
		}
	}
	pt, err := crypto.NewECPoint(tss.Edwards(), new(big.Int).Set(xy[0]), new(big.Int).Set(xy[1]))
	if err != nil {
		return nil, errEdKeyData
	}
	return pt, nil
}
