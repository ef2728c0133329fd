package sigfmt

import (
	"encoding/hex"
	"errors"
	"math/big"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

var (
	curveN = secp256k1.Params().N
	curveP = secp256k1.Params().P
	halfN  = new(big.Int).Rsh(curveN, 1)

	allSentinels = []error{ErrInvalidPublicKey, ErrInvalidSignature, ErrVerifyFailed, ErrInvalidDigest}
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// be32 is v as a 32-byte big-endian string (v must be in [0, 2^256)).
func be32(v *big.Int) []byte { return v.FillBytes(make([]byte, 32)) }

// negS returns N - s as 32 bytes: the other member of the (s, N-s) pair.
func negS(s []byte) []byte {
	return be32(new(big.Int).Sub(curveN, new(big.Int).SetBytes(s)))
}

// minimal strips leading zero bytes, as big.Int.Bytes() does.
func minimal(b []byte) []byte { return new(big.Int).SetBytes(b).Bytes() }

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// checkOnlySentinel fails unless err wraps want and none of the other sentinels.
func checkOnlySentinel(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want errors.Is(err, %v)", err, want)
	}
	for _, other := range allSentinels {
		if other != want && errors.Is(err, other) {
			t.Fatalf("error %v also matches %v", err, other)
		}
	}
}

// derInt encodes an unsigned big-endian integer as a DER INTEGER, minimal
// (independent of the package and of decred, for building test inputs).
func derInt(v []byte) []byte {
	v = minimal(v)
	if len(v) == 0 {
		v = []byte{0}
	}
	if v[0]&0x80 != 0 {
		v = append([]byte{0}, v...)
	}
	return concat([]byte{0x02, byte(len(v))}, v)
}

func derSeq(r, s []byte) []byte {
	body := concat(derInt(r), derInt(s))
	return concat([]byte{0x30, byte(len(body))}, body)
}
