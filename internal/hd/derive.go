package hd

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"math/big"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

const (
	// PubKeyLen is the length of a compressed SEC1 secp256k1 public key.
	PubKeyLen = secp256k1.PubKeyBytesLenCompressed
	// ChainCodeLen is the length of a BIP32 chain code.
	ChainCodeLen = 32

	chainCodeLabel = "mpcsign/v1/bip32-chain-code"
)

// Derived is a child key reached from a root key by a non-hardened path.
type Derived struct {
	// Delta is the additive tweak in [0, n): child private key = root
	// private key + Delta mod n, child public key = root + Delta*G. It is
	// the keyDerivationDelta of tss-lib's ecdsa/signing.NewLocalPartyWithKDD.
	// It is public to whoever knows the chain code, not a secret.
	Delta *big.Int
	// PublicKey is the 33-byte compressed child public key.
	PublicKey []byte
	// ChainCode is the child's 32-byte chain code.
	ChainCode []byte
}

// Derive follows path from the extended public key (pub, chainCode) by BIP32
// public derivation (CKDpub). pub is a 33-byte compressed secp256k1 key and
// chainCode 32 bytes; a bad one is an error wrapping ErrInvalidKey. path has
// at most MaxDepth steps, all below 2^31 (else ErrInvalidPath or
// ErrHardened). An empty path gives the root itself with Delta 0.
//
// A step whose IL is >= n or whose child is the point at infinity (BIP32's
// invalid child, probability below 2^-127 per step) is an error wrapping
// ErrInvalidChild that names the step; BIP32 says to use the next index
// instead, which is the caller's choice to make. (An IL of 0 is valid per
// BIP32 and gives the parent key; tss-lib's ckd package refuses it. It does
// not happen in practice: probability 2^-256.)
func Derive(pub, chainCode []byte, path []uint32) (Derived, error) {
	if len(pub) != PubKeyLen {
		return Derived{}, fmt.Errorf("%w: want a %d-byte compressed public key, got %d bytes", ErrInvalidKey, PubKeyLen, len(pub))
	}
	if pub[0] != secp256k1.PubKeyFormatCompressedEven && pub[0] != secp256k1.PubKeyFormatCompressedOdd {
		return Derived{}, fmt.Errorf("%w: public key is not in compressed form (prefix 0x%02x)", ErrInvalidKey, pub[0])
	}
	parent, err := secp256k1.ParsePubKey(pub)
	if err != nil {
		return Derived{}, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	if len(chainCode) != ChainCodeLen {
		return Derived{}, fmt.Errorf("%w: want a %d-byte chain code, got %d bytes", ErrInvalidKey, ChainCodeLen, len(chainCode))
	}
	if len(path) > MaxDepth {
		return Derived{}, fmt.Errorf("%w: %d steps, more than %d", ErrInvalidPath, len(path), MaxDepth)
	}
	for n, i := range path {
		if i >= HardenedStart {
			return Derived{}, fmt.Errorf("%w: step %d (index %d >= 2^31) is hardened; that needs the parent private key, which no one holds: use non-hardened steps only", ErrHardened, n+1, i)
		}
	}

	var (
		point secp256k1.JacobianPoint
		delta secp256k1.ModNScalar
		code  = append([]byte(nil), chainCode...)
		ser   = parent.SerializeCompressed()
		data  [PubKeyLen + 4]byte
	)
	parent.AsJacobian(&point)
	for n, i := range path {
		copy(data[:], ser)
		binary.BigEndian.PutUint32(data[PubKeyLen:], i)
		mac := hmac.New(sha512.New, code)
		mac.Write(data[:])
		sum := mac.Sum(nil)

		var il secp256k1.ModNScalar
		if overflow := il.SetByteSlice(sum[:32]); overflow {
			return Derived{}, fmt.Errorf("%w: at step %d (index %d) IL >= n; use another index", ErrInvalidChild, n+1, i)
		}
		var ilG, child secp256k1.JacobianPoint
		secp256k1.ScalarBaseMultNonConst(&il, &ilG)
		secp256k1.AddNonConst(&ilG, &point, &child)
		if isInfinity(&child) {
			return Derived{}, fmt.Errorf("%w: at step %d (index %d) the child is the point at infinity; use another index", ErrInvalidChild, n+1, i)
		}
		child.ToAffine()
		point = child
		delta.Add(&il)
		code = sum[32:]
		ser = secp256k1.NewPublicKey(&point.X, &point.Y).SerializeCompressed()
	}

	d := delta.Bytes()
	return Derived{
		Delta:     new(big.Int).SetBytes(d[:]),
		PublicKey: ser,
		ChainCode: code,
	}, nil
}

func isInfinity(p *secp256k1.JacobianPoint) bool {
	return (p.X.IsZero() && p.Y.IsZero()) || p.Z.IsZero()
}

// ChainCodeFromSession returns the chain code of a key made by the keygen
// session with the given id: SHA-256("mpcsign/v1/bip32-chain-code" ||
// sessionID).
//
// The chain code is fixed at keygen, so every party and the coordinator know
// it without another protocol round, and anyone who knows the keygen session
// id and the public key can reproduce the key's extended public key. It is
// only as un-chosen as the session id: the service computes the keygen
// session id from every party's random contribution, so neither the
// coordinator nor any single party alone picks the chain code. (Joins are
// relayed without a commit-then-reveal step, so a coordinator colluding with
// one party could grind it; the chain code is no secret input, which keeps
// the gain small.) A caller that passes an id one party chose alone loses
// that property.
//
// The chain code is not a secret in the way a share is, but it links every
// key of the tree (see the package documentation): hand it out only where
// needed.
func ChainCodeFromSession(sessionID []byte) []byte {
	h := sha256.New()
	h.Write([]byte(chainCodeLabel))
	h.Write(sessionID)
	return h.Sum(nil)
}
