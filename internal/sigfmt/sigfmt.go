// Package sigfmt turns the raw (r, s) pair produced by tss-lib's threshold
// ECDSA signing into the encodings a wallet backend consumes (fixed-width
// R/S, R||S||V and ASN.1 DER), after checking that the signature really
// verifies against the group public key.
//
// Nothing produced by tss-lib besides r and s is trusted: s is normalised to
// low-S here, the signature is verified here, and the recovery id is found
// here by public-key recovery. In particular tss-lib's SignatureRecovery byte
// is ignored.
//
// All curve arithmetic is done by github.com/decred/dcrd/dcrec/secp256k1/v4.
// No function in this package panics, whatever its input.
package sigfmt

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// Sentinel errors. Returned errors wrap exactly one of these (test with
// errors.Is); the wrapping text says what in particular was wrong.
var (
	ErrInvalidPublicKey = errors.New("sigfmt: invalid public key")
	ErrInvalidSignature = errors.New("sigfmt: invalid signature") // r or s zero, >= N, or longer than 32 bytes
	ErrVerifyFailed     = errors.New("sigfmt: signature does not verify")
	ErrInvalidDigest    = errors.New("sigfmt: digest must be 32 bytes")
)

const (
	// pubKeyLen is the length of a SEC1 compressed secp256k1 public key.
	pubKeyLen = secp256k1.PubKeyBytesLenCompressed
	// digestLen is the only digest length accepted.
	digestLen = 32

	scalarLen = 32

	// compactHeaderCompressed is the header byte of a 65-byte compact
	// signature (header || R || S) for recovery id 0 and a compressed key,
	// as understood by ecdsa.RecoverCompact: 27 + 4 + recid.
	compactHeaderCompressed = 27 + 4
)

// ECDSA is a verified, low-S normalised secp256k1 ECDSA signature in the
// encodings a wallet backend wants.
type ECDSA struct {
	R, S [32]byte // big-endian, S is low-S normalised (S <= N/2)
	V    byte     // recovery id 0 or 1 (0..3 in theory) for the low-S signature
	RSV  [65]byte // R || S || V
	DER  []byte   // ASN.1 DER of (R, S)
}

// FinishECDSA normalises s to low-S, verifies (r,s) over digest against the
// 33-byte compressed public key, and finds the recovery id by public-key
// recovery (any recovery byte from tss-lib is not trusted).
//
// r and s are unsigned big-endian integers of 1 to 32 bytes; shorter values
// (as produced by big.Int.Bytes) are accepted, leading zero bytes included.
// digest must be exactly 32 bytes: pass the original message digest, not
// tss-lib's SignatureData.M, which has its leading zero bytes stripped.
//
// Inputs are checked in argument order, so with several bad inputs the error
// names the first: ErrInvalidPublicKey, then ErrInvalidDigest, then
// ErrInvalidSignature, then ErrVerifyFailed.
func FinishECDSA(pubCompressed, digest, r, s []byte) (*ECDSA, error) {
	pub, err := parsePubKey(pubCompressed)
	if err != nil {
		return nil, err
	}
	if err := checkDigest(digest); err != nil {
		return nil, err
	}
	rS, err := parseScalar("r", r)
	if err != nil {
		return nil, err
	}
	sS, err := parseScalar("s", s)
	if err != nil {
		return nil, err
	}

	// (r, s) and (r, N-s) are both valid; keep the one with s <= N/2.
	if sS.IsOverHalfOrder() {
		sS.Negate()
	}

	sig := ecdsa.NewSignature(&rS, &sS)
	if !sig.Verify(digest, pub) {
		return nil, ErrVerifyFailed
	}

	out := &ECDSA{}
	rS.PutBytes(&out.R)
	sS.PutBytes(&out.S)

	v, ok := recoveryID(pub, digest, &out.R, &out.S)
	if !ok {
		// Unreachable for a signature that passed Verify: one of the four
		// candidate points is the nonce point. Reported rather than assumed.
		return nil, fmt.Errorf("%w: no recovery id reproduces the public key", ErrVerifyFailed)
	}
	out.V = v

	copy(out.RSV[0:32], out.R[:])
	copy(out.RSV[32:64], out.S[:])
	out.RSV[64] = out.V
	out.DER = sig.Serialize()
	return out, nil
}

// VerifyDER checks a DER signature over a 32-byte digest against a 33-byte
// compressed public key. It is strict: the encoding must be canonical DER,
// r and s must be in [1, N-1], and s must be low-S (s <= N/2); a high-S
// signature is ErrInvalidSignature even though it would verify.
func VerifyDER(pubCompressed, digest, der []byte) error {
	pub, err := parsePubKey(pubCompressed)
	if err != nil {
		return err
	}
	if err := checkDigest(digest); err != nil {
		return err
	}
	sig, err := ecdsa.ParseDERSignature(der)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidSignature, err)
	}
	sS := sig.S()
	if sS.IsOverHalfOrder() {
		return fmt.Errorf("%w: s is not low-S", ErrInvalidSignature)
	}
	// ParseDERSignature already rejects non-minimal encodings; re-encoding
	// and comparing makes "exactly one accepted encoding per signature" an
	// explicit property rather than a property of the parser.
	if !bytes.Equal(sig.Serialize(), der) {
		return fmt.Errorf("%w: non-canonical DER encoding", ErrInvalidSignature)
	}
	if !sig.Verify(digest, pub) {
		return ErrVerifyFailed
	}
	return nil
}

// CompressPoint encodes an affine point (x, y) on secp256k1 as a 33-byte
// compressed SEC1 public key. It returns an error wrapping
// ErrInvalidPublicKey if either coordinate is nil, negative or not below the
// field prime P, or if the point is not on the curve. This is the form of a
// tss-lib ECPoint (X(), Y()) that FinishECDSA and VerifyDER take.
func CompressPoint(x, y *big.Int) ([]byte, error) {
	if x == nil || y == nil {
		return nil, fmt.Errorf("%w: nil coordinate", ErrInvalidPublicKey)
	}
	p := secp256k1.Params().P
	var fx, fy secp256k1.FieldVal
	for _, c := range []struct {
		name string
		v    *big.Int
		f    *secp256k1.FieldVal
	}{{"x", x, &fx}, {"y", y, &fy}} {
		if c.v.Sign() < 0 || c.v.Cmp(p) >= 0 {
			return nil, fmt.Errorf("%w: %s coordinate out of range [0, P)", ErrInvalidPublicKey, c.name)
		}
		c.f.SetByteSlice(c.v.Bytes()) // < P, so at most 32 bytes and no overflow
	}
	pub := secp256k1.NewPublicKey(&fx, &fy)
	if !pub.IsOnCurve() {
		return nil, fmt.Errorf("%w: point is not on secp256k1", ErrInvalidPublicKey)
	}
	return pub.SerializeCompressed(), nil
}

// parsePubKey accepts exactly a 33-byte compressed SEC1 key (prefix 0x02 or
// 0x03, x < P, x on the curve).
func parsePubKey(b []byte) (*secp256k1.PublicKey, error) {
	if len(b) != pubKeyLen {
		return nil, fmt.Errorf("%w: want %d-byte compressed key, got %d bytes", ErrInvalidPublicKey, pubKeyLen, len(b))
	}
	pub, err := secp256k1.ParsePubKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPublicKey, err)
	}
	return pub, nil
}

func checkDigest(d []byte) error {
	if len(d) != digestLen {
		return fmt.Errorf("%w: got %d bytes", ErrInvalidDigest, len(d))
	}
	return nil
}

// parseScalar reads an unsigned big-endian integer of at most 32 bytes that
// must lie in [1, N-1].
func parseScalar(name string, b []byte) (secp256k1.ModNScalar, error) {
	var v secp256k1.ModNScalar
	if len(b) > scalarLen {
		// Checked first: SetByteSlice would silently truncate.
		return v, fmt.Errorf("%w: %s is %d bytes, more than %d", ErrInvalidSignature, name, len(b), scalarLen)
	}
	if overflow := v.SetByteSlice(b); overflow {
		return v, fmt.Errorf("%w: %s >= N", ErrInvalidSignature, name)
	}
	if v.IsZero() {
		return v, fmt.Errorf("%w: %s is zero", ErrInvalidSignature, name)
	}
	return v, nil
}

// recoveryID returns the recovery id v in 0..3 for which public-key recovery
// from (r, s, v) over digest yields pub. Bit 0 is the parity of the nonce
// point's y; bit 1 says its x was >= N (probability about 2^-128).
func recoveryID(pub *secp256k1.PublicKey, digest []byte, r, s *[32]byte) (byte, bool) {
	var compact [65]byte
	copy(compact[1:33], r[:])
	copy(compact[33:65], s[:])
	for v := byte(0); v < 4; v++ {
		compact[0] = compactHeaderCompressed + v
		got, _, err := ecdsa.RecoverCompact(compact[:], digest)
		if err == nil && got.IsEqual(pub) {
			return v, true
		}
	}
	return 0, false
}
