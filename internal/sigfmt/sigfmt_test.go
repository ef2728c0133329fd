package sigfmt

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math/big"
	"reflect"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/crypto"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// testDigests returns fixed digests plus edge cases (zero, all-ones which is
// >= N, exactly N, one) and a few random ones.
func testDigests(t *testing.T) map[string][]byte {
	t.Helper()
	ds := map[string][]byte{
		"zero":    make([]byte, 32),
		"all-ff":  bytes.Repeat([]byte{0xff}, 32),
		"equal-N": be32(curveN),
		"one":     be32(big.NewInt(1)),
	}
	for i := range 16 {
		h := sha256.Sum256(fmt.Appendf(nil, "sigfmt test digest %d", i))
		ds[fmt.Sprintf("sha256-%02d", i)] = h[:]
	}
	for i := range 4 {
		d := make([]byte, 32)
		if _, err := rand.Read(d); err != nil {
			t.Fatal(err)
		}
		ds[fmt.Sprintf("random-%d", i)] = d
	}
	return ds
}

func TestFinishECDSARoundTrip(t *testing.T) {
	const numKeys = 6
	for k := range numKeys {
		priv, err := secp256k1.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		pub := priv.PubKey()
		pubC := pub.SerializeCompressed()
		for name, digest := range testDigests(t) {
			t.Run(fmt.Sprintf("key%d/%s", k, name), func(t *testing.T) {
				sig := ecdsa.Sign(priv, digest)
				rs, ss := sig.R(), sig.S()
				if ss.IsOverHalfOrder() {
					t.Fatal("precondition: decred ecdsa.Sign returned high-S")
				}
				r, s := rs.Bytes(), ss.Bytes()
				sHigh := negS(s[:])
				if new(big.Int).SetBytes(sHigh).Cmp(halfN) <= 0 {
					t.Fatal("precondition: N-s is not high-S")
				}

				inputs := []struct {
					name string
					r, s []byte
				}{
					{"low-S", r[:], s[:]},
					{"high-S", r[:], sHigh},
					{"low-S minimal", minimal(r[:]), minimal(s[:])},
					{"high-S minimal", minimal(r[:]), minimal(sHigh)},
				}
				var ref *ECDSA
				for _, in := range inputs {
					got, err := FinishECDSA(pubC, digest, in.r, in.s)
					if err != nil {
						t.Fatalf("%s: FinishECDSA: %v", in.name, err)
					}
					if ref == nil {
						ref = got
						continue
					}
					if !reflect.DeepEqual(got, ref) {
						t.Fatalf("%s: output differs from low-S output:\n got %+v\nwant %+v", in.name, got, ref)
					}
				}

				// R and S are decred's (already low-S) signature.
				if ref.R != r || ref.S != s {
					t.Fatalf("R,S = %x,%x want %x,%x", ref.R, ref.S, r, s)
				}
				if new(big.Int).SetBytes(ref.S[:]).Cmp(halfN) > 0 {
					t.Fatalf("S %x is not low-S", ref.S)
				}

				// V: matches decred's own recovery code and recovers the key.
				if ref.V > 3 {
					t.Fatalf("V = %d out of range", ref.V)
				}
				if want := ecdsa.SignCompact(priv, digest, true)[0] - 27 - 4; ref.V != want {
					t.Fatalf("V = %d, decred SignCompact says %d", ref.V, want)
				}
				compact := concat([]byte{27 + 4 + ref.V}, ref.R[:], ref.S[:])
				rec, compressed, err := ecdsa.RecoverCompact(compact, digest)
				if err != nil {
					t.Fatalf("RecoverCompact: %v", err)
				}
				if !compressed || !rec.IsEqual(pub) {
					t.Fatalf("recovered %x (compressed=%v), want %x", rec.SerializeCompressed(), compressed, pubC)
				}
				// The other parity must not recover this key, else V would be meaningless.
				compact[0] = 27 + 4 + (ref.V ^ 1)
				if rec, _, err := ecdsa.RecoverCompact(compact, digest); err == nil && rec.IsEqual(pub) {
					t.Fatal("V^1 also recovers the public key")
				}

				// DER parses, verifies, and is the canonical encoding.
				parsed, err := ecdsa.ParseDERSignature(ref.DER)
				if err != nil {
					t.Fatalf("ParseDERSignature: %v", err)
				}
				if !parsed.Verify(digest, pub) {
					t.Fatal("DER signature does not verify")
				}
				if !bytes.Equal(ref.DER, sig.Serialize()) {
					t.Fatalf("DER %x, want %x", ref.DER, sig.Serialize())
				}
				if !bytes.Equal(ref.DER, derSeq(ref.R[:], ref.S[:])) {
					t.Fatalf("DER %x differs from independent encoding %x", ref.DER, derSeq(ref.R[:], ref.S[:]))
				}
				if err := VerifyDER(pubC, digest, ref.DER); err != nil {
					t.Fatalf("VerifyDER: %v", err)
				}

				// RSV layout.
				if want := concat(ref.R[:], ref.S[:], []byte{ref.V}); !bytes.Equal(ref.RSV[:], want) {
					t.Fatalf("RSV %x, want %x", ref.RSV, want)
				}
			})
		}
	}
}

// TestFinishECDSAShortR covers an r with a leading zero byte, which tss-lib
// hands over as big.Int.Bytes() (31 bytes) in the worst case.
func TestFinishECDSAShortR(t *testing.T) {
	priv := secp256k1.PrivKeyFromBytes(mustHex(t, "8f3b5a2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f40"))
	pubC := priv.PubKey().SerializeCompressed()
	found := 0
	for i := 0; i < 20000 && found < 3; i++ {
		h := sha256.Sum256(fmt.Appendf(nil, "short r search %d", i))
		sig := ecdsa.Sign(priv, h[:])
		rs, ss := sig.R(), sig.S()
		r, s := rs.Bytes(), ss.Bytes()
		if r[0] != 0 {
			continue
		}
		found++
		t.Run(fmt.Sprintf("i=%d", i), func(t *testing.T) {
			for _, rin := range [][]byte{r[:], minimal(r[:])} {
				got, err := FinishECDSA(pubC, h[:], rin, negS(s[:]))
				if err != nil {
					t.Fatalf("len(r)=%d: %v", len(rin), err)
				}
				if got.R != r || got.S != s {
					t.Fatalf("len(r)=%d: R,S = %x,%x want %x,%x", len(rin), got.R, got.S, r, s)
				}
				if !bytes.Equal(got.DER, sig.Serialize()) {
					t.Fatalf("DER %x want %x", got.DER, sig.Serialize())
				}
			}
		})
	}
	if found == 0 {
		t.Fatal("no signature with a leading zero byte in r found; widen the search")
	}
}

// TestFinishECDSARecoveryOverflow exercises recovery ids 2 and 3 (nonce point
// x >= N), which real signatures hit with probability ~2^-128. The public key
// is manufactured by recovering it from a chosen (r, s, recid) with
// r = x - N for an x in [N, P) that is on the curve.
func TestFinishECDSARecoveryOverflow(t *testing.T) {
	digest := sha256.Sum256([]byte("sigfmt overflow recovery"))
	sLow := be32(new(big.Int).Rsh(curveN, 3)) // some s <= N/2
	tested := 0
	for k := int64(1); k < 200 && tested < 2; k++ {
		r := be32(big.NewInt(k)) // x = N + k < P
		for _, code := range []byte{2, 3} {
			compact := concat([]byte{27 + 4 + code}, r, sLow)
			pub, _, err := ecdsa.RecoverCompact(compact, digest[:])
			if err != nil {
				continue // N + k is not an x coordinate on the curve
			}
			tested++
			pubC := pub.SerializeCompressed()
			t.Run(fmt.Sprintf("r=%d/recid=%d", k, code), func(t *testing.T) {
				for _, s := range [][]byte{sLow, negS(sLow)} {
					got, err := FinishECDSA(pubC, digest[:], r, s)
					if err != nil {
						t.Fatalf("FinishECDSA: %v", err)
					}
					if got.V != code {
						t.Fatalf("V = %d, want %d", got.V, code)
					}
					if got.RSV[64] != code {
						t.Fatalf("RSV[64] = %d, want %d", got.RSV[64], code)
					}
					rec, _, err := ecdsa.RecoverCompact(concat([]byte{27 + 4 + got.V}, got.R[:], got.S[:]), digest[:])
					if err != nil || !rec.IsEqual(pub) {
						t.Fatalf("V=%d does not recover the key (err=%v)", got.V, err)
					}
				}
			})
		}
	}
	if tested == 0 {
		t.Fatal("found no x = N+k on the curve; widen the search")
	}
}

func TestFinishECDSARejects(t *testing.T) {
	priv, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	pubC := priv.PubKey().SerializeCompressed()
	h := sha256.Sum256([]byte("reject me"))
	digest := h[:]
	sig := ecdsa.Sign(priv, digest)
	rs, ss := sig.R(), sig.S()
	r, s := rs.Bytes(), ss.Bytes()

	// Sanity: the unmodified inputs are accepted, so every rejection below
	// is caused by the one thing each case changes.
	if _, err := FinishECDSA(pubC, digest, r[:], s[:]); err != nil {
		t.Fatalf("baseline rejected: %v", err)
	}

	flipped := bytes.Clone(digest)
	flipped[31] ^= 1
	rPlus1 := be32(new(big.Int).Add(new(big.Int).SetBytes(r[:]), big.NewInt(1)))
	notOnCurve := notOnCurveX(t)
	xTooBig := concat([]byte{0x02}, bytes.Repeat([]byte{0xff}, 32)) // 2^256-1 > P

	tests := []struct {
		name         string
		pub, d, r, s []byte
		want         error
	}{
		{"wrong public key", other.PubKey().SerializeCompressed(), digest, r[:], s[:], ErrVerifyFailed},
		{"negated public key", flipPrefix(pubC), digest, r[:], s[:], ErrVerifyFailed},
		{"other digest", pubC, flipped, r[:], s[:], ErrVerifyFailed},
		{"r and s swapped", pubC, digest, s[:], r[:], ErrVerifyFailed},
		{"r+1", pubC, digest, rPlus1, s[:], ErrVerifyFailed},

		{"digest 31 bytes", pubC, digest[:31], r[:], s[:], ErrInvalidDigest},
		{"digest 33 bytes", pubC, append(bytes.Clone(digest), 0), r[:], s[:], ErrInvalidDigest},
		{"digest empty", pubC, nil, r[:], s[:], ErrInvalidDigest},
		{"digest 64 bytes", pubC, concat(digest, digest), r[:], s[:], ErrInvalidDigest},

		{"r zero", pubC, digest, make([]byte, 32), s[:], ErrInvalidSignature},
		{"r empty", pubC, digest, nil, s[:], ErrInvalidSignature},
		{"s zero", pubC, digest, r[:], make([]byte, 32), ErrInvalidSignature},
		{"s empty", pubC, digest, r[:], []byte{}, ErrInvalidSignature},
		{"r = N", pubC, digest, be32(curveN), s[:], ErrInvalidSignature},
		{"r = N+1", pubC, digest, be32(new(big.Int).Add(curveN, big.NewInt(1))), s[:], ErrInvalidSignature},
		{"r = 2^256-1", pubC, digest, bytes.Repeat([]byte{0xff}, 32), s[:], ErrInvalidSignature},
		{"s = N", pubC, digest, r[:], be32(curveN), ErrInvalidSignature},
		{"r 33 bytes", pubC, digest, concat([]byte{0x01}, r[:]), s[:], ErrInvalidSignature},
		{"r 33 bytes, leading zero", pubC, digest, concat([]byte{0x00}, r[:]), s[:], ErrInvalidSignature},
		{"s 33 bytes", pubC, digest, r[:], concat([]byte{0x00}, s[:]), ErrInvalidSignature},

		{"pubkey nil", nil, digest, r[:], s[:], ErrInvalidPublicKey},
		{"pubkey 32 bytes", pubC[1:], digest, r[:], s[:], ErrInvalidPublicKey},
		{"pubkey uncompressed", priv.PubKey().SerializeUncompressed(), digest, r[:], s[:], ErrInvalidPublicKey},
		{"pubkey prefix 0x04", concat([]byte{0x04}, pubC[1:]), digest, r[:], s[:], ErrInvalidPublicKey},
		{"pubkey prefix 0x00", concat([]byte{0x00}, pubC[1:]), digest, r[:], s[:], ErrInvalidPublicKey},
		{"pubkey x = 2^256-1", xTooBig, digest, r[:], s[:], ErrInvalidPublicKey},
		{"pubkey x = P", concat([]byte{0x02}, be32(curveP)), digest, r[:], s[:], ErrInvalidPublicKey},
		{"pubkey x not on curve", notOnCurve, digest, r[:], s[:], ErrInvalidPublicKey},
		{"pubkey all zero", make([]byte, 33), digest, r[:], s[:], ErrInvalidPublicKey},
		{"pubkey garbage", bytes.Repeat([]byte{0xa5}, 33), digest, r[:], s[:], ErrInvalidPublicKey},

		// Several bad inputs: the first in argument order is reported.
		{"bad pubkey and digest", nil, nil, nil, nil, ErrInvalidPublicKey},
		{"bad digest and r", pubC, nil, nil, s[:], ErrInvalidDigest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FinishECDSA(tc.pub, tc.d, tc.r, tc.s)
			if got != nil {
				t.Fatalf("got result %+v with error %v", got, err)
			}
			checkOnlySentinel(t, err, tc.want)
		})
	}
}

func TestVerifyDER(t *testing.T) {
	priv, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	pubC := priv.PubKey().SerializeCompressed()
	h := sha256.Sum256([]byte("verify der"))
	digest := h[:]
	sig := ecdsa.Sign(priv, digest)
	rs, ss := sig.R(), sig.S()
	r, s := rs.Bytes(), ss.Bytes()
	der := sig.Serialize()
	flipped := bytes.Clone(digest)
	flipped[0] ^= 0x80

	// A non-minimal r: one redundant leading zero byte.
	rPadded := concat([]byte{0x00}, minimal(r[:]))
	if rPadded[1]&0x80 != 0 {
		rPadded = concat([]byte{0x00}, rPadded)
	}
	nonMinimalBody := concat([]byte{0x02, byte(len(rPadded))}, rPadded, derInt(s[:]))
	nonMinimal := concat([]byte{0x30, byte(len(nonMinimalBody))}, nonMinimalBody)
	// Long-form (BER) length for the sequence.
	longLen := concat([]byte{0x30, 0x81, der[1]}, der[2:])

	tests := []struct {
		name      string
		pub, d, s []byte
		want      error // nil: must verify
	}{
		{"valid", pubC, digest, der, nil},
		{"valid, independent DER encoder", pubC, digest, derSeq(r[:], s[:]), nil},
		{"high-S", pubC, digest, derSeq(r[:], negS(s[:])), ErrInvalidSignature},
		{"wrong key", other.PubKey().SerializeCompressed(), digest, der, ErrVerifyFailed},
		{"other digest", pubC, flipped, der, ErrVerifyFailed},
		{"non-minimal r", pubC, digest, nonMinimal, ErrInvalidSignature},
		{"long-form length", pubC, digest, longLen, ErrInvalidSignature},
		{"trailing byte", pubC, digest, append(bytes.Clone(der), 0x00), ErrInvalidSignature},
		{"truncated", pubC, digest, der[:len(der)-1], ErrInvalidSignature},
		{"empty", pubC, digest, nil, ErrInvalidSignature},
		{"r zero", pubC, digest, derSeq([]byte{0}, s[:]), ErrInvalidSignature},
		{"s = N", pubC, digest, derSeq(r[:], be32(curveN)), ErrInvalidSignature},
		{"wrong tag", pubC, digest, concat([]byte{0x31}, der[1:]), ErrInvalidSignature},
		{"raw r||s, not DER", pubC, digest, concat(r[:], s[:]), ErrInvalidSignature},
		{"digest 31 bytes", pubC, digest[:31], der, ErrInvalidDigest},
		{"pubkey uncompressed", priv.PubKey().SerializeUncompressed(), digest, der, ErrInvalidPublicKey},
		{"pubkey garbage", []byte{1, 2, 3}, digest, der, ErrInvalidPublicKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyDER(tc.pub, tc.d, tc.s)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("VerifyDER: %v", err)
				}
				return
			}
			checkOnlySentinel(t, err, tc.want)
		})
	}

	// The high-S form really is a valid ECDSA signature; VerifyDER rejects
	// it only for being malleable.
	hs, err := ecdsa.ParseDERSignature(derSeq(r[:], negS(s[:])))
	if err != nil || !hs.Verify(digest, priv.PubKey()) {
		t.Fatalf("precondition: high-S variant should parse and verify in decred (err=%v)", err)
	}
}

func TestCompressPoint(t *testing.T) {
	g := secp256k1.Params()

	t.Run("round trip", func(t *testing.T) {
		type pt struct {
			name string
			x, y *big.Int
			want []byte
		}
		cases := []pt{
			{"G", g.Gx, g.Gy, mustHex(t, "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")},
			{"-G", g.Gx, new(big.Int).Sub(g.P, g.Gy), mustHex(t, "0379be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")},
		}
		for i := range 8 {
			priv, err := secp256k1.GeneratePrivateKey()
			if err != nil {
				t.Fatal(err)
			}
			pub := priv.PubKey()
			cases = append(cases, pt{fmt.Sprintf("random %d", i), pub.X(), pub.Y(), pub.SerializeCompressed()})
		}
		// A tss-lib ECPoint, the type the keygen output carries.
		k, _ := new(big.Int).SetString("1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a7988", 16)
		tp := crypto.ScalarBaseMult(tss.S256(), k)
		kb := be32(k)
		cases = append(cases, pt{"tss-lib ECPoint", tp.X(), tp.Y(), secp256k1.PrivKeyFromBytes(kb).PubKey().SerializeCompressed()})

		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, err := CompressPoint(c.x, c.y)
				if err != nil {
					t.Fatalf("CompressPoint: %v", err)
				}
				if !bytes.Equal(got, c.want) {
					t.Fatalf("got %x want %x", got, c.want)
				}
				back, err := secp256k1.ParsePubKey(got)
				if err != nil {
					t.Fatalf("ParsePubKey: %v", err)
				}
				if back.X().Cmp(c.x) != 0 || back.Y().Cmp(c.y) != 0 {
					t.Fatalf("decompressed (%x, %x), want (%x, %x)", back.X(), back.Y(), c.x, c.y)
				}
			})
		}
	})

	t.Run("rejects", func(t *testing.T) {
		// A point with a small x, so that x+P still fits in 256 bits and
		// only the range check (not truncation or the curve check) rejects it.
		small := onCurveSmallX(t)
		if new(big.Int).Add(small.X(), g.P).BitLen() > 256 {
			t.Fatal("precondition: x+P should fit in 256 bits")
		}
		cases := []struct {
			name string
			x, y *big.Int
		}{
			{"small x + P, 256 bits (on curve mod P)", new(big.Int).Add(small.X(), g.P), small.Y()},
			{"nil x", nil, g.Gy},
			{"nil y", g.Gx, nil},
			{"both nil", nil, nil},
			{"y+1", g.Gx, new(big.Int).Add(g.Gy, big.NewInt(1))},
			{"x+1", new(big.Int).Add(g.Gx, big.NewInt(1)), g.Gy},
			{"origin", big.NewInt(0), big.NewInt(0)},
			{"x+P (on curve mod P)", new(big.Int).Add(g.Gx, g.P), g.Gy},
			{"y+P (on curve mod P)", g.Gx, new(big.Int).Add(g.Gy, g.P)},
			{"negative y", g.Gx, new(big.Int).Neg(g.Gy)},
			{"negative x", new(big.Int).Neg(g.Gx), g.Gy},
			{"x = P", new(big.Int).Set(g.P), g.Gy},
			{"huge x", new(big.Int).Lsh(big.NewInt(1), 300), g.Gy},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, err := CompressPoint(c.x, c.y)
				if got != nil {
					t.Fatalf("got %x, want nil", got)
				}
				checkOnlySentinel(t, err, ErrInvalidPublicKey)
			})
		}
	})
}

// notOnCurveX returns a 33-byte compressed encoding whose x (< P) has no
// point on the curve.
func notOnCurveX(t *testing.T) []byte {
	t.Helper()
	for x := int64(1); x < 1000; x++ {
		b := concat([]byte{0x02}, be32(big.NewInt(x)))
		if _, err := secp256k1.ParsePubKey(b); err != nil {
			return b
		}
	}
	t.Fatal("no off-curve x found")
	return nil
}

// onCurveSmallX returns a curve point whose x is a small integer.
func onCurveSmallX(t *testing.T) *secp256k1.PublicKey {
	t.Helper()
	for x := int64(1); x < 1000; x++ {
		if pub, err := secp256k1.ParsePubKey(concat([]byte{0x02}, be32(big.NewInt(x)))); err == nil {
			return pub
		}
	}
	t.Fatal("no on-curve small x found")
	return nil
}

// flipPrefix turns a compressed key into the key with the other y (its negation).
func flipPrefix(pub []byte) []byte {
	out := bytes.Clone(pub)
	out[0] ^= 0x01 // 0x02 <-> 0x03
	return out
}
