package guard

import (
	"fmt"
	"math/big"
)

// fields builds violations for one message type and decodes its fields. Every
// decoder checks the encoded length before it converts, so no arithmetic is
// ever done on an oversized value.
type fields struct {
	typ string
}

func (c fields) fail(field, reason string) *Violation {
	return &Violation{Type: c.typ, Field: field, Reason: reason}
}

func (c fields) failf(field, format string, a ...any) *Violation {
	return c.fail(field, fmt.Sprintf(format, a...))
}

// part names element i of a repeated field, with its role when known.
func part(field string, i int, role string) string {
	if role == "" {
		return fmt.Sprintf("%s[%d]", field, i)
	}
	return fmt.Sprintf("%s[%d] (%s)", field, i, role)
}

// count checks the number of elements of a repeated field.
func (c fields) count(field string, got, want int) *Violation {
	if got != want {
		return c.failf(field, "%d elements, want %d", got, want)
	}
	return nil
}

// integer decodes a big-endian unsigned integer of at most maxBits bits. It
// rejects an empty field (tss-lib encodes zero as empty, and no field the
// guard decodes may be zero), a non-canonical encoding (a leading zero byte,
// which big.Int.Bytes never produces) and anything longer than maxBits.
func (c fields) integer(field string, b []byte, maxBits int) (*big.Int, *Violation) {
	if len(b) == 0 {
		return nil, c.fail(field, "missing or zero")
	}
	if b[0] == 0 {
		return nil, c.fail(field, "non-canonical encoding (leading zero byte)")
	}
	if maxBytes := (maxBits + 7) / 8; len(b) > maxBytes {
		return nil, c.failf(field, "%d bytes, at most %d allowed", len(b), maxBytes)
	}
	v := new(big.Int).SetBytes(b)
	if v.BitLen() > maxBits {
		return nil, c.failf(field, "%d bits, at most %d allowed", v.BitLen(), maxBits)
	}
	return v, nil
}

// exactBits decodes an integer that must have exactly bits bits.
func (c fields) exactBits(field string, b []byte, bits int) (*big.Int, *Violation) {
	v, bad := c.integer(field, b, bits)
	if bad != nil {
		return nil, bad
	}
	if v.BitLen() != bits {
		return nil, c.failf(field, "%d bits, want exactly %d", v.BitLen(), bits)
	}
	return v, nil
}

// residue decodes a residue modulo a modulus of at most maxBits bits, other
// than 0 and 1: 2 <= v, v < max (when max is not nil), at most maxBits bits.
// 0 and 1 are the degenerate values that make the proofs that use them
// trivially true or false. Whether v is a unit needs the modulus itself; the
// callers that have it check the gcd.
func (c fields) residue(field string, b []byte, maxBits int, max *big.Int) (*big.Int, *Violation) {
	v, bad := c.integer(field, b, maxBits)
	if bad != nil {
		return nil, bad
	}
	if v.Cmp(one) <= 0 {
		return nil, c.fail(field, "degenerate value (0 or 1)")
	}
	if max != nil && v.Cmp(max) >= 0 {
		return nil, c.fail(field, "not below its modulus")
	}
	return v, nil
}

// scalar decodes a non-zero scalar modulo the curve order q.
func (c fields) scalar(field string, b []byte) (*big.Int, *Violation) {
	v, bad := c.integer(field, b, curveOrderBits)
	if bad != nil {
		return nil, bad
	}
	if v.Cmp(curveOrder) >= 0 {
		return nil, c.fail(field, "not below the curve order")
	}
	return v, nil
}

// point decodes an affine point that must be on secp256k1. The point at
// infinity has no affine encoding on the curve, so it is rejected too.
func (c fields) point(fieldX, fieldY string, bx, by []byte) *Violation {
	x, bad := c.coord(fieldX, bx)
	if bad != nil {
		return bad
	}
	y, bad := c.coord(fieldY, by)
	if bad != nil {
		return bad
	}
	if !onCurve(x, y) {
		return c.fail(fieldX+"/"+fieldY, "point not on the curve")
	}
	return nil
}

func (c fields) coord(field string, b []byte) (*big.Int, *Violation) {
	// A coordinate may legitimately be zero only for points that do not
	// exist on secp256k1 (x = 0 gives y^2 = 7, a non-residue), so the
	// non-empty rule of integer costs nothing.
	v, bad := c.integer(field, b, curveOrderBits)
	if bad != nil {
		return nil, bad
	}
	if v.Cmp(fieldPrime) >= 0 {
		return nil, c.fail(field, "coordinate not below the field prime")
	}
	return v, nil
}

// hash decodes a hash commitment: a SHA-512/256 output.
func (c fields) hash(field string, b []byte) *Violation {
	_, bad := c.integer(field, b, hashBits)
	return bad
}

// decommitment checks a hash decommitment D = [r, x0, y0, x1, y1, ...] that
// must open to exactly points curve points.
func (c fields) decommitment(field string, d [][]byte, points int) *Violation {
	if bad := c.count(field, len(d), 1+2*points); bad != nil {
		return bad
	}
	if _, bad := c.integer(part(field, 0, "randomness"), d[0], commitRandBits); bad != nil {
		return bad
	}
	for i := 0; i < points; i++ {
		jx, jy := 1+2*i, 2+2*i
		if bad := c.point(part(field, jx, fmt.Sprintf("point %d x", i)), part(field, jy, fmt.Sprintf("point %d y", i)), d[jx], d[jy]); bad != nil {
			return bad
		}
	}
	return nil
}
