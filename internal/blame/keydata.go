package blame

import (
	"encoding/json"
	"errors"
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/crypto"
	"github.com/bnb-chain/tss-lib/v2/crypto/paillier"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

// KeyPublic is the public part of an ECDSA key's tss-lib data, identical at
// every holder of one epoch: what a judge of a signing session needs. Each
// holder reports it with its keygen or reshare result; the coordinator
// keeps it only when every holder reported the same.
type KeyPublic struct {
	Ks         []*big.Int    `json:"ks"`
	PaillierNs []*big.Int    `json:"paillier_n"`
	NTildej    []*big.Int    `json:"ntilde"`
	H1j        []*big.Int    `json:"h1"`
	H2j        []*big.Int    `json:"h2"`
	BigXj      [][2]*big.Int `json:"big_xj"`
	ECDSAPub   [2]*big.Int   `json:"ecdsa_pub"`
}

// MaxKeyPublic bounds an encoded KeyPublic a device may report.
const MaxKeyPublic = 1 << 20

// PublicOf is the public part of a holder's save data.
func PublicOf(d keygen.LocalPartySaveData) (KeyPublic, error) {
	if d.ECDSAPub == nil || len(d.Ks) == 0 || len(d.PaillierPKs) != len(d.Ks) || len(d.BigXj) != len(d.Ks) ||
		len(d.NTildej) != len(d.Ks) || len(d.H1j) != len(d.Ks) || len(d.H2j) != len(d.Ks) {
		return KeyPublic{}, errors.New("blame: incomplete key data")
	}
	p := KeyPublic{Ks: d.Ks, NTildej: d.NTildej, H1j: d.H1j, H2j: d.H2j, ECDSAPub: [2]*big.Int{d.ECDSAPub.X(), d.ECDSAPub.Y()}}
	for i := range d.Ks {
		if d.PaillierPKs[i] == nil || d.BigXj[i] == nil {
			return KeyPublic{}, errors.New("blame: incomplete key data")
		}
		p.PaillierNs = append(p.PaillierNs, d.PaillierPKs[i].N)
		p.BigXj = append(p.BigXj, [2]*big.Int{d.BigXj[i].X(), d.BigXj[i].Y()})
	}
	return p, nil
}

// Marshal encodes p canonically (equal data, equal bytes).
func (p KeyPublic) Marshal() ([]byte, error) { return json.Marshal(p) }

// UnmarshalKeyPublic decodes what Marshal made.
func UnmarshalKeyPublic(b []byte) (KeyPublic, error) {
	var p KeyPublic
	if len(b) > MaxKeyPublic {
		return p, errors.New("blame: key data too large")
	}
	err := json.Unmarshal(b, &p)
	return p, err
}

// SaveData is p as tss-lib save data with only the public fields set: no
// share, no Paillier secret, no pre-parameters.
func (p KeyPublic) SaveData() (keygen.LocalPartySaveData, error) {
	n := len(p.Ks)
	if n == 0 || len(p.PaillierNs) != n || len(p.NTildej) != n || len(p.H1j) != n || len(p.H2j) != n || len(p.BigXj) != n {
		return keygen.LocalPartySaveData{}, errors.New("blame: inconsistent key data")
	}
	d := keygen.NewLocalPartySaveData(n)
	d.Ks, d.NTildej, d.H1j, d.H2j = p.Ks, p.NTildej, p.H1j, p.H2j
	for i := range n {
		if p.Ks[i] == nil || p.PaillierNs[i] == nil || p.NTildej[i] == nil || p.H1j[i] == nil || p.H2j[i] == nil {
			return keygen.LocalPartySaveData{}, errors.New("blame: inconsistent key data")
		}
		d.PaillierPKs[i] = &paillier.PublicKey{N: p.PaillierNs[i]}
		pt, err := crypto.NewECPoint(tss.S256(), p.BigXj[i][0], p.BigXj[i][1])
		if err != nil {
			return keygen.LocalPartySaveData{}, err
		}
		d.BigXj[i] = pt
	}
	pub, err := crypto.NewECPoint(tss.S256(), p.ECDSAPub[0], p.ECDSAPub[1])
	if err != nil {
		return keygen.LocalPartySaveData{}, err
	}
	d.ECDSAPub = pub
	return d, nil
}
