package guard

import (
	"google.golang.org/protobuf/proto"

	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	eddsaresharing "github.com/bnb-chain/tss-lib/v2/eddsa/resharing"
	eddsasigning "github.com/bnb-chain/tss-lib/v2/eddsa/signing"
)

// The EdDSA protocols of tss-lib v2.0.2 on Ed25519. Their messages carry
// hash commitments, Shamir shares, VSS decommitments, Schnorr proofs and
// signature shares; what v2.0.2 does with a peer's bytes that the guard
// refuses:
//
//   - keygen round 3 indexes the VSS vector up to t in a goroutine of its
//     own (vss.Share.Verify), so a short vector ends the process, as in
//     ECDSA; the points after v_t of a longer one are silently ignored.
//     (Resharing round 4 checks the length itself.)
//   - signing round 3 builds R_j with crypto.NewECPoint and calls
//     EightInvEight on it before it checks the error: an R_j off the curve
//     is a nil dereference inside Update (TestEdDSALibraryPanics).
//   - a decommitment that does not open its commitment, or that opens to
//     the wrong number of values, fails signing round 3 without naming the
//     sender; Session checks the opening against the sender's commitment.
//   - scalars (shares, Schnorr responses, s_i) are read at any length; the
//     decred curve's scalar multiplication loops over every bit.
//   - points pass its IsOnCurve with non-canonical coordinates (see
//     edwards.go).

// eddsaKeygenRules covers eddsa/keygen rounds 1-2 (round 3 sends nothing).
var eddsaKeygenRules = map[string]rule{
	name((*eddsakeygen.KGRound1Message)(nil)):  {broadcast: true, check: checkCommitment},
	name((*eddsakeygen.KGRound2Message1)(nil)): {broadcast: false, check: checkEdKGRound2Message1},
	name((*eddsakeygen.KGRound2Message2)(nil)): {broadcast: true, check: checkEdKGRound2Message2},
}

// eddsaSigningRules covers eddsa/signing rounds 1-3.
var eddsaSigningRules = map[string]rule{
	name((*eddsasigning.SignRound1Message)(nil)): {broadcast: true, check: checkCommitment},
	name((*eddsasigning.SignRound2Message)(nil)): {broadcast: true, check: checkEdSignRound2},
	name((*eddsasigning.SignRound3Message)(nil)): {broadcast: true, check: checkEdSignRound3},
}

// eddsaResharingRules covers eddsa/resharing. Old committee -> new
// committee: DGRound1Message, DGRound3Message1 (p2p), DGRound3Message2; the
// ACKs DGRound2Message (new -> old) and DGRound4Message (new -> both) carry
// no fields.
var eddsaResharingRules = map[string]rule{
	name((*eddsaresharing.DGRound1Message)(nil)):  {broadcast: true, check: checkEdDGRound1},
	name((*eddsaresharing.DGRound2Message)(nil)):  {broadcast: true, check: checkEmpty},
	name((*eddsaresharing.DGRound3Message1)(nil)): {broadcast: false, check: checkEdDGRound3Message1},
	name((*eddsaresharing.DGRound3Message2)(nil)): {broadcast: true, check: checkEdDGRound3Message2},
	name((*eddsaresharing.DGRound4Message)(nil)):  {broadcast: true, check: checkEmpty},
}

// checkEdKGRound2Message1: the sender's Shamir share for the recipient.
func checkEdKGRound2Message1(c fields, _ Params, pm proto.Message) *Violation {
	m, ok := pm.(*eddsakeygen.KGRound2Message1)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	_, bad := c.edScalar("Share", m.GetShare())
	return bad
}

// checkEdKGRound2Message2: the decommitment of the VSS polynomial, exactly
// [r, v_0.x, v_0.y, ..., v_t.x, v_t.y], and the Schnorr proof of v_0's
// discrete log. Session checks that it opens the round 1 commitment.
func checkEdKGRound2Message2(c fields, p Params, pm proto.Message) *Violation {
	m, ok := pm.(*eddsakeygen.KGRound2Message2)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	if bad := c.edDecommitment("DeCommitment", m.GetDeCommitment(), p.Threshold+1); bad != nil {
		return bad
	}
	return c.edSchnorr(m.GetProofAlphaX(), m.GetProofAlphaY(), m.GetProofT())
}

// checkEdSignRound2: the decommitment of R_i, exactly [r, x, y] (round 3
// wants one point), and the Schnorr proof of its discrete log. Session
// checks that it opens the round 1 commitment.
func checkEdSignRound2(c fields, _ Params, pm proto.Message) *Violation {
	m, ok := pm.(*eddsasigning.SignRound2Message)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	if bad := c.edDecommitment("DeCommitment", m.GetDeCommitment(), 1); bad != nil {
		return bad
	}
	return c.edSchnorr(m.GetProofAlphaX(), m.GetProofAlphaY(), m.GetProofT())
}

// edSchnorr checks a schnorr.ZKProof: the commitment alpha a point of the
// subgroup, the response t a non-zero scalar mod q.
func (c fields) edSchnorr(alphaX, alphaY, t []byte) *Violation {
	if bad := c.edPoint("ProofAlphaX", "ProofAlphaY", alphaX, alphaY); bad != nil {
		return bad
	}
	_, bad := c.edScalar("ProofT", t)
	return bad
}

// checkEdSignRound3: the signature share s_i, a non-zero scalar mod q.
func checkEdSignRound3(c fields, _ Params, pm proto.Message) *Violation {
	m, ok := pm.(*eddsasigning.SignRound3Message)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	_, bad := c.edScalar("S", m.GetS())
	return bad
}

// checkEdDGRound1: the key's public key and the commitment to the sender's
// VSS polynomial for the new committee. v2.0.2 has no session id here.
func checkEdDGRound1(c fields, _ Params, pm proto.Message) *Violation {
	m, ok := pm.(*eddsaresharing.DGRound1Message)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	if bad := c.edPoint("EddsaPubX", "EddsaPubY", m.GetEddsaPubX(), m.GetEddsaPubY()); bad != nil {
		return bad
	}
	return c.hash("VCommitment", m.GetVCommitment())
}

// checkEdDGRound3Message1: an old party's share for a new party.
func checkEdDGRound3Message1(c fields, _ Params, pm proto.Message) *Violation {
	m, ok := pm.(*eddsaresharing.DGRound3Message1)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	_, bad := c.edScalar("Share", m.GetShare())
	return bad
}

// checkEdDGRound3Message2: the decommitment of the sender's VSS polynomial
// for the new committee: [r, v_0, ..., v_t'] with t' the new threshold,
// exactly 1 + 2(t'+1) elements. Session checks that it opens the round 1
// commitment.
func checkEdDGRound3Message2(c fields, p Params, pm proto.Message) *Violation {
	m, ok := pm.(*eddsaresharing.DGRound3Message2)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	return c.edDecommitment("VDecommitment", m.GetVDecommitment(), p.NewThreshold+1)
}
