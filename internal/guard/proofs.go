package guard

import (
	"math/big"
)

// This file checks the serialized zero-knowledge proofs of tss-lib v2.0.2 on
// their own: element counts, encodings, bit sizes, ranges and degenerate
// values. Checks that need the sender's Paillier modulus from another message
// live in session.go.

// modulus decodes a Paillier modulus N or an NTilde: exactly modulusBits
// bits, odd, without a prime factor below 1000, 1 mod 4 and composite. An
// even modulus would also make big.Jacobi panic later. The last two mirror
// upstream (see doc.go): v4 refuses a prime modulus in every verifier that
// takes one (common.IsUsableUnknownOrderModulus), and v2.0.2 never tests
// NTilde for it; and the NTilde modulus proof v4 adds holds only for a Blum
// integer, which is 1 mod 4. Both hold for every honest modulus, a product
// of two safe primes (each 3 mod 4).
func (c fields) modulus(field string, b []byte) (*big.Int, *Violation) {
	n, bad := c.exactBits(field, b, modulusBits)
	if bad != nil {
		return nil, bad
	}
	if n.Bit(0) == 0 {
		return nil, c.fail(field, "even modulus")
	}
	if new(big.Int).GCD(nil, nil, n, smallPrimes()).Cmp(one) != 0 {
		return nil, c.fail(field, "modulus has a prime factor below 1000")
	}
	if bad := c.upstreamModulus(field, n); bad != nil {
		return nil, bad
	}
	return n, nil
}

// ringPedersen checks h1, h2 for NTilde: units of Z/NTilde other than 1, and
// distinct (keygen round 2 checks h1 != h2, resharing round 4 too).
func (c fields) ringPedersen(fieldH1, fieldH2 string, b1, b2 []byte, nTilde *big.Int) *Violation {
	h1, bad := c.residue(fieldH1, b1, modulusBits, nTilde)
	if bad != nil {
		return bad
	}
	h2, bad := c.residue(fieldH2, b2, modulusBits, nTilde)
	if bad != nil {
		return bad
	}
	if h1.Cmp(h2) == 0 {
		return c.fail(fieldH1+"/"+fieldH2, "h1 == h2")
	}
	for _, h := range []struct {
		field string
		v     *big.Int
	}{{fieldH1, h1}, {fieldH2, h2}} {
		if new(big.Int).GCD(nil, nil, h.v, nTilde).Cmp(one) != 0 {
			return c.fail(h.field, "gcd with NTilde != 1")
		}
	}
	return nil
}

// dlnProof checks a serialized dlnproof.Proof: the commitments builder layout
// [128, alpha_0..alpha_127, 128, t_0..t_127] with every value in [2, NTilde),
// and every alpha a unit modulo NTilde (upstream v4, see dlnAlphaUnits).
func (c fields) dlnProof(field string, parts [][]byte, nTilde *big.Int) *Violation {
	if bad := c.count(field, len(parts), dlnParts); bad != nil {
		return bad
	}
	for _, i := range []int{0, 1 + dlnIterations} {
		if len(parts[i]) != 1 || parts[i][0] != dlnIterations {
			return c.failf(part(field, i, "length prefix"), "must be %d", dlnIterations)
		}
	}
	for i := 1; i <= dlnIterations; i++ {
		if _, bad := c.residue(part(field, i, "alpha"), parts[i], modulusBits, nTilde); bad != nil {
			return bad
		}
		j := i + 1 + dlnIterations
		if _, bad := c.residue(part(field, j, "t"), parts[j], modulusBits, nTilde); bad != nil {
			return bad
		}
	}
	return c.dlnAlphaUnits(field, parts, nTilde)
}

// modProof is a decoded modproof.ProofMod (Paillier-Blum modulus proof).
type modProof struct {
	w    *big.Int
	x, z []*big.Int
}

// decodeModProof checks a serialized modproof.ProofMod on its own: 163
// elements W, X[80], A, B, Z[80]; W, X_i, Z_i in [2, 2^2048); A and B of exactly
// 81 bits, as Verify requires. The all-zero proof that SetNoProofMod sends
// fails here.
func (c fields) decodeModProof(field string, parts [][]byte) (*modProof, *Violation) {
	if bad := c.count(field, len(parts), modParts); bad != nil {
		return nil, bad
	}
	pf := &modProof{x: make([]*big.Int, modIterations), z: make([]*big.Int, modIterations)}
	var bad *Violation
	if pf.w, bad = c.residue(part(field, 0, "W"), parts[0], modulusBits, nil); bad != nil {
		return nil, bad
	}
	for i := 0; i < modIterations; i++ {
		if pf.x[i], bad = c.residue(part(field, 1+i, "X"), parts[1+i], modulusBits, nil); bad != nil {
			return nil, bad
		}
	}
	if _, bad = c.exactBits(part(field, 1+modIterations, "A"), parts[1+modIterations], modABits); bad != nil {
		return nil, bad
	}
	if _, bad = c.exactBits(part(field, 2+modIterations, "B"), parts[2+modIterations], modABits); bad != nil {
		return nil, bad
	}
	for i := 0; i < modIterations; i++ {
		j := 3 + modIterations + i
		if pf.z[i], bad = c.residue(part(field, j, "Z"), parts[j], modulusBits, nil); bad != nil {
			return nil, bad
		}
	}
	return pf, nil
}

// against checks the proof against the modulus N it proves (N already checked
// by modulus: 2048 bits and odd). v2.0.2's Verify checks only that W is not a
// quadratic residue (Jacobi != 1), which a W sharing a factor with N passes
// (Jacobi = 0): with W | N a party can "prove" a modulus with small factors
// (upstream tss-lib PR #323). The guard requires gcd(W, N) = 1 and
// Jacobi(W, N) = -1, and X_i, Z_i to be units below N.
func (pf *modProof) against(c fields, field string, n *big.Int) *Violation {
	gcd := new(big.Int)
	if pf.w.Cmp(n) >= 0 {
		return c.fail(part(field, 0, "W"), "not below N")
	}
	if gcd.GCD(nil, nil, pf.w, n).Cmp(one) != 0 {
		return c.fail(part(field, 0, "W"), "gcd(W, N) != 1")
	}
	if big.Jacobi(pf.w, n) != -1 {
		return c.fail(part(field, 0, "W"), "Jacobi(W, N) != -1")
	}
	for i := 0; i < modIterations; i++ {
		for _, e := range []struct {
			role string
			j    int
			v    *big.Int
		}{{"X", 1 + i, pf.x[i]}, {"Z", 3 + modIterations + i, pf.z[i]}} {
			if e.v.Cmp(n) >= 0 {
				return c.fail(part(field, e.j, e.role), "not below N")
			}
			if gcd.GCD(nil, nil, e.v, n).Cmp(one) != 0 {
				return c.fail(part(field, e.j, e.role), "gcd with N != 1")
			}
		}
	}
	return nil
}

// facProof checks a serialized facproof.ProofFac (no small factor proof):
// P, Q, A, B, T in [2, 2^2048) (they live mod the verifier's NTilde), and the
// responses non-zero and within the bounds of limits.go. The all-zero proof
// that SetNoProofFac sends fails here.
func (c fields) facProof(field string, parts [][]byte) *Violation {
	if bad := c.count(field, len(parts), facParts); bad != nil {
		return bad
	}
	for i, role := range []string{"P", "Q", "A", "B", "T"} {
		if _, bad := c.residue(part(field, i, role), parts[i], modulusBits, nil); bad != nil {
			return bad
		}
	}
	if _, bad := c.integer(part(field, 5, "Sigma"), parts[5], facSigmaBits); bad != nil {
		return bad
	}
	for i, role := range []string{"Z1", "Z2"} {
		z, bad := c.integer(part(field, 6+i, role), parts[6+i], 3*curveOrderBits+modulusBits/2)
		if bad != nil {
			return bad
		}
		if z.Cmp(facZBound) >= 0 {
			return c.fail(part(field, 6+i, role), "above q^3*sqrt(N0)")
		}
	}
	for i, role := range []string{"W1", "W2"} {
		if _, bad := c.integer(part(field, 8+i, role), parts[8+i], q3NTildeBits); bad != nil {
			return bad
		}
	}
	_, bad := c.integer(part(field, 10, "V"), parts[10], facVBits)
	return bad
}

// paillierProof checks keygen's serialized paillier.Proof: 13 values in
// [2, 2^2048). Values below the sender's N are checked by Session.
func (c fields) paillierProof(field string, parts [][]byte) ([]*big.Int, *Violation) {
	if bad := c.count(field, len(parts), paillierIters); bad != nil {
		return nil, bad
	}
	vs := make([]*big.Int, paillierIters)
	for i := range vs {
		var bad *Violation
		if vs[i], bad = c.residue(part(field, i, ""), parts[i], modulusBits, nil); bad != nil {
			return nil, bad
		}
	}
	return vs, nil
}

// ciphertext decodes a Paillier ciphertext: a unit mod N^2 other than 1.
func (c fields) ciphertext(field string, b []byte) *Violation {
	_, bad := c.residue(field, b, modulusSquaredBits, nil)
	return bad
}

// response decodes an MtA proof response that v2.0.2 requires to be at least
// q, with at most maxBits bits and at most max when max is not nil.
func (c fields) response(field string, b []byte, maxBits int, max *big.Int) (*big.Int, *Violation) {
	v, bad := c.integer(field, b, maxBits)
	if bad != nil {
		return nil, bad
	}
	if v.Cmp(curveOrder) < 0 {
		return nil, c.fail(field, "below q")
	}
	if max != nil && v.Cmp(max) > 0 {
		return nil, c.fail(field, "above its bound")
	}
	return v, nil
}

// rangeProofAlice checks a serialized mta.RangeProofAlice [Z, U, W, S, S1, S2].
// Z, W live mod NTilde, U mod N^2, S mod N: each must be in [2, modulus) (S = 1
// or Z = 1 are the degenerate values upstream later rejected). S1 in [q, q^3],
// S2 >= q and S1 != S2.
func (c fields) rangeProofAlice(field string, parts [][]byte) *Violation {
	if bad := c.count(field, len(parts), aliceParts); bad != nil {
		return bad
	}
	for _, e := range []struct {
		i    int
		role string
		bits int
	}{{0, "Z", modulusBits}, {1, "U", modulusSquaredBits}, {2, "W", modulusBits}, {3, "S", modulusBits}} {
		if _, bad := c.residue(part(field, e.i, e.role), parts[e.i], e.bits, nil); bad != nil {
			return bad
		}
	}
	s1, bad := c.response(part(field, 4, "S1"), parts[4], 3*curveOrderBits, q3)
	if bad != nil {
		return bad
	}
	s2, bad := c.response(part(field, 5, "S2"), parts[5], q3NTildeBits, nil)
	if bad != nil {
		return bad
	}
	if s1.Cmp(s2) == 0 {
		return c.fail(part(field, 4, "S1")+"/"+part(field, 5, "S2"), "S1 == S2")
	}
	return nil
}

// proofBob checks a serialized mta.ProofBob [Z, ZPrm, T, V, W, S, S1, S2, T1,
// T2], and for the "with check" variant the point U appended as two
// coordinates. Z, ZPrm, T, W live mod NTilde, V mod N^2, S mod N: each in
// [2, modulus). S1 in [q, q^3], T1 in [q, q^7], S2, T2 >= q, S1 != S2, T1 != T2;
// with check, S1 not a multiple of q and U on the curve.
func (c fields) proofBob(field string, parts [][]byte, withCheck bool) *Violation {
	want := bobParts
	if withCheck {
		want = bobWCParts
	}
	if bad := c.count(field, len(parts), want); bad != nil {
		return bad
	}
	for _, e := range []struct {
		i    int
		role string
		bits int
	}{
		{0, "Z", modulusBits}, {1, "ZPrm", modulusBits}, {2, "T", modulusBits},
		{3, "V", modulusSquaredBits}, {4, "W", modulusBits}, {5, "S", modulusBits},
	} {
		if _, bad := c.residue(part(field, e.i, e.role), parts[e.i], e.bits, nil); bad != nil {
			return bad
		}
	}
	s1, bad := c.response(part(field, 6, "S1"), parts[6], 3*curveOrderBits, q3)
	if bad != nil {
		return bad
	}
	s2, bad := c.response(part(field, 7, "S2"), parts[7], q3NTildeBits, nil)
	if bad != nil {
		return bad
	}
	t1, bad := c.response(part(field, 8, "T1"), parts[8], 7*curveOrderBits, q7)
	if bad != nil {
		return bad
	}
	t2, bad := c.response(part(field, 9, "T2"), parts[9], q3NTildeBits, nil)
	if bad != nil {
		return bad
	}
	if s1.Cmp(s2) == 0 {
		return c.fail(part(field, 6, "S1")+"/"+part(field, 7, "S2"), "S1 == S2")
	}
	if t1.Cmp(t2) == 0 {
		return c.fail(part(field, 8, "T1")+"/"+part(field, 9, "T2"), "T1 == T2")
	}
	if withCheck {
		// ProofBobWC.Verify computes ScalarBaseMult(S1 mod q), which panics
		// for 0, in a goroutine of signing round 3 that no caller can recover.
		if new(big.Int).Mod(s1, curveOrder).Sign() == 0 {
			return c.fail(part(field, 6, "S1"), "multiple of q")
		}
		return c.point(part(field, 10, "U x"), part(field, 11, "U y"), parts[10], parts[11])
	}
	return nil
}
