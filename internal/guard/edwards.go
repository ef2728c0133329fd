package guard

import (
	"fmt"
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/tss"
)

// This file decodes the Ed25519 values of tss-lib's EdDSA messages: points
// as affine big-endian coordinates (ECPoint.X().Bytes(), Y().Bytes()) and
// scalars mod the group order q (2^252 + ...).
//
// v2.0.2 checks points with the decred curve's IsOnCurve, which reads only
// the first 32 bytes of a longer coordinate, ignores bit 255 and reduces
// modulo p: many encodings pass for one point. The guard wants one canonical
// encoding per point, a point of the prime-order subgroup (every point an
// honest party sends is a multiple of the base point), and never the
// identity: the identity and the seven other small-order points have x = 0
// or y = 0, which the non-empty rule of integer already refuses, and q·P = O
// refuses a point with a small-order component.

const (
	edCoordBits  = 255 // coordinates are below p = 2^255 - 19
	edScalarBits = 253 // q = 2^252 + 27742317777372353535851937790883648493
)

var (
	edP  = tss.Edwards().Params().P
	edQ  = tss.Edwards().Params().N
	edGx = tss.Edwards().Params().Gx
	edGy = tss.Edwards().Params().Gy
	// edD is the curve constant d = -121665/121666 mod p of
	// -x^2 + y^2 = 1 + d x^2 y^2, and ed2D is 2d.
	edD  = edConstD()
	ed2D = new(big.Int).Mod(new(big.Int).Lsh(edD, 1), edP)
)

func edConstD() *big.Int {
	d := new(big.Int).ModInverse(big.NewInt(121666), edP)
	d.Mul(d, big.NewInt(-121665))
	return d.Mod(d, edP)
}

// edCoord decodes a coordinate: canonical, non-zero and below p.
func (c fields) edCoord(field string, b []byte) (*big.Int, *Violation) {
	v, bad := c.integer(field, b, edCoordBits)
	if bad != nil {
		return nil, bad
	}
	if v.Cmp(edP) >= 0 {
		return nil, c.fail(field, "coordinate not below the field prime")
	}
	return v, nil
}

// edPoint decodes a point that must be on Ed25519, in the subgroup of prime
// order q, and not the identity.
func (c fields) edPoint(fieldX, fieldY string, bx, by []byte) *Violation {
	x, bad := c.edCoord(fieldX, bx)
	if bad != nil {
		return bad
	}
	y, bad := c.edCoord(fieldY, by)
	if bad != nil {
		return bad
	}
	if !edOnCurve(x, y) {
		return c.fail(fieldX+"/"+fieldY, "point not on the curve")
	}
	if !edInPrimeOrderSubgroup(x, y) {
		return c.fail(fieldX+"/"+fieldY, "point not in the prime-order subgroup")
	}
	return nil
}

// edScalar decodes a non-zero scalar below the group order q. v2.0.2 reads
// a scalar of any length: its ScalarBaseMult loops over every bit, so a long
// one costs time in proportion, and a value of q or more is a second
// encoding of a smaller one.
func (c fields) edScalar(field string, b []byte) (*big.Int, *Violation) {
	v, bad := c.integer(field, b, edScalarBits)
	if bad != nil {
		return nil, bad
	}
	if v.Cmp(edQ) >= 0 {
		return nil, c.fail(field, "not below the curve order")
	}
	return v, nil
}

// edDecommitment checks a hash decommitment [r, x0, y0, x1, y1, ...] that
// must open to exactly points Ed25519 points.
func (c fields) edDecommitment(field string, d [][]byte, points int) *Violation {
	if bad := c.count(field, len(d), 1+2*points); bad != nil {
		return bad
	}
	if _, bad := c.integer(part(field, 0, "randomness"), d[0], commitRandBits); bad != nil {
		return bad
	}
	for i := 0; i < points; i++ {
		jx, jy := 1+2*i, 2+2*i
		if bad := c.edPoint(part(field, jx, fmt.Sprintf("point %d x", i)), part(field, jy, fmt.Sprintf("point %d y", i)), d[jx], d[jy]); bad != nil {
			return bad
		}
	}
	return nil
}

// edOnCurve reports whether (x, y), both below p, satisfies
// -x^2 + y^2 = 1 + d x^2 y^2 (mod p).
func edOnCurve(x, y *big.Int) bool {
	x2 := new(big.Int).Mul(x, x)
	x2.Mod(x2, edP)
	y2 := new(big.Int).Mul(y, y)
	y2.Mod(y2, edP)
	lhs := new(big.Int).Sub(y2, x2)
	lhs.Mod(lhs, edP)
	rhs := new(big.Int).Mul(x2, y2)
	rhs.Mul(rhs, edD)
	rhs.Add(rhs, one)
	rhs.Mod(rhs, edP)
	return lhs.Cmp(rhs) == 0
}

// edInPrimeOrderSubgroup reports whether q·(x, y) is the identity, for a
// point already on the curve. It is variable time, which is fine for public
// points.
func edInPrimeOrderSubgroup(x, y *big.Int) bool {
	return edScalarMult(edQ, edAffine(x, y)).isIdentity()
}

// edExtended is a point in extended coordinates (X : Y : Z : T), with
// x = X/Z, y = Y/Z and x·y = T/Z.
type edExtended struct{ x, y, z, t *big.Int }

func edAffine(x, y *big.Int) edExtended {
	t := new(big.Int).Mul(x, y)
	return edExtended{new(big.Int).Set(x), new(big.Int).Set(y), big.NewInt(1), t.Mod(t, edP)}
}

func edIdentity() edExtended {
	return edExtended{big.NewInt(0), big.NewInt(1), big.NewInt(1), big.NewInt(0)}
}

func (p edExtended) isIdentity() bool {
	return p.x.Sign() == 0 && p.y.Cmp(p.z) == 0
}

// affine returns x = X/Z and y = Y/Z.
func (p edExtended) affine() (x, y *big.Int) {
	zInv := new(big.Int).ModInverse(p.z, edP)
	x = new(big.Int).Mul(p.x, zInv)
	y = new(big.Int).Mul(p.y, zInv)
	return x.Mod(x, edP), y.Mod(y, edP)
}

// edAdd is the unified addition of Hisil, Wong, Carter and Dawson (2008) for
// a = -1 ("add-2008-hwcd-3"). It is complete on Ed25519 (d is not a square
// mod p), so it also doubles and handles the identity.
func edAdd(p, q edExtended) edExtended {
	mul := func(a, b *big.Int) *big.Int {
		r := new(big.Int).Mul(a, b)
		return r.Mod(r, edP)
	}
	a := mul(new(big.Int).Sub(p.y, p.x), new(big.Int).Sub(q.y, q.x))
	b := mul(new(big.Int).Add(p.y, p.x), new(big.Int).Add(q.y, q.x))
	c := mul(mul(p.t, ed2D), q.t)
	d := mul(new(big.Int).Lsh(p.z, 1), q.z)
	e := new(big.Int).Sub(b, a)
	f := new(big.Int).Sub(d, c)
	g := new(big.Int).Add(d, c)
	h := new(big.Int).Add(b, a)
	return edExtended{x: mul(e, f), y: mul(g, h), z: mul(f, g), t: mul(e, h)}
}

// edScalarMult computes k·p by double-and-add.
func edScalarMult(k *big.Int, p edExtended) edExtended {
	r := edIdentity()
	for i := k.BitLen() - 1; i >= 0; i-- {
		r = edAdd(r, r)
		if k.Bit(i) == 1 {
			r = edAdd(r, p)
		}
	}
	return r
}
