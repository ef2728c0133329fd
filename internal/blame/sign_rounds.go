package blame

import (
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/crypto"
	"github.com/bnb-chain/tss-lib/v2/crypto/commitments"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/mpcsign/mpcsign/internal/guard"
)

// sign runs the library's checks of the accused's messages after screenSign
// accepted them, in the library's order (see JudgeSign).
func (j *judge) sign(sk *signKey, msgs []Msg) Verdict {
	var r result
	a := j.accused
	if m, _ := j.content(a, sgR1M1).(*signing.SignRound1Message1); m != nil {
		if r.add(checkAccused(short(sgR1M1), func() Verdict { return j.signRangeProof(sk, m) })) {
			return r.v
		}
	}
	if m, _ := j.content(a, sgR2).(*signing.SignRound2Message); m != nil {
		if r.add(j.signBob(sk, m, msgs)) {
			return r.v
		}
	}
	if r.add(checkAccused(short(sgR4), func() Verdict {
		if _, reason, _ := j.openGamma(sk, a, true); reason != "" {
			return guilty(reason)
		}
		return clean()
	})) {
		return r.v
	}
	if r.add(j.signRound7(sk)) {
		return r.v
	}
	r7, _ := j.content(a, sgR7).(*signing.SignRound7Message)
	r8, _ := j.content(a, sgR8).(*signing.SignRound8Message)
	if r7 != nil && r8 != nil {
		r.add(checkAccused(short(sgR8), func() Verdict {
			ok, values := (&commitments.HashCommitDecommit{C: r7.UnmarshalCommitment(), D: r8.UnmarshalDeCommitment()}).DeCommit()
			if !ok && len(values) != 4 { // round 9's test, verbatim
				return guilty("SignRound8Message: decommitment does not open the SignRound7Message commitment")
			}
			return clean()
		}))
	}
	return r.verdict()
}

// signRangeProof is round 2's check (BobMid, BobMidWC) of the accused's
// SignRound1Message1 to the accuser: Alice's range proof under her Paillier
// key and Bob's (the accuser's) NTilde, h1, h2.
func (j *judge) signRangeProof(sk *signKey, m *signing.SignRound1Message1) Verdict {
	pf, err := m.UnmarshalRangeProofAlice()
	if err != nil {
		return guilty("SignRound1Message1: range proof does not parse")
	}
	d, i := sk.data, j.accuser
	if !pf.Verify(j.ec, d.PaillierPKs[j.accused], d.NTildej[i], d.H1j[i], d.H2j[i], m.UnmarshalC()) {
		return guilty("SignRound1Message1: range proof does not verify for the accused's Paillier key and the accuser's NTilde, h1, h2")
	}
	return clean()
}

// signBob is round 3's check (AliceEnd, AliceEndWC) of the accused's
// SignRound2Message, against the ciphertext the accuser sent the accused.
func (j *judge) signBob(sk *signKey, m *signing.SignRound2Message, msgs []Msg) Verdict {
	cA, ambiguous := j.sentCiphertext(msgs)
	if cA == nil {
		return undecided("SignRound2Message: the accuser's SignRound1Message1 to the accused is missing or invalid")
	}
	v := checkAccused(short(sgR2), func() Verdict { return j.signProofsBob(sk, m, cA) })
	if v.Outcome == Guilty && ambiguous {
		// The accused may have answered another of the accuser's messages.
		return undecided("SignRound2Message: the accuser sent the accused more than one SignRound1Message1")
	}
	return v
}

func (j *judge) signProofsBob(sk *signKey, m *signing.SignRound2Message, cA *big.Int) Verdict {
	d, i, ctx := sk.data, j.accuser, sk.ctx(j.accused)
	pk, nTilde, h1, h2 := d.PaillierPKs[i], d.NTildej[i], d.H1j[i], d.H2j[i]
	pf, err := m.UnmarshalProofBob()
	if err != nil || !pf.Verify(ctx, j.ec, pk, nTilde, h1, h2, cA, new(big.Int).SetBytes(m.GetC1())) {
		return guilty("SignRound2Message: ProofBob does not verify for C1 against the accuser's ciphertext, Paillier key and NTilde")
	}
	wc, err := m.UnmarshalProofBobWC(j.ec)
	if err != nil || !wc.Verify(ctx, j.ec, pk, nTilde, h1, h2, cA, new(big.Int).SetBytes(m.GetC2()), sk.bigWs[j.accused]) {
		return guilty("SignRound2Message: ProofBobWC does not verify for C2 against the accuser's ciphertext, Paillier key, NTilde and the accused's W")
	}
	return clean()
}

// sentCiphertext is the accuser's cis[accused] as the accused received it:
// the C of the first valid SignRound1Message1 relayed from the accuser to
// the accused. ambiguous reports another such message (different, or one
// the accused's guard would refuse): which one the accused answered is then
// not certain.
func (j *judge) sentCiphertext(msgs []Msg) (c *big.Int, ambiguous bool) {
	from, to := j.ids[j.accuser], j.ids[j.accused].Id
	for _, m := range msgs {
		if m.Broadcast || m.From != from.Id || m.To != to {
			continue
		}
		got, isR1, ok := j.readSent(m.Wire, from)
		switch {
		case !isR1:
		case !ok:
			ambiguous = true
		case c == nil:
			c = got
		case c.Cmp(got) != 0:
			ambiguous = true
		}
	}
	return c, ambiguous
}

// readSent reads one of the accuser's point-to-point messages to the
// accused as the accused's device does before its library: isR1 is false
// for another message type, ok false when the pipeline refuses it.
func (j *judge) readSent(wire []byte, from *tss.PartyID) (c *big.Int, isR1, ok bool) {
	defer func() {
		if recover() != nil {
			c, isR1, ok = nil, true, false
		}
	}()
	msg, err := tss.ParseWireMessage(wire, from, false)
	if err != nil || msg == nil || msg.Content() == nil {
		return nil, true, false // unreadable: it may have been one
	}
	m, isR1 := msg.Content().(*signing.SignRound1Message1)
	if !isR1 {
		return nil, false, false
	}
	if guard.CheckWire(j.params, wire) != nil || guard.Check(j.params, msg) != nil || !validateBasic(msg) {
		return nil, true, false
	}
	return m.UnmarshalC(), true, true
}

// openGamma is round 5's check of member m's SignRound4Message against its
// SignRound1Message2: the decommitted Gamma_m, or the reason the library
// blames m (missing messages give neither). proof is false for the
// accuser's own messages, whose proof its library never checks.
func (j *judge) openGamma(sk *signKey, m int, proof bool) (*crypto.ECPoint, string, bool) {
	c, _ := j.content(m, sgR1M2).(*signing.SignRound1Message2)
	d, _ := j.content(m, sgR4).(*signing.SignRound4Message)
	if c == nil || d == nil {
		return nil, "", false
	}
	ok, vals := (&commitments.HashCommitDecommit{C: c.UnmarshalCommitment(), D: d.UnmarshalDeCommitment()}).DeCommit()
	if !ok || len(vals) != 2 {
		return nil, "SignRound4Message: decommitment does not open the SignRound1Message2 commitment to one point", true
	}
	pt, err := crypto.NewECPoint(j.ec, vals[0], vals[1])
	if err != nil {
		return nil, "SignRound4Message: decommitted Gamma is not a curve point", true
	}
	if proof {
		pf, err := d.UnmarshalZKProof(j.ec)
		if err != nil {
			return nil, "SignRound4Message: Schnorr proof for Gamma does not parse", true
		}
		if !pf.Verify(sk.ctx(m), pt) {
			return nil, "SignRound4Message: Schnorr proof for Gamma does not verify", true
		}
	}
	return pt, "", true
}

// signRound7 is round 7's check of the accused's SignRound6Message against
// its SignRound5Message.
func (j *judge) signRound7(sk *signKey) Verdict {
	a := j.accused
	c, _ := j.content(a, sgR5).(*signing.SignRound5Message)
	d, _ := j.content(a, sgR6).(*signing.SignRound6Message)
	if c == nil || d == nil {
		return clean()
	}
	var bigV *crypto.ECPoint
	v := checkAccused(short(sgR6), func() Verdict {
		ok, vals := (&commitments.HashCommitDecommit{C: c.UnmarshalCommitment(), D: d.UnmarshalDeCommitment()}).DeCommit()
		if !ok || len(vals) != 4 {
			return guilty("SignRound6Message: decommitment does not open the SignRound5Message commitment to two points")
		}
		var errV, errA error
		bigV, errV = crypto.NewECPoint(j.ec, vals[0], vals[1])
		bigA, errA := crypto.NewECPoint(j.ec, vals[2], vals[3])
		if errV != nil || errA != nil {
			return guilty("SignRound6Message: decommitted V or A is not a curve point")
		}
		pf, err := d.UnmarshalZKProof(j.ec)
		if err != nil || !pf.Verify(sk.ctx(a), bigA) {
			return guilty("SignRound6Message: Schnorr proof for A does not verify")
		}
		if _, err := d.UnmarshalZKVProof(j.ec); err != nil {
			return guilty("SignRound6Message: V-proof does not parse")
		}
		return clean()
	})
	if v.Outcome != Clean {
		return v
	}
	var bigR *crypto.ECPoint
	v = announced("SignRound6Message: R cannot be rebuilt from the announced values", func() (v Verdict) {
		bigR, v = j.bigR(sk)
		return v
	})
	if bigR == nil {
		return v // Undecided, or the zero Verdict: the library never verifies the V-proof
	}
	return checkAccused(short(sgR6), func() Verdict {
		pf, err := d.UnmarshalZKVProof(j.ec)
		if err != nil || !pf.Verify(sk.ctx(a), bigV, bigR) {
			return guilty("SignRound6Message: V-proof does not verify against R of the announced Gamma and theta")
		}
		return clean()
	})
}

// bigR is R as the accuser's rounds 4 and 5 compute it: its own Gamma plus
// every other signer's in index order, times the inverse of the sum of every
// theta, from the announced values. It returns nil and an Undecided verdict
// when the result depends on what the judge cannot tell, and nil and the
// zero Verdict when the accuser's library never gets to round 7 (another
// signer's message is missing or blamed).
func (j *judge) bigR(sk *signKey) (*crypto.ECPoint, Verdict) {
	own := j.accuser
	bigR, _, _ := j.openGamma(sk, own, false)
	th, _ := j.content(own, sgR3).(*signing.SignRound3Message)
	if bigR == nil || th == nil {
		return nil, undecided("SignRound6Message: the accuser's announced Gamma or theta is missing or invalid")
	}
	modQ := common.ModInt(j.ec.Params().N)
	sum := modQ.Add(new(big.Int).SetBytes(th.GetTheta()), new(big.Int))
	for m := range j.ids {
		if m == own {
			continue
		}
		gamma, _, _ := j.openGamma(sk, m, true)
		t, _ := j.content(m, sgR3).(*signing.SignRound3Message)
		if gamma == nil || t == nil {
			return nil, Verdict{}
		}
		sum = modQ.Add(sum, new(big.Int).SetBytes(t.GetTheta()))
		var err error
		if bigR, err = bigR.Add(gamma); err != nil {
			if m == j.accused {
				return nil, undecided("SignRound4Message: the sum of the announced Gamma points reaches infinity at the accused")
			}
			return nil, Verdict{}
		}
	}
	inv := modQ.ModInverse(sum)
	if inv == nil {
		return nil, undecided("SignRound3Message: the announced theta values sum to zero")
	}
	return bigR.ScalarMult(inv), Verdict{}
}
