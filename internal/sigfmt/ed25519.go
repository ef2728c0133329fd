package sigfmt

import (
	"crypto/ed25519"
	"fmt"
	"math/big"
)

// Ed25519 (RFC 8032) on top of tss-lib's EdDSA.
//
// tss-lib v2.0.2 keeps the group public key as an affine point (x, y) of big
// integers (keygen.LocalPartySaveData.EDDSAPub) and returns the signature in
// common.SignatureData.Signature already in the standard 64-byte form R || S
// (both little-endian; its R and S fields are the same values read as
// big-endian integers, so they are not the standard encoding). The standard
// 32-byte public key is y in little-endian with the sign (low bit) of x in
// the top bit; Ed25519PublicKey writes it.
//
// The curve arithmetic below uses math/big: it only ever handles public
// values (the group key), so it need not be constant-time.

var (
	edP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	// edD is -121665/121666 mod p.
	edD = func() *big.Int {
		d := new(big.Int).ModInverse(big.NewInt(121666), edP)
		d.Mul(d, big.NewInt(-121665))
		return d.Mod(d, edP)
	}()
	edD2 = new(big.Int).Mod(new(big.Int).Lsh(edD, 1), edP)
	// edL is the order of the prime-order subgroup, 2^252 + 27742317777372353535851937790883648493.
	edL = func() *big.Int {
		l, _ := new(big.Int).SetString("27742317777372353535851937790883648493", 10)
		return l.Add(l, new(big.Int).Lsh(big.NewInt(1), 252))
	}()
)

// Ed25519PublicKey encodes the affine point (x, y) as a 32-byte Ed25519
// public key, the form crypto/ed25519 and wallets use. This is the
// conversion of tss-lib's EDDSAPub (X(), Y()).
//
// It returns an error wrapping ErrInvalidPublicKey if a coordinate is nil,
// negative or not below p = 2^255-19, if the point is not on the curve, or if
// it is not a generator of the prime-order subgroup (the identity, or a point
// with a small-order component, for which signatures would not verify).
func Ed25519PublicKey(x, y *big.Int) ([]byte, error) {
	if x == nil || y == nil {
		return nil, fmt.Errorf("%w: nil coordinate", ErrInvalidPublicKey)
	}
	for _, c := range []struct {
		name string
		v    *big.Int
	}{{"x", x}, {"y", y}} {
		if c.v.Sign() < 0 || c.v.Cmp(edP) >= 0 {
			return nil, fmt.Errorf("%w: %s coordinate out of range [0, p)", ErrInvalidPublicKey, c.name)
		}
	}
	if !edOnCurve(x, y) {
		return nil, fmt.Errorf("%w: point is not on edwards25519", ErrInvalidPublicKey)
	}
	if err := edCheckSubgroup(x, y); err != nil {
		return nil, err
	}
	out := make([]byte, ed25519.PublicKeySize)
	y.FillBytes(out) // y < p < 2^255: fits, and leaves the top bit clear
	edReverse(out)
	out[31] |= byte(x.Bit(0)) << 7
	return out, nil
}

// FinishEd25519 checks a 64-byte Ed25519 signature (R || S) over msg against
// a 32-byte public key with crypto/ed25519 (which also refuses a
// non-canonical S). The public key must be the canonical encoding of a curve
// point not of small order (the eight points anyone can forge signatures
// for). The full prime-order-subgroup check is Ed25519PublicKey's, done once
// when a key is made; it costs milliseconds, too much for every signature.
// Errors wrap ErrInvalidPublicKey, ErrInvalidSignature (wrong length) or
// ErrVerifyFailed, checked in that order.
//
// msg is the whole message: Ed25519 hashes it itself. With tss-lib, pass the
// original message, not SignatureData.M.
func FinishEd25519(pub, msg, sig []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: want a %d-byte Ed25519 key, got %d bytes", ErrInvalidPublicKey, ed25519.PublicKeySize, len(pub))
	}
	x, y, err := edDecode(pub)
	if err != nil {
		return err
	}
	if edSmallOrder(x, y) {
		// Anyone can forge signatures for such a key.
		return fmt.Errorf("%w: point of small order", ErrInvalidPublicKey)
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: want a %d-byte Ed25519 signature, got %d bytes", ErrInvalidSignature, ed25519.SignatureSize, len(sig))
	}
	if !ed25519.Verify(ed25519.PublicKey(pub), msg, sig) {
		return ErrVerifyFailed
	}
	return nil
}

func edReverse(b []byte) {
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
}

// edOnCurve reports whether -x^2 + y^2 = 1 + d*x^2*y^2 (mod p).
func edOnCurve(x, y *big.Int) bool {
	x2 := new(big.Int).Mul(x, x)
	y2 := new(big.Int).Mul(y, y)
	lhs := new(big.Int).Sub(y2, x2)
	lhs.Mod(lhs, edP)
	rhs := new(big.Int).Mul(x2, y2)
	rhs.Mul(rhs, edD).Add(rhs, big.NewInt(1)).Mod(rhs, edP)
	return lhs.Cmp(rhs) == 0
}

// edDecode decodes a 32-byte point encoding (RFC 8032 section 5.1.3),
// refusing non-canonical ones (y >= p, or x = 0 with the sign bit set).
func edDecode(b []byte) (x, y *big.Int, err error) {
	le := make([]byte, 32)
	copy(le, b)
	sign := le[31] >> 7
	le[31] &= 0x7f
	edReverse(le)
	y = new(big.Int).SetBytes(le)
	if y.Cmp(edP) >= 0 {
		return nil, nil, fmt.Errorf("%w: non-canonical encoding (y >= p)", ErrInvalidPublicKey)
	}
	// x^2 = (y^2 - 1) / (d*y^2 + 1)
	y2 := new(big.Int).Mul(y, y)
	num := new(big.Int).Sub(y2, big.NewInt(1))
	den := new(big.Int).Mul(edD, y2)
	den.Add(den, big.NewInt(1)).Mod(den, edP)
	den.ModInverse(den, edP) // d is not a square, so d*y^2 + 1 != 0
	x2 := num.Mul(num, den).Mod(num, edP)
	x = new(big.Int).ModSqrt(x2, edP)
	if x == nil {
		return nil, nil, fmt.Errorf("%w: not a point on edwards25519", ErrInvalidPublicKey)
	}
	if x.Sign() == 0 && sign == 1 {
		return nil, nil, fmt.Errorf("%w: non-canonical encoding (x = 0 with sign bit set)", ErrInvalidPublicKey)
	}
	if byte(x.Bit(0)) != sign {
		x.Sub(edP, x)
	}
	return x, y, nil
}

// edPoint is a point in extended coordinates (X:Y:Z:T), x = X/Z, y = Y/Z,
// x*y = T/Z.
type edPoint struct{ X, Y, Z, T *big.Int }

// edAdd returns p+q with the unified addition formula for a = -1
// ("add-2008-hwcd-3"), which is complete on edwards25519 (doubling included).
func edAdd(p, q edPoint) edPoint {
	mul := func(a, b *big.Int) *big.Int { return new(big.Int).Mod(new(big.Int).Mul(a, b), edP) }
	sub := func(a, b *big.Int) *big.Int { return new(big.Int).Mod(new(big.Int).Sub(a, b), edP) }
	add := func(a, b *big.Int) *big.Int { return new(big.Int).Mod(new(big.Int).Add(a, b), edP) }
	a := mul(sub(p.Y, p.X), sub(q.Y, q.X))
	b := mul(add(p.Y, p.X), add(q.Y, q.X))
	c := mul(mul(p.T, edD2), q.T)
	d := mul(add(p.Z, p.Z), q.Z)
	e, f, g, h := sub(b, a), sub(d, c), add(d, c), add(b, a)
	return edPoint{X: mul(e, f), Y: mul(g, h), Z: mul(f, g), T: mul(e, h)}
}

// edSmallOrder reports whether 8*(x, y) is the identity: the point is one of
// the eight points of small order.
func edSmallOrder(x, y *big.Int) bool {
	p := edPoint{X: x, Y: y, Z: big.NewInt(1), T: new(big.Int).Mod(new(big.Int).Mul(x, y), edP)}
	for i := 0; i < 3; i++ {
		p = edAdd(p, p)
	}
	return edIsIdentity(p)
}

// edIsIdentity reports whether p is the identity (0 : Z : Z : 0).
func edIsIdentity(p edPoint) bool {
	return p.X.Sign() == 0 && p.Y.Cmp(p.Z) == 0
}

// edCheckSubgroup returns an error wrapping ErrInvalidPublicKey unless the
// on-curve point (x, y) has order exactly L: not the identity, and L*(x, y)
// is the identity.
func edCheckSubgroup(x, y *big.Int) error {
	if x.Sign() == 0 && y.Cmp(big.NewInt(1)) == 0 {
		return fmt.Errorf("%w: the identity point", ErrInvalidPublicKey)
	}
	base := edPoint{X: x, Y: y, Z: big.NewInt(1), T: new(big.Int).Mod(new(big.Int).Mul(x, y), edP)}
	acc := edPoint{X: big.NewInt(0), Y: big.NewInt(1), Z: big.NewInt(1), T: big.NewInt(0)}
	for i := edL.BitLen() - 1; i >= 0; i-- {
		acc = edAdd(acc, acc)
		if edL.Bit(i) == 1 {
			acc = edAdd(acc, base)
		}
	}
	if !edIsIdentity(acc) {
		return fmt.Errorf("%w: point is not in the prime-order subgroup", ErrInvalidPublicKey)
	}
	return nil
}
