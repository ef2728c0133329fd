package rawtss

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"slices"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/mpcsign/mpcsign/internal/hd"
)

// SignDerived signs a 32-byte digest with the first t+1 parties under the
// key's child at path (BIP32 non-hardened derivation with chainCode, see
// internal/hd). It returns the signature and the child's 33-byte compressed
// public key, which the signature verifies against.
//
// This is how a party signs for a derived key with tss-lib v2.0.2: each
// signer adds Delta to its share (NewLocalPartyWithKDD), and its key data
// must already name the child public key and the shifted BigXj
// (UpdatePublicKeyAndAdjustBigXj): both go into the session's ssid and the
// final check. That function rewrites BigXj in place, so it is given a copy.
func (k *Key) SignDerived(ctx context.Context, digest, chainCode []byte, path []uint32) (*common.SignatureData, []byte, error) {
	if len(digest) != 32 {
		return nil, nil, errors.New("rawtss: digest must be 32 bytes")
	}
	root, err := secp256k1.ParsePubKey(k.rootPub())
	if err != nil {
		return nil, nil, err
	}
	d, err := hd.Derive(root.SerializeCompressed(), chainCode, path)
	if err != nil {
		return nil, nil, err
	}
	child, err := secp256k1.ParsePubKey(d.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	childPub := &ecdsa.PublicKey{Curve: tss.S256(), X: child.X(), Y: child.Y()}

	n := k.Threshold + 1
	ids := tss.SortPartyIDs(k.IDs[:n].ToUnSorted())
	pc := tss.NewPeerContext(ids)
	out := make(chan tss.Message, 64*n)
	end := make(chan *common.SignatureData, n)
	errCh := make(chan *tss.Error, n)
	m := new(big.Int).SetBytes(digest)
	var parties []tss.Party
	for i, id := range ids {
		data := k.Data[i]
		data.BigXj = slices.Clone(data.BigXj)
		adjusted := []keygen.LocalPartySaveData{data}
		if err := signing.UpdatePublicKeyAndAdjustBigXj(d.Delta, adjusted, childPub, tss.S256()); err != nil {
			return nil, nil, err
		}
		params := tss.NewParameters(tss.S256(), pc, id, n, k.Threshold)
		parties = append(parties, signing.NewLocalPartyWithKDD(m, params, adjusted[0], d.Delta, out, end, 32))
	}
	var sig *common.SignatureData
	finished := collect(n, end, func(s *common.SignatureData) { sig = s })
	if err := run(ctx, parties, out, finished, errCh); err != nil {
		return nil, nil, err
	}
	return sig, d.PublicKey, nil
}

// rootPub is the key's public key, compressed.
func (k *Key) rootPub() []byte {
	p := k.Data[0].ECDSAPub
	var x, y secp256k1.FieldVal
	x.SetByteSlice(p.X().Bytes())
	y.SetByteSlice(p.Y().Bytes())
	return secp256k1.NewPublicKey(&x, &y).SerializeCompressed()
}
