package guard

import (
	"fmt"
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
)

// This file holds the checks added to mirror verifier-side changes that
// tss-lib made after v2.0.2 (v3.0.0 and the v4 pull request). doc.go lists
// every such change: the ones mirrored here, the ones other files already
// mirrored, and the ones that cannot be mirrored from outside the library.

// upstreamModulus holds the modulus checks v2.0.2 lacks, for a modulus that
// is already 2048 bits, odd and free of factors below 1000:
//
//   - 1 mod 4: v4 adds a modulus proof for NTilde (keygen round 3, resharing
//     round 4) that only a Blum integer p*q, p = q = 3 mod 4, passes. The
//     proof itself is a new wire field; its necessary condition is not.
//   - composite: v4's common.IsUsableUnknownOrderModulus, called by
//     dlnproof.Proof.Verify, facproof.ProofFac.Verify, mta's verifiers and
//     paillier.Proof.Verify. v2.0.2 never tests NTilde for it (its
//     modproof.Verify tests only the Paillier N). A prime NTilde of the
//     sender's choosing (p-1 smooth) gives it discrete logarithms modulo
//     NTilde, and with them the secrets other parties commit to under h1, h2
//     in their range proofs.
//
// ProbablyPrime(0) is the Baillie-PSW test: it reports every prime as prime,
// so it refuses every prime modulus, at the cost of about three modular
// exponentiations; a composite it took for prime would only be refused.
func (c fields) upstreamModulus(field string, n *big.Int) *Violation {
	if n.Bit(1) != 0 {
		return c.fail(field, "modulus is 3 mod 4 (not a Blum integer)")
	}
	if n.ProbablyPrime(0) {
		return c.fail(field, "modulus is prime")
	}
	return nil
}

// dlnAlphaUnits: v4's dlnproof.Proof.Verify requires every commitment
// alpha_i to be a unit modulo NTilde (common.IsCanonicalGenerator); v2.0.2
// checks only 1 < alpha_i mod NTilde. An honest alpha_i = h1^a_i is a unit.
// The parts are already checked to be in [2, NTilde).
func (c fields) dlnAlphaUnits(field string, parts [][]byte, nTilde *big.Int) *Violation {
	gcd, v := new(big.Int), new(big.Int)
	for i := 1; i <= dlnIterations; i++ {
		if gcd.GCD(nil, nil, v.SetBytes(parts[i]), nTilde).Cmp(one) != 0 {
			return c.fail(part(field, i, "alpha"), "gcd with NTilde != 1")
		}
	}
	return nil
}

// localRing is what a signer's own MtA proofs are checked against: the
// local party's Paillier modulus and NTilde, from its key data. In GG18's
// MtA the range proof Alice sends to Bob is made under Bob's NTilde, and
// Bob's answer is encrypted under Alice's N and proved under her NTilde, so
// every proof a signer receives lives in its own ring.
type localRing struct {
	n, n2 *big.Int
	// bound is 2*q^3*NTilde: v4's RangeProofAlice.Verify and
	// ProofBobWC.Verify refuse S2 (and T2) at or above it. An honest S2 is
	// e*rho + gamma < q*(q*NTilde) + q^3*NTilde, T2 likewise.
	bound *big.Int
}

// localRingOf finds the local party in its key data (ShareID among Ks) and
// returns its modulus and NTilde.
func localRingOf(key keygen.LocalPartySaveData) (*localRing, error) {
	idx := -1
	for j, k := range key.Ks {
		if k != nil && key.ShareID != nil && k.Cmp(key.ShareID) == 0 {
			idx = j
			break
		}
	}
	if idx < 0 || idx >= len(key.NTildej) || idx >= len(key.PaillierPKs) || key.PaillierPKs[idx] == nil {
		return nil, fmt.Errorf("%w: key data without the local party's ShareID among Ks", ErrBadParams)
	}
	nTilde, n := key.NTildej[idx], key.PaillierPKs[idx].N
	if nTilde == nil || nTilde.BitLen() != modulusBits || nTilde.Bit(0) == 0 || n == nil {
		return nil, fmt.Errorf("%w: key data entry %d has no valid NTilde", ErrBadParams, idx)
	}
	bound := new(big.Int).Mul(q3, nTilde)
	return &localRing{
		n:     new(big.Int).Set(n),
		n2:    new(big.Int).Mul(n, n),
		bound: bound.Lsh(bound, 1),
	}, nil
}

// below checks a response against the v4 bound 2*q^3*NTilde.
func (r *localRing) below(c fields, field string, b []byte) *Violation {
	if new(big.Int).SetBytes(b).Cmp(r.bound) >= 0 {
		return c.fail(field, "not below 2*q^3*NTilde of the recipient")
	}
	return nil
}

// checkAlice: S2 of the range proof Alice sent to the local party (v4
// RangeProofAlice.Verify: S2 < 2*q^3*NTilde). Check has counted the parts.
func (r *localRing) checkAlice(c fields, m *signing.SignRound1Message1) *Violation {
	return r.below(c, part("RangeProofAlice", 5, "S2"), m.GetRangeProofAlice()[5])
}

// checkBob: Bob's two answers to the local party's MtA. v4's
// ProofBobWC.Verify requires both ciphertexts to be canonical units modulo
// the verifier's N^2 (common.IsCanonicalPaillierCiphertext: c < N^2,
// gcd(c, N) = 1), where v2.0.2 finds a bad one only when it decrypts it,
// after the proofs; and S2, T2 < 2*q^3*NTilde in both proofs.
func (r *localRing) checkBob(c fields, m *signing.SignRound2Message) *Violation {
	for _, e := range []struct {
		field string
		b     []byte
	}{{"C1", m.GetC1()}, {"C2", m.GetC2()}} {
		if bad := c.unitBelow(e.field, new(big.Int).SetBytes(e.b), r.n2, "the recipient's N^2"); bad != nil {
			return bad
		}
	}
	for _, pf := range []struct {
		field string
		parts [][]byte
	}{{"ProofBob", m.GetProofBob()}, {"ProofBobWc", m.GetProofBobWc()}} {
		for _, e := range []struct {
			i    int
			role string
		}{{7, "S2"}, {9, "T2"}} {
			if bad := r.below(c, part(pf.field, e.i, e.role), pf.parts[e.i]); bad != nil {
				return bad
			}
		}
	}
	return nil
}
