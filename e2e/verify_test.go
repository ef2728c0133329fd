package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"math/big"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// mustHex decodes a hex field of n bytes (any length when n is 0).
func mustHex(t testing.TB, field, s string, n int) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("%s %q is not hex: %v", field, s, err)
	}
	if n > 0 && len(b) != n {
		t.Fatalf("%s is %d bytes, want %d", field, len(b), n)
	}
	return b
}

// verifySignature checks a signature with decred's secp256k1 only, never
// with the service's own code: DER parses and verifies, r and s match the
// DER, s is low, r||s||v is consistent and v recovers the public key.
func verifySignature(t testing.TB, pubHex string, digest []byte, sig signResult) {
	t.Helper()
	pubBytes := mustHex(t, "public key", pubHex, 33)
	pub, err := secp256k1.ParsePubKey(pubBytes)
	if err != nil {
		t.Fatalf("public key does not parse: %v", err)
	}
	if sig.PublicKey != pubHex {
		t.Errorf("signature carries public key %s, want %s", sig.PublicKey, pubHex)
	}
	r := mustHex(t, "r", sig.R, 32)
	s := mustHex(t, "s", sig.S, 32)
	rsv := mustHex(t, "signature_rsv", sig.RSV, 65)

	der, err := ecdsa.ParseDERSignature(mustHex(t, "signature_der", sig.DER, 0))
	if err != nil {
		t.Fatalf("DER signature does not parse: %v", err)
	}
	if !der.Verify(digest, pub) {
		t.Errorf("DER signature does not verify against the public key")
	}
	other := sha256.Sum256(digest)
	if der.Verify(other[:], pub) {
		t.Errorf("DER signature also verifies a different digest")
	}
	derR, derS := der.R(), der.S()
	if rb := derR.Bytes(); !bytes.Equal(rb[:], r) {
		t.Errorf("r %x differs from the DER's r %x", r, rb)
	}
	if sb := derS.Bytes(); !bytes.Equal(sb[:], s) {
		t.Errorf("s %x differs from the DER's s %x", s, sb)
	}

	n := secp256k1.S256().N
	half := new(big.Int).Rsh(n, 1)
	rInt, sInt := new(big.Int).SetBytes(r), new(big.Int).SetBytes(s)
	if rInt.Sign() == 0 || rInt.Cmp(n) >= 0 {
		t.Errorf("r out of range: %x", r)
	}
	if sInt.Sign() == 0 || sInt.Cmp(half) > 0 {
		t.Errorf("s is not low-S (0 < s <= N/2): %x", s)
	}

	if !bytes.Equal(rsv[:32], r) || !bytes.Equal(rsv[32:64], s) || uint32(rsv[64]) != sig.V {
		t.Errorf("r||s||v %x does not match r %x, s %x, v %d", rsv, r, s, sig.V)
	}
	if sig.V > 1 {
		t.Fatalf("recovery id v = %d, want 0 or 1", sig.V)
	}
	compact := append([]byte{27 + 4 + byte(sig.V)}, append(r, s...)...)
	rec, compressed, err := ecdsa.RecoverCompact(compact, digest)
	if err != nil {
		t.Fatalf("RecoverCompact: %v", err)
	}
	if !compressed || !rec.IsEqual(pub) {
		t.Errorf("v = %d recovers %x, want %x", sig.V, rec.SerializeCompressed(), pubBytes)
	}
}

// bip32Child derives a public child key (non-hardened steps) with a BIP32
// implementation of its own, independent of the service's internal/hd.
func bip32Child(t testing.TB, pub, chainCode []byte, path ...uint32) []byte {
	t.Helper()
	for _, i := range path {
		mac := hmac.New(sha512.New, chainCode)
		mac.Write(pub)
		mac.Write(binary.BigEndian.AppendUint32(nil, i))
		sum := mac.Sum(nil)
		var il secp256k1.ModNScalar
		if overflow := il.SetByteSlice(sum[:32]); overflow {
			t.Fatalf("BIP32 step %d: IL out of range", i)
		}
		parent, err := secp256k1.ParsePubKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		var p, tweak, child secp256k1.JacobianPoint
		parent.AsJacobian(&p)
		secp256k1.ScalarBaseMultNonConst(&il, &tweak)
		secp256k1.AddNonConst(&p, &tweak, &child)
		child.ToAffine()
		pub = secp256k1.NewPublicKey(&child.X, &child.Y).SerializeCompressed()
		chainCode = sum[32:]
	}
	return pub
}
