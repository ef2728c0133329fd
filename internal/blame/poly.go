package blame

import (
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/crypto"
	"github.com/bnb-chain/tss-lib/v2/crypto/commitments"
	"github.com/bnb-chain/tss-lib/v2/crypto/vss"
)

// decommit opens a hash commitment and reads the committed VSS polynomial
// (its coefficients times G) as keygen round 3 does: HashCommitDecommit.
// DeCommit, then crypto.UnFlattenECPoints, which checks that every point is
// on the curve. ok is false when either step fails.
func (j *judge) decommit(c *big.Int, d [][]byte) (vs vss.Vs, ok bool) {
	cd := commitments.HashCommitDecommit{C: c, D: commitments.NewHashDeCommitmentFromBytes(d)}
	opened, flat := cd.DeCommit()
	if !opened || flat == nil {
		return nil, false
	}
	vs, err := crypto.UnFlattenECPoints(j.ec, flat)
	if err != nil {
		return nil, false
	}
	return vs, true
}

// memberPoly is a member's announced polynomial: its round 2 decommitment
// opened against its round 1 commitment. The accused's comes from the
// checks of its own messages, not from here.
type memberPoly func(m int) (vss.Vs, bool)

// sumPolys mirrors keygen round 3 steps 10-17 (the same in ECDSA and EdDSA)
// on the announced polynomials: Vc starts as the accuser's own polynomial,
// every other member's is added in index order, then every member's public
// share X_k = sum_c Vc[c] * k^c is computed, and the public key is Vc[0].
// Where the library blames a member there (a point sum that leaves the
// curve), the fault lies with a sum of several members' polynomials, not
// with one member's message, so the judge returns Undecided. It needs every
// member's polynomial: a missing or invalid one is Undecided too.
func (j *judge) sumPolys(polyOf memberPoly, accusedPoly vss.Vs) (pub *crypto.ECPoint, v Verdict) {
	// notRun: another member's polynomial is missing or invalid, so the
	// accuser's round 3 never computed the sums (see Clean in the doc).
	notRun := Verdict{Outcome: Clean, Reason: "another member's polynomial is missing: the sums were never computed"}
	const degenerate = "the sum of the announced polynomials degenerates (the library's blame there is not about one member)"
	poly := func(m int) (vss.Vs, bool) {
		if m == j.accused {
			return accusedPoly, accusedPoly != nil
		}
		return polyOf(m)
	}
	t := j.k.Threshold
	own, ok := poly(j.accuser)
	if !ok || len(own) < t+1 {
		return nil, clean() // the accuser's round 3 never ran without it
	}
	v = announced(degenerate, func() Verdict {
		vc := make(vss.Vs, t+1)
		copy(vc, own)
		for m := range j.ids {
			if m == j.accuser {
				continue
			}
			vs, ok := poly(m)
			if !ok || len(vs) < t+1 {
				return notRun
			}
			for c := 0; c <= t; c++ {
				var err error
				if vc[c], err = vc[c].Add(vs[c]); err != nil {
					return undecided(degenerate)
				}
			}
		}
		modQ := common.ModInt(j.ec.Params().N)
		for _, p := range j.ids {
			x, z := vc[0], big.NewInt(1)
			for c := 1; c <= t; c++ {
				z = modQ.Mul(z, p.KeyInt())
				var err error
				if x, err = x.Add(vc[c].ScalarMult(z)); err != nil {
					return undecided(degenerate)
				}
			}
		}
		var err error
		if pub, err = crypto.NewECPoint(j.ec, vc[0].X(), vc[0].Y()); err != nil {
			return undecided(degenerate)
		}
		return clean()
	})
	if v == notRun {
		return nil, clean()
	}
	if v.Outcome != Clean {
		return nil, v
	}
	return pub, v
}
