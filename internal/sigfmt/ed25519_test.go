package sigfmt

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"math/big"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/tss"
)

// edKey is a crypto/ed25519 key with its public point as affine (x, y),
// computed with tss-lib's curve (decred's edwards25519), independently of
// the code under test.
type edKey struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	x, y *big.Int
}

func newEdKey(t testing.TB, seed byte) edKey {
	t.Helper()
	s := bytes.Repeat([]byte{seed}, ed25519.SeedSize)
	priv := ed25519.NewKeyFromSeed(s)
	// RFC 8032: the secret scalar is the clamped first half of SHA-512(seed),
	// little-endian.
	h := sha512.Sum512(s)
	a := h[:32]
	a[0] &= 248
	a[31] &= 127
	a[31] |= 64
	be := make([]byte, 32)
	for i := range a {
		be[31-i] = a[i]
	}
	k := new(big.Int).Mod(new(big.Int).SetBytes(be), edL)
	x, y := tss.Edwards().ScalarBaseMult(k.Bytes())
	return edKey{priv: priv, pub: priv.Public().(ed25519.PublicKey), x: x, y: y}
}

func TestEd25519PublicKeyMatchesCryptoEd25519(t *testing.T) {
	for seed := byte(1); seed <= 12; seed++ {
		k := newEdKey(t, seed)
		got, err := Ed25519PublicKey(k.x, k.y)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if !bytes.Equal(got, k.pub) {
			t.Fatalf("seed %d: encoded %x, crypto/ed25519 %x", seed, got, k.pub)
		}
		x, y, err := edDecode(got)
		if err != nil || x.Cmp(k.x) != 0 || y.Cmp(k.y) != 0 {
			t.Fatalf("seed %d: decode gives (%x, %x), %v", seed, x, y, err)
		}
	}
}

func TestEd25519PublicKeyRefuses(t *testing.T) {
	k := newEdKey(t, 7)
	minusOne := new(big.Int).Sub(edP, big.NewInt(1))
	for _, c := range []struct {
		name string
		x, y *big.Int
	}{
		{"nil x", nil, k.y},
		{"nil y", k.x, nil},
		{"negative x", new(big.Int).Neg(k.x), k.y},
		{"x = p", edP, k.y},
		{"y >= p", k.x, new(big.Int).Add(k.y, edP)},
		{"not on curve", k.x, new(big.Int).Add(k.y, big.NewInt(1))},
		{"identity", big.NewInt(0), big.NewInt(1)},
		{"order 2", big.NewInt(0), minusOne},
		// (-x, -y) is the key plus the point of order 2: on the curve, not
		// in the prime-order subgroup.
		{"key with a torsion component", new(big.Int).Sub(edP, k.x), new(big.Int).Sub(edP, k.y)},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Ed25519PublicKey(c.x, c.y)
			if got != nil {
				t.Fatalf("result %x with error %v", got, err)
			}
			checkOnlySentinel(t, err, ErrInvalidPublicKey)
		})
	}
	// The torsion-shifted point really is on the curve (the refusal above
	// comes from the subgroup check).
	if !edOnCurve(new(big.Int).Sub(edP, k.x), new(big.Int).Sub(edP, k.y)) {
		t.Fatal("(-x, -y) not on the curve")
	}
}

func TestFinishEd25519(t *testing.T) {
	k := newEdKey(t, 3)
	msg := []byte{0, 0, 0, 'h', 'i'}
	sig := ed25519.Sign(k.priv, msg)
	if err := FinishEd25519(k.pub, msg, sig); err != nil {
		t.Fatalf("valid signature: %v", err)
	}
	if err := FinishEd25519(k.pub, nil, ed25519.Sign(k.priv, nil)); err != nil {
		t.Fatalf("valid signature of the empty message: %v", err)
	}

	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 1
		return c
	}
	// S + L: the same signature with a non-canonical S.
	highS := bytes.Clone(sig)
	sLE := bytes.Clone(sig[32:])
	edReverse(sLE)
	s := new(big.Int).Add(new(big.Int).SetBytes(sLE), edL)
	s.FillBytes(highS[32:])
	edReverse(highS[32:])

	other := newEdKey(t, 4)
	for _, c := range []struct {
		name          string
		pub, msg, sig []byte
		want          error
	}{
		{"message changed", k.pub, msg[1:], sig, ErrVerifyFailed},
		{"R changed", k.pub, msg, flip(sig, 0), ErrVerifyFailed},
		{"S changed", k.pub, msg, flip(sig, 40), ErrVerifyFailed},
		{"S not canonical", k.pub, msg, highS, ErrVerifyFailed},
		{"other key", other.pub, msg, sig, ErrVerifyFailed},
		{"short signature", k.pub, msg, sig[:63], ErrInvalidSignature},
		{"long signature", k.pub, msg, append(bytes.Clone(sig), 0), ErrInvalidSignature},
		{"short key", k.pub[:31], msg, sig, ErrInvalidPublicKey},
		{"identity key", append([]byte{1}, make([]byte, 31)...), msg, sig, ErrInvalidPublicKey},
		{"key y = p", append([]byte{0xed}, append(bytes.Repeat([]byte{0xff}, 30), 0x7f)...), msg, sig, ErrInvalidPublicKey},
		{"key x = 0 with sign bit", append([]byte{1}, append(make([]byte, 30), 0x80)...), msg, sig, ErrInvalidPublicKey},
		{"key of order 2", append([]byte{0xec}, append(bytes.Repeat([]byte{0xff}, 30), 0x7f)...), msg, sig, ErrInvalidPublicKey},
		{"key not on curve", notOnCurveEncoding(t), msg, sig, ErrInvalidPublicKey},
		{"key with a torsion component", torsionShifted(t, k), msg, sig, ErrVerifyFailed},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkOnlySentinel(t, FinishEd25519(c.pub, c.msg, c.sig), c.want)
		})
	}
}

// torsionShifted is the encoding of (-x, -y) = k + the point of order 2.
func torsionShifted(t *testing.T, k edKey) []byte {
	t.Helper()
	b := bytes.Clone(k.pub)
	y := new(big.Int).Sub(edP, k.y)
	y.FillBytes(b)
	edReverse(b)
	b[31] |= byte(new(big.Int).Sub(edP, k.x).Bit(0)) << 7
	if _, _, err := edDecode(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// notOnCurveEncoding is the first y for which no x exists.
func notOnCurveEncoding(t *testing.T) []byte {
	t.Helper()
	for y := byte(2); y < 100; y++ {
		b := make([]byte, 32)
		b[0] = y
		if _, _, err := edDecode(b); err != nil {
			return b
		}
	}
	t.Fatal("no y below 100 is off the curve")
	return nil
}

// TestFinishEd25519RFC8032 checks RFC 8032 section 7.1 TEST 1.
func TestFinishEd25519RFC8032(t *testing.T) {
	pub := mustHex(t, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	sig := mustHex(t, "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
	if err := FinishEd25519(pub, nil, sig); err != nil {
		t.Fatal(err)
	}
	x, y, err := edDecode(pub)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Ed25519PublicKey(x, y); err != nil || !bytes.Equal(got, pub) {
		t.Fatalf("re-encoding gives %x, %v", got, err)
	}
}

// FuzzFinishEd25519 checks that FinishEd25519 never panics, fails only with
// one sentinel, and accepts only what crypto/ed25519 accepts.
func FuzzFinishEd25519(f *testing.F) {
	k := newEdKey(f, 9)
	msg := []byte("fuzz")
	sig := ed25519.Sign(k.priv, msg)
	f.Add([]byte(k.pub), msg, sig)
	f.Add([]byte(k.pub), msg, sig[:10])
	f.Add(append([]byte{1}, make([]byte, 31)...), msg, sig)
	f.Add(bytes.Repeat([]byte{0xff}, 32), []byte{}, bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		err := FinishEd25519(pub, msg, sig)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, msg, sig) {
			t.Fatalf("accepted what crypto/ed25519 refuses: pub %x sig %x", pub, sig)
		}
	})
}

func BenchmarkEd25519PublicKey(b *testing.B) {
	k := newEdKey(b, 5)
	for b.Loop() {
		if _, err := Ed25519PublicKey(k.x, k.y); err != nil {
			b.Fatal(err)
		}
	}
}
