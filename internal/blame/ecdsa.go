package blame

import (
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/crypto/vss"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
)

// paillierBits is keygen round 2's paillierBitsLen: the size it requires of
// every Paillier modulus and NTilde.
const paillierBits = 2048

// ecdsa judges an ECDSA keygen. The accuser's library checks the accused's
// messages in this order (tss-lib v2.0.2 ecdsa/keygen):
//
//   - round 2, on its KGRound1Message: Paillier N and NTilde of 2048 bits,
//     h1 != h2, h1 and h2 not used by a member of lower index, both DLN
//     proofs for (h1, h2, NTilde);
//   - round 3, on its KGRound2Message2: the decommitment opens the round 1
//     commitment to curve points, the modulus proof for N (context ssid||j);
//     on its KGRound2Message1 to the accuser: the Shamir share against that
//     polynomial at the accuser's key, the no-small-factor proof for N
//     against the accuser's NTilde, h1, h2 (context ssid||j); then the sums
//     of all polynomials (see sumPolys);
//   - round 4, on its KGRound3Message: the Paillier proof for N, the
//     accused's key and the public key.
//
// Round 3 verifies the no-small-factor proof against the accuser's OWN
// NTilde, h1, h2 (round.save.NTildei, H1i, H2i), state the accuser never
// shows; the judge uses the values the accuser announced in its round 1
// broadcast instead, which is what the accused had to use. Likewise the sums
// and the public key start from the accuser's own polynomial, and the
// uniqueness of h1/h2 compares with the accuser's own round 1 message: the
// judge uses its announced ones. No check on the accused's messages reads
// the accuser's secret state (its shares, Paillier key, ring-Pedersen
// trapdoor), only values the accuser also announces, so none is Undecided
// for that reason.
func (j *judge) ecdsa() Verdict {
	var r result
	a := j.accused
	r1, _ := j.content(a, ecR1).(*keygen.KGRound1Message)
	r2m1, _ := j.content(a, ecR2M1).(*keygen.KGRound2Message1)
	r2m2, _ := j.content(a, ecR2M2).(*keygen.KGRound2Message2)
	r3, _ := j.content(a, ecR3).(*keygen.KGRound3Message)
	// A missing message is a check not run (see Clean in the package doc).
	if r1 == nil {
		return r.verdict() // every later check needs its round 1 values
	}
	if r.add(checkAccused(short(ecR1), func() Verdict { return ecRound1(r1) })) {
		return r.v
	}
	r.add(announced("KGRound1Message: other members' h1/h2 cannot be read", func() Verdict { return j.uniqueH(r1) }))

	ctx := j.contextJ()
	n := r1.UnmarshalPaillierPK().N
	var vs vss.Vs
	if r2m2 != nil {
		if r.add(checkAccused(short(ecR2M2), func() (v Verdict) {
			vs, v = j.ecRound2Message2(r1, r2m2, ctx, n)
			return v
		})) {
			return r.v
		}
	}
	if r2m1 != nil {
		if r.add(checkAccused(short(ecR2M1), func() Verdict { return j.ecRound2Message1(r2m1, vs, ctx, n) })) {
			return r.v
		}
	}
	if r3 == nil || vs == nil {
		return r.verdict()
	}
	pub, v := j.sumPolys(j.ecPoly, vs)
	if r.add(v) || pub == nil {
		return r.verdict()
	}
	r.add(checkAccused(short(ecR3), func() Verdict {
		ok, err := r3.UnmarshalProofInts().Verify(n, j.ids[a].KeyInt(), pub)
		if err != nil || !ok {
			return guilty("KGRound3Message: Paillier proof does not verify for the accused's N and the announced public key")
		}
		return clean()
	}))
	return r.verdict()
}

// ecRound1 is keygen round 2's check of one KGRound1Message, without the
// uniqueness of h1 and h2 (uniqueH).
func ecRound1(m *keygen.KGRound1Message) Verdict {
	h1, h2, nTilde := m.UnmarshalH1(), m.UnmarshalH2(), m.UnmarshalNTilde()
	switch {
	case m.UnmarshalPaillierPK().N.BitLen() != paillierBits:
		return guilty("KGRound1Message: Paillier modulus is not 2048 bits")
	case h1.Cmp(h2) == 0:
		return guilty("KGRound1Message: h1 equals h2")
	case nTilde.BitLen() != paillierBits:
		return guilty("KGRound1Message: NTilde is not 2048 bits")
	}
	// keygen.DlnProofVerifier: an unmarshal error counts as a failed proof.
	if pf, err := m.UnmarshalDLNProof1(); err != nil || !pf.Verify(h1, h2, nTilde) {
		return guilty("KGRound1Message: DLN proof 1 does not verify for the announced h1, h2, NTilde")
	}
	if pf, err := m.UnmarshalDLNProof2(); err != nil || !pf.Verify(h2, h1, nTilde) {
		return guilty("KGRound1Message: DLN proof 2 does not verify for the announced h2, h1, NTilde")
	}
	return clean()
}

// uniqueH: round 2 walks the round 1 messages in index order and blames the
// first member whose h1 or h2 an earlier member already used. An honest
// member's random h1, h2 never collide, but a member of lower index can copy
// an honest member's h1, h2 (with its DLN proofs, which name no party) and so
// make every library blame the honest one: which of the two copied cannot be
// told, so a collision is Undecided. It needs the round 1 message of every
// member of lower index.
func (j *judge) uniqueH(m *keygen.KGRound1Message) Verdict {
	h1, h2 := m.UnmarshalH1(), m.UnmarshalH2()
	for i := 0; i < j.accused; i++ {
		other, _ := j.content(i, ecR1).(*keygen.KGRound1Message)
		if other == nil && i == j.accuser {
			// Its library compares with its own round 1, which may not have
			// been relayed yet when it failed: cannot tell.
			return undecided("KGRound1Message: the accuser's own round 1, needed to check that h1/h2 are unique, is missing")
		}
		if other == nil {
			// The accuser's round 2 never ran without it: not a check it made.
			return clean()
		}
		for _, h := range []*big.Int{other.UnmarshalH1(), other.UnmarshalH2()} {
			if h.Cmp(h1) == 0 || h.Cmp(h2) == 0 {
				return undecided("KGRound1Message: h1 or h2 equals a member's of lower index (either may have copied the other)")
			}
		}
	}
	return clean()
}

// ecRound2Message2 is round 3's check of the accused's decommitment and
// modulus proof. It returns the decommitted polynomial.
func (j *judge) ecRound2Message2(r1 *keygen.KGRound1Message, m *keygen.KGRound2Message2, ctx []byte, n *big.Int) (vss.Vs, Verdict) {
	vs, ok := j.decommit(r1.UnmarshalCommitment(), m.GetDeCommitment())
	if !ok {
		return nil, guilty("KGRound2Message2: decommitment does not open the round 1 commitment to curve points")
	}
	// The library accepts a missing modulus proof only with NoProofMod set,
	// which the service never sets.
	pf, err := m.UnmarshalModProof()
	if err != nil || !pf.Verify(ctx, n) {
		return nil, guilty("KGRound2Message2: modulus proof does not verify for the accused's announced Paillier N")
	}
	return vs, clean()
}

// ecRound2Message1 is round 3's check of the accused's share and
// no-small-factor proof for the accuser. vs is nil when the accused's
// polynomial is unknown (its message is missing): the share is not checked.
func (j *judge) ecRound2Message1(m *keygen.KGRound2Message1, vs vss.Vs, ctx []byte, n *big.Int) Verdict {
	if vs != nil {
		share := vss.Share{Threshold: j.k.Threshold, ID: j.ids[j.accuser].KeyInt(), Share: m.UnmarshalShare()}
		if !share.Verify(j.ec, j.k.Threshold, vs) {
			return guilty("KGRound2Message1: Shamir share does not match the accused's decommitted polynomial")
		}
	}
	own, _ := j.content(j.accuser, ecR1).(*keygen.KGRound1Message)
	if own == nil {
		return undecided("KGRound2Message1: the accuser's announced NTilde/h1/h2 are missing or invalid")
	}
	// As with NoProofMod, the library accepts a missing proof only with
	// NoProofFac set.
	pf, err := m.UnmarshalFacProof()
	if err != nil || !pf.Verify(ctx, j.ec, n, own.UnmarshalNTilde(), own.UnmarshalH1(), own.UnmarshalH2()) {
		return guilty("KGRound2Message1: FacProof does not verify against the accuser's announced NTilde")
	}
	return clean()
}

// ecPoly is member m's announced ECDSA polynomial.
func (j *judge) ecPoly(m int) (vss.Vs, bool) {
	r1, _ := j.content(m, ecR1).(*keygen.KGRound1Message)
	r2, _ := j.content(m, ecR2M2).(*keygen.KGRound2Message2)
	if r1 == nil || r2 == nil {
		return nil, false
	}
	return j.decommit(r1.UnmarshalCommitment(), r2.GetDeCommitment())
}
