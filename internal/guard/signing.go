package guard

import (
	"google.golang.org/protobuf/proto"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
)

// signingRules covers ecdsa/signing rounds 1-9 (GG18 with the MtA range
// proofs of crypto/mta).
var signingRules = map[string]rule{
	name((*signing.SignRound1Message1)(nil)): {broadcast: false, check: checkSignRound1Message1},
	name((*signing.SignRound1Message2)(nil)): {broadcast: true, check: checkCommitment},
	name((*signing.SignRound2Message)(nil)):  {broadcast: false, check: checkSignRound2},
	name((*signing.SignRound3Message)(nil)):  {broadcast: true, check: checkSignRound3},
	name((*signing.SignRound4Message)(nil)):  {broadcast: true, check: checkSignRound4},
	name((*signing.SignRound5Message)(nil)):  {broadcast: true, check: checkCommitment},
	name((*signing.SignRound6Message)(nil)):  {broadcast: true, check: checkSignRound6},
	name((*signing.SignRound7Message)(nil)):  {broadcast: true, check: checkCommitment},
	name((*signing.SignRound8Message)(nil)):  {broadcast: true, check: checkSignRound8},
	name((*signing.SignRound9Message)(nil)):  {broadcast: true, check: checkSignRound9},
}

// checkSignRound1Message1: Alice's MtA ciphertext Enc(k_i) and her range proof.
func checkSignRound1Message1(c fields, _ Params, pm proto.Message) *Violation {
	m, ok := pm.(*signing.SignRound1Message1)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	if bad := c.ciphertext("C", m.GetC()); bad != nil {
		return bad
	}
	return c.rangeProofAlice("RangeProofAlice", m.GetRangeProofAlice())
}

// checkCommitment covers the rounds that only broadcast a hash commitment
// (rounds 1 message 2, 5 and 7).
func checkCommitment(c fields, _ Params, pm proto.Message) *Violation {
	m, ok := pm.(interface{ GetCommitment() []byte })
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	return c.hash("Commitment", m.GetCommitment())
}

// checkSignRound2: Bob's two MtA answers, with ProofBob and ProofBobWC.
func checkSignRound2(c fields, _ Params, pm proto.Message) *Violation {
	m, ok := pm.(*signing.SignRound2Message)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	if bad := c.ciphertext("C1", m.GetC1()); bad != nil {
		return bad
	}
	if bad := c.ciphertext("C2", m.GetC2()); bad != nil {
		return bad
	}
	if bad := c.proofBob("ProofBob", m.GetProofBob(), false); bad != nil {
		return bad
	}
	return c.proofBob("ProofBobWc", m.GetProofBobWc(), true)
}

// checkSignRound3: theta_i, a non-zero scalar mod q.
func checkSignRound3(c fields, _ Params, pm proto.Message) *Violation {
	m, ok := pm.(*signing.SignRound3Message)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	_, bad := c.scalar("Theta", m.GetTheta())
	return bad
}

// checkSignRound4: the decommitment of Gamma_i ([r, x, y]: round 5 requires
// it to open to exactly one point) and a Schnorr proof for it. A proof
// response of 0 or q makes Verify's ScalarBaseMult panic.
func checkSignRound4(c fields, _ Params, pm proto.Message) *Violation {
	m, ok := pm.(*signing.SignRound4Message)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	if bad := c.decommitment("DeCommitment", m.GetDeCommitment(), 1); bad != nil {
		return bad
	}
	if bad := c.point("ProofAlphaX", "ProofAlphaY", m.GetProofAlphaX(), m.GetProofAlphaY()); bad != nil {
		return bad
	}
	_, bad := c.scalar("ProofT", m.GetProofT())
	return bad
}

// checkSignRound6: the decommitment of (V_i, A_i) ([r, V, A]: round 7
// requires exactly two points), a Schnorr proof for A_i and the ZK proof for
// V_i, whose responses must be non-zero scalars mod q for the same reason as
// in round 4.
func checkSignRound6(c fields, _ Params, pm proto.Message) *Violation {
	m, ok := pm.(*signing.SignRound6Message)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	if bad := c.decommitment("DeCommitment", m.GetDeCommitment(), 2); bad != nil {
		return bad
	}
	if bad := c.point("ProofAlphaX", "ProofAlphaY", m.GetProofAlphaX(), m.GetProofAlphaY()); bad != nil {
		return bad
	}
	if _, bad := c.scalar("ProofT", m.GetProofT()); bad != nil {
		return bad
	}
	if bad := c.point("VProofAlphaX", "VProofAlphaY", m.GetVProofAlphaX(), m.GetVProofAlphaY()); bad != nil {
		return bad
	}
	if _, bad := c.scalar("VProofT", m.GetVProofT()); bad != nil {
		return bad
	}
	_, bad := c.scalar("VProofU", m.GetVProofU())
	return bad
}

// checkSignRound8: the decommitment of (U_i, T_i): exactly [r, U, T]. v2.0.2's
// round 9 tests `!ok && len(values) != 4` and then indexes values[3], so a
// decommitment that opens to fewer than four values panics.
func checkSignRound8(c fields, _ Params, pm proto.Message) *Violation {
	m, ok := pm.(*signing.SignRound8Message)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	return c.decommitment("DeCommitment", m.GetDeCommitment(), 2)
}

// checkSignRound9: the signature share s_i, a non-zero scalar mod q.
func checkSignRound9(c fields, _ Params, pm proto.Message) *Violation {
	m, ok := pm.(*signing.SignRound9Message)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	_, bad := c.scalar("S", m.GetS())
	return bad
}
