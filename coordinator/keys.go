package coordinator

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/mpcsign/mpcsign/internal/address"
	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/hd"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

func curveProto(k Key) mpcv1.Curve {
	if k.IsEd25519() {
		return mpcv1.Curve_CURVE_ED25519
	}
	return mpcv1.Curve_CURVE_SECP256K1
}

// addresses of a public key of the key's curve. A key that has none (an
// unexpected encoding) shows none rather than failing the whole listing.
func addresses(curve string, pub []byte) *mpcv1.Addresses {
	if curve == curveEd25519 {
		return &mpcv1.Addresses{Ed25519PublicKey: hex.EncodeToString(pub)}
	}
	a := &mpcv1.Addresses{}
	if eth, err := address.Ethereum(pub); err == nil {
		a.Ethereum = eth
	}
	if btc, err := address.BitcoinP2WPKH(pub, "mainnet"); err == nil {
		a.BitcoinP2Wpkh = btc
	}
	return a
}

// derive is the public key and addresses of the key's child at path.
func derive(k Key, path string) (*mpcv1.DerivedKey, error) {
	if k.IsEd25519() {
		return nil, invalidArg("derivation paths are for secp256k1 keys; key %s is Ed25519", k.ID)
	}
	if len(k.ChainCode) != 32 {
		return nil, failedPrecondition("key %s has no chain code (it was made before derivation existed)", k.ID)
	}
	steps, err := hd.ParsePath(path)
	if err != nil {
		return nil, invalidArg("path: %v", err)
	}
	d, err := hd.Derive(k.PublicKey, k.ChainCode, steps)
	if err != nil {
		return nil, invalidArg("path %s: %v", path, err)
	}
	return &mpcv1.DerivedKey{Path: hd.FormatPath(steps), PublicKey: d.PublicKey, Addresses: addresses(k.Curve, d.PublicKey)}, nil
}

// SetDerivationOnly marks a secp256k1 key so that its root key never signs
// directly, or lifts the mark.
func (s *Server) SetDerivationOnly(ctx context.Context, req *mpcv1.SetDerivationOnlyRequest) (*mpcv1.SetDerivationOnlyResponse, error) {
	k, err := s.getKey(req.GetKeyId())
	if err != nil {
		return nil, err
	}
	on := req.GetDerivationOnly()
	if on && k.IsEd25519() {
		return nil, invalidArg("key %s is Ed25519: it has no derivation, so it cannot be derivation-only", k.ID)
	}
	if on && len(k.ChainCode) != 32 {
		return nil, failedPrecondition("key %s has no chain code (it was made before derivation existed): it could never sign again", k.ID)
	}
	entry := auditlog.Entry{Action: "key.derivation-only", KeyID: k.ID, Detail: fmt.Sprintf("derivation-only %t", on)}
	k, err = s.updateKeyAudited(ctx, k.ID, func(k *Key) error { k.DerivationOnly = on; return nil }, &entry)
	if err != nil {
		return nil, err
	}
	return &mpcv1.SetDerivationOnlyResponse{Key: s.keyProto(k)}, nil
}
