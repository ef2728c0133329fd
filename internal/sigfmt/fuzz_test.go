package sigfmt

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math/big"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// fuzzSeed is a valid (pub, digest, r, s) to start mutating from.
func fuzzSeed() (pub, digest, r, s []byte) {
	h := sha256.Sum256([]byte("fuzz seed key"))
	priv := secp256k1.PrivKeyFromBytes(h[:])
	d := sha256.Sum256([]byte("fuzz seed digest"))
	sig := ecdsa.Sign(priv, d[:])
	rs, ss := sig.R(), sig.S()
	rb, sb := rs.Bytes(), ss.Bytes()
	return priv.PubKey().SerializeCompressed(), d[:], rb[:], sb[:]
}

func isSentinel(err error) bool {
	for _, s := range allSentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzFinishECDSA checks that FinishECDSA never panics, fails only with a
// sentinel error, and that anything it accepts is a well-formed, verifying,
// low-S signature whose V recovers the key.
func FuzzFinishECDSA(f *testing.F) {
	pub, d, r, s := fuzzSeed()
	f.Add(pub, d, r, s)
	f.Add(pub, d, r, negS(s))
	f.Add(pub, d, minimal(r), minimal(s))
	f.Add(pub, d, s, r)
	f.Add(pub, d[:31], r, s)
	f.Add(pub[1:], d, r, s)
	f.Add(pub, d, be32(curveN), s)
	f.Add(pub, d, concat([]byte{0}, r), s)
	f.Add([]byte{}, []byte{}, []byte{}, []byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 33), bytes.Repeat([]byte{0xff}, 32), bytes.Repeat([]byte{0xff}, 32), bytes.Repeat([]byte{0xff}, 33))

	f.Fuzz(func(t *testing.T, pub, digest, r, s []byte) {
		got, err := FinishECDSA(pub, digest, r, s)
		if err != nil {
			if got != nil {
				t.Fatalf("non-nil result with error %v", err)
			}
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if got == nil {
			t.Fatal("nil result and nil error")
		}
		if len(pub) != 33 || len(digest) != 32 || len(r) > 32 || len(s) > 32 {
			t.Fatalf("accepted bad lengths pub=%d digest=%d r=%d s=%d", len(pub), len(digest), len(r), len(s))
		}
		if new(big.Int).SetBytes(got.S[:]).Cmp(halfN) > 0 {
			t.Fatalf("S %x is high", got.S)
		}
		if new(big.Int).SetBytes(r).Cmp(new(big.Int).SetBytes(got.R[:])) != 0 {
			t.Fatalf("R %x is not input r %x", got.R, r)
		}
		if got.V > 3 || !bytes.Equal(got.RSV[:], concat(got.R[:], got.S[:], []byte{got.V})) {
			t.Fatalf("bad V/RSV: V=%d RSV=%x", got.V, got.RSV)
		}
		if err := VerifyDER(pub, digest, got.DER); err != nil {
			t.Fatalf("own DER does not pass VerifyDER: %v", err)
		}
		rec, _, err := ecdsa.RecoverCompact(concat([]byte{27 + 4 + got.V}, got.R[:], got.S[:]), digest)
		if err != nil || !bytes.Equal(rec.SerializeCompressed(), pub) {
			t.Fatalf("V=%d does not recover the key (err=%v)", got.V, err)
		}
	})
}

// FuzzVerifyDER checks that VerifyDER never panics, fails only with a
// sentinel error, and accepts only the canonical low-S encoding.
func FuzzVerifyDER(f *testing.F) {
	pub, d, r, s := fuzzSeed()
	f.Add(pub, d, derSeq(r, s))
	f.Add(pub, d, derSeq(r, negS(s)))
	f.Add(pub, d, concat(derSeq(r, s), []byte{0}))
	f.Add(pub, d, []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01})
	f.Add(pub, d, []byte{0x30, 0xff, 0x02, 0xff})
	f.Add([]byte{}, []byte{}, []byte{})

	f.Fuzz(func(t *testing.T, pub, digest, der []byte) {
		err := VerifyDER(pub, digest, der)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		sig, perr := ecdsa.ParseDERSignature(der)
		if perr != nil {
			t.Fatalf("accepted unparseable DER: %v", perr)
		}
		if !bytes.Equal(sig.Serialize(), der) {
			t.Fatalf("accepted non-canonical or high-S DER %x", der)
		}
	})
}
