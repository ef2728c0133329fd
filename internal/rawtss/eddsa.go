package rawtss

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/crypto"
	"github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/eddsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/mpcsign/mpcsign/internal/sigfmt"
)

// EdDSAKey is the result of an in-process Ed25519 keygen.
type EdDSAKey struct {
	IDs       tss.SortedPartyIDs
	Data      []keygen.LocalPartySaveData
	Threshold int
}

// KeygenEdDSA runs an Ed25519 keygen between n parties with threshold t
// (any t+1 sign), 1 <= t < n. EdDSA keygen needs no pre-parameters.
func KeygenEdDSA(ctx context.Context, n, t int) (*EdDSAKey, error) {
	if t < 1 || t >= n {
		return nil, fmt.Errorf("rawtss: want 1 <= t < n, got t=%d n=%d", t, n)
	}
	ids := partyIDs(n)
	pc := tss.NewPeerContext(ids)
	out := make(chan tss.Message, 64*n)
	end := make(chan *keygen.LocalPartySaveData, n)
	errCh := make(chan *tss.Error, n)
	var parties []tss.Party
	for _, id := range ids {
		parties = append(parties, keygen.NewLocalParty(tss.NewParameters(tss.Edwards(), pc, id, n, t), out, end))
	}
	key := &EdDSAKey{IDs: ids, Data: make([]keygen.LocalPartySaveData, n), Threshold: t}
	var idxErr error
	finished := collect(n, end, func(d *keygen.LocalPartySaveData) {
		idx, err := d.OriginalIndex()
		if err != nil {
			idxErr = err
			return
		}
		key.Data[idx] = *d
	})
	if err := run(ctx, parties, out, finished, errCh); err != nil {
		return nil, err
	}
	if idxErr != nil {
		return nil, idxErr
	}
	return key, nil
}

// PublicKey is the key's standard 32-byte Ed25519 public key.
func (k *EdDSAKey) PublicKey() ([]byte, error) {
	return EdDSAPublicKey(k.Data[0].EDDSAPub)
}

// EdDSAPublicKey encodes tss-lib's EdDSA group public key (an affine point)
// as a standard 32-byte Ed25519 public key (see sigfmt.Ed25519PublicKey).
func EdDSAPublicKey(p *crypto.ECPoint) ([]byte, error) {
	if p == nil {
		return nil, errors.New("rawtss: no EdDSA public key")
	}
	return sigfmt.Ed25519PublicKey(p.X(), p.Y())
}

// SignEdDSA signs msg (the whole message: Ed25519 hashes it) with the first
// t+1 parties and returns the standard 64-byte signature R || S.
func SignEdDSA(ctx context.Context, key *EdDSAKey, msg []byte) ([]byte, error) {
	if key == nil || key.Threshold < 1 || key.Threshold >= len(key.IDs) || len(key.Data) != len(key.IDs) {
		return nil, errors.New("rawtss: not a complete EdDSA key")
	}
	n := key.Threshold + 1
	ids := tss.SortPartyIDs(key.IDs[:n].ToUnSorted())
	pc := tss.NewPeerContext(ids)
	out := make(chan tss.Message, 64*n)
	end := make(chan *common.SignatureData, n)
	errCh := make(chan *tss.Error, n)
	// tss-lib takes the message as an integer; without its full length it
	// would drop leading zero bytes and sign a different message.
	m := new(big.Int).SetBytes(msg)
	var parties []tss.Party
	for i, id := range ids {
		parties = append(parties, signing.NewLocalParty(m, tss.NewParameters(tss.Edwards(), pc, id, n, key.Threshold), key.Data[i], out, end, len(msg)))
	}
	var sig *common.SignatureData
	finished := collect(n, end, func(s *common.SignatureData) { sig = s })
	if err := run(ctx, parties, out, finished, errCh); err != nil {
		return nil, err
	}
	// SignatureData.Signature is already R || S in the standard
	// little-endian encoding (its R and S fields are big-endian readings).
	if len(sig.GetSignature()) != 64 {
		return nil, fmt.Errorf("rawtss: tss-lib returned a %d-byte EdDSA signature", len(sig.GetSignature()))
	}
	return sig.GetSignature(), nil
}
