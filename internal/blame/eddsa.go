package blame

import (
	"github.com/bnb-chain/tss-lib/v2/crypto/vss"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
)

// eddsa judges an EdDSA keygen. The accuser's library checks the accused's
// messages only in round 3 (tss-lib v2.0.2 eddsa/keygen; round 2 just stores
// the commitments): on its KGRound2Message2, the decommitment opens the
// round 1 commitment to curve points (each then multiplied by 8 and 1/8,
// EightInvEight), and the Schnorr proof of v_0's discrete log (context
// ssid||j); on its KGRound2Message1 to the accuser, the Shamir share against
// that polynomial at the accuser's key; then the sums of all polynomials
// (see sumPolys), which start from the accuser's own polynomial: the judge
// uses its announced decommitment. There is no round 3 message.
func (j *judge) eddsa() Verdict {
	var r result
	a := j.accused
	r1, _ := j.content(a, edR1).(*eddsakeygen.KGRound1Message)
	r2m1, _ := j.content(a, edR2M1).(*eddsakeygen.KGRound2Message1)
	r2m2, _ := j.content(a, edR2M2).(*eddsakeygen.KGRound2Message2)
	// A missing message is a check not run (see Clean in the package doc).
	if r1 == nil || r2m2 == nil {
		// The share can only be checked against the opened polynomial.
		return r.verdict()
	}
	var vs vss.Vs
	if r.add(checkAccused(short(edR2M2), func() (v Verdict) {
		vs, v = j.edRound2Message2(r1, r2m2)
		return v
	})) {
		return r.v
	}
	if r2m1 == nil {
		return r.verdict()
	}
	if r.add(checkAccused(short(edR2M1), func() Verdict {
		share := vss.Share{Threshold: j.k.Threshold, ID: j.ids[j.accuser].KeyInt(), Share: r2m1.UnmarshalShare()}
		if !share.Verify(j.ec, j.k.Threshold, vs) {
			return guilty("KGRound2Message1: Shamir share does not match the accused's decommitted polynomial")
		}
		return clean()
	})) {
		return r.v
	}
	_, v := j.sumPolys(j.edPoly, vs)
	r.add(v)
	return r.verdict()
}

// edRound2Message2 is round 3's check of the accused's decommitment and
// Schnorr proof. It returns the decommitted polynomial, after EightInvEight.
func (j *judge) edRound2Message2(r1 *eddsakeygen.KGRound1Message, m *eddsakeygen.KGRound2Message2) (vss.Vs, Verdict) {
	vs, ok := j.decommit(r1.UnmarshalCommitment(), m.GetDeCommitment())
	if !ok {
		return nil, guilty("KGRound2Message2: decommitment does not open the round 1 commitment to curve points")
	}
	for i, p := range vs {
		vs[i] = p.EightInvEight()
	}
	pf, err := m.UnmarshalZKProof(j.ec)
	if err != nil {
		return nil, guilty("KGRound2Message2: Schnorr proof commitment is not a curve point")
	}
	if !pf.Verify(j.contextJ(), vs[0]) {
		return nil, guilty("KGRound2Message2: Schnorr proof of v_0 does not verify")
	}
	return vs, clean()
}

// edPoly is member m's announced EdDSA polynomial as the accuser's round 3
// uses it: another member's points after EightInvEight, its own as they are.
func (j *judge) edPoly(m int) (vs vss.Vs, ok bool) {
	r1, _ := j.content(m, edR1).(*eddsakeygen.KGRound1Message)
	r2, _ := j.content(m, edR2M2).(*eddsakeygen.KGRound2Message2)
	if r1 == nil || r2 == nil {
		return nil, false
	}
	if vs, ok = j.decommit(r1.UnmarshalCommitment(), r2.GetDeCommitment()); !ok || m == j.accuser {
		return vs, ok
	}
	ok = announced("", func() Verdict {
		for i, p := range vs {
			vs[i] = p.EightInvEight()
		}
		return clean()
	}).Outcome == Clean
	return vs, ok
}
