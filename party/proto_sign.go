package party

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	edsigning "github.com/bnb-chain/tss-lib/v2/eddsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/mpcsign/mpcsign/internal/guard"
	"github.com/mpcsign/mpcsign/internal/hd"
	"github.com/mpcsign/mpcsign/internal/sigfmt"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	keycommit "github.com/mpcsign/mpcsign/resharing"
)

// signProtocol signs with a key: one tss-lib party per signer, ECDSA on
// secp256k1 (of the key, or of its BIP32 child at the session's path) or
// EdDSA on Ed25519.
type signProtocol struct {
	s *session
	// pub is the key the signature verifies under (derived, with a path).
	pub []byte
	// sig is the signature once this device's party ended.
	sig *common.SignatureData
}

func (p *signProtocol) start(_ context.Context, r *runner) (guard.Params, error) {
	s := p.s
	t := int(s.start.GetThreshold())
	c := s.committees[roleMain]
	end := watchEnd(r, roleMain, func(sig *common.SignatureData) { p.sig = sig })
	self := c.byDevice[s.self]
	p.pub = s.share.Meta.PublicKey
	if s.isEd25519() {
		data, err := s.share.EdSaveData()
		if err != nil {
			return guard.Params{}, err
		}
		// v2.0.2 drops the message's leading zero bytes unless told its length.
		msg := s.start.GetMessage()
		r.addParty(roleMain, self, edsigning.NewLocalParty(new(big.Int).SetBytes(msg), tss.NewParameters(tss.Edwards(), tss.NewPeerContext(c.sorted), self, len(c.sorted), t), data, r.out, end, len(msg)))
		return guard.Params{Protocol: guard.SignEdDSA, Threshold: t, PartyCount: len(c.sorted)}, nil
	}
	data, err := s.share.SaveData()
	if err != nil {
		return guard.Params{}, err
	}
	var delta *big.Int
	if s.path != nil {
		if data, delta, p.pub, err = derive(s.share, data, s.path); err != nil {
			return guard.Params{}, err
		}
	}
	digest := new(big.Int).SetBytes(s.start.GetDigest())
	r.addParty(roleMain, self, signing.NewLocalPartyWithKDD(digest, tss.NewParameters(tss.S256(), tss.NewPeerContext(c.sorted), self, len(c.sorted), t), data, delta, r.out, end, 32))
	return guard.Params{Protocol: guard.SignECDSA, Threshold: t, PartyCount: len(c.sorted)}, nil
}

// learn: the guard checks each signer's ciphertexts against that signer's
// Paillier modulus from the key data (v2.0.2 would panic on some of them in
// a goroutine of its own, beyond any recover); in EdDSA, that only holders
// of the key send.
func (p *signProtocol) learn(gs *guard.Session) error {
	if p.s.isEd25519() {
		data, err := p.s.share.EdSaveData()
		if err != nil {
			return err
		}
		return gs.LearnKeyEdDSA(data)
	}
	data, err := p.s.share.SaveData()
	if err != nil {
		return err
	}
	return gs.LearnKey(data)
}

func (p *signProtocol) accuses() []string { return maliciousAccuses(p.s.self, p.s.members) }

func (p *signProtocol) finish(context.Context, *runner) (*mpcv1.SessionResult, error) {
	return p.s.finishSign(p.sig, p.pub)
}

// prepareSign checks a signing request: the digest or message fits the
// curve, this device holds a usable share of the key and epoch (a pending
// one only for a reshare's test signature), a derivation path is usable,
// and the signers are exactly the threshold plus one holders of the key.
func (s *session) prepareSign(t int, keyPubs map[string][]byte) error {
	if s.isEd25519() {
		if n := len(s.start.GetMessage()); n == 0 || n > sigfmt.MaxMessage || len(s.start.GetDigest()) != 0 || s.start.GetDerivationPath() != "" {
			return fmt.Errorf("an Ed25519 signature takes a message of 1 to %d bytes, and no digest or path", sigfmt.MaxMessage)
		}
	} else if len(s.start.GetDigest()) != 32 || len(s.start.GetMessage()) != 0 {
		return errors.New("digest must be 32 bytes")
	}
	var share *Share
	var err error
	if nonce := s.start.GetTestNonce(); len(nonce) > 0 {
		// A reshare's test signature with the pending shares: they sign
		// the labelled test digest of this key and epoch, and nothing else.
		want, derr := keycommit.TestDigest(s.start.GetKeyId(), s.start.GetEpoch(), nonce)
		got := s.start.GetDigest()
		if s.isEd25519() {
			got = s.start.GetMessage()
		}
		if derr != nil || !bytes.Equal(got, want) {
			return errors.New("a test signature signs only the reshare test digest of its key and epoch")
		}
		share, err = s.deps.shares.loadPending(s.start.GetKeyId(), s.start.GetEpoch())
	} else {
		share, err = s.deps.shares.load(s.start.GetKeyId(), s.start.GetEpoch())
	}
	if errors.Is(err, ErrRetiredEpoch) {
		return err
	}
	if err != nil {
		return fmt.Errorf("no usable share of key %s epoch %d", s.start.GetKeyId(), s.start.GetEpoch())
	}
	if err := s.checkCurve(share); err != nil {
		return err
	}
	if p := s.start.GetDerivationPath(); p != "" {
		// The device derives the tweak itself, from the path and the
		// chain code it stored at keygen: the coordinator never supplies it.
		if s.path, err = hd.ParsePath(p); err != nil {
			return err
		}
		if len(s.path) == 0 {
			return errors.New("the derivation path names the root key; sign without a path")
		}
		if len(share.Meta.ChainCode) != 32 {
			return fmt.Errorf("key %s has no chain code (made before derivation existed)", share.Meta.KeyID)
		}
	}
	if t != share.Meta.Threshold || len(s.members) != t+1 {
		return fmt.Errorf("a signature needs exactly %d signers", share.Meta.Threshold+1)
	}
	c := newCommittee(s.members, keyPubs, s.start.GetEpoch())
	if err := share.holds(c.sorted); err != nil {
		return err
	}
	s.share = share
	s.committees[roleMain] = c
	return nil
}

// finishSign checks the signature under pub (the key, or the derived key of
// the session's path) before it leaves the device.
func (s *session) finishSign(sig *common.SignatureData, pub []byte) (*mpcv1.SessionResult, error) {
	res := &mpcv1.SessionResult{PublicKey: pub}
	if s.isEd25519() {
		if err := sigfmt.FinishEd25519(pub, s.start.GetMessage(), sig.GetSignature()); err != nil {
			return nil, fmt.Errorf("signature check: %w", err)
		}
		res.Signature = sig.GetSignature()
	} else {
		if _, err := sigfmt.FinishECDSA(pub, s.start.GetDigest(), sig.GetR(), sig.GetS()); err != nil {
			return nil, fmt.Errorf("signature check: %w", err)
		}
		res.R, res.S = sig.GetR(), sig.GetS()
	}
	// The signature was counted against the limits when it was approved.
	return res, nil
}

// derive adjusts a copy of a secp256k1 share's key data to the BIP32 child
// at path: the public key becomes the child's and every party's public
// share is shifted by delta·G. It returns the data, delta and the child key.
func derive(share *Share, data keygen.LocalPartySaveData, path []uint32) (keygen.LocalPartySaveData, *big.Int, []byte, error) {
	d, err := hd.Derive(share.Meta.PublicKey, share.Meta.ChainCode, path)
	if err != nil {
		return data, nil, nil, err
	}
	if d.Delta.Sign() == 0 {
		return data, nil, nil, errors.New("the derivation path names the root key")
	}
	child, err := secp256k1.ParsePubKey(d.PublicKey)
	if err != nil {
		return data, nil, nil, err
	}
	keys := []keygen.LocalPartySaveData{data}
	if err := signing.UpdatePublicKeyAndAdjustBigXj(d.Delta, keys, &ecdsa.PublicKey{Curve: tss.S256(), X: child.X(), Y: child.Y()}, tss.S256()); err != nil {
		return data, nil, nil, fmt.Errorf("derive the child key: %w", err)
	}
	return keys[0], d.Delta, d.PublicKey, nil
}
