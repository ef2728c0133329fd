package guard

import (
	"google.golang.org/protobuf/proto"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
)

// keygenRules covers ecdsa/keygen: rounds 1-3 (round 4 sends nothing).
var keygenRules = map[string]rule{
	name((*keygen.KGRound1Message)(nil)):  {broadcast: true, check: checkKGRound1},
	name((*keygen.KGRound2Message1)(nil)): {broadcast: false, check: checkKGRound2Message1},
	name((*keygen.KGRound2Message2)(nil)): {broadcast: true, check: checkKGRound2Message2},
	name((*keygen.KGRound3Message)(nil)):  {broadcast: true, check: checkKGRound3},
}

// checkKGRound1: the commitment to the VSS polynomial, the Paillier modulus,
// NTilde, h1, h2 and the two DLN proofs for (h1, h2, NTilde).
func checkKGRound1(c fields, _ Params, pm proto.Message) *Violation {
	m, ok := pm.(*keygen.KGRound1Message)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	if bad := c.hash("Commitment", m.GetCommitment()); bad != nil {
		return bad
	}
	if _, bad := c.modulus("PaillierN", m.GetPaillierN()); bad != nil {
		return bad
	}
	nTilde, bad := c.modulus("NTilde", m.GetNTilde())
	if bad != nil {
		return bad
	}
	if bad := c.ringPedersen("H1", "H2", m.GetH1(), m.GetH2(), nTilde); bad != nil {
		return bad
	}
	if bad := c.dlnProof("Dlnproof_1", m.GetDlnproof_1(), nTilde); bad != nil {
		return bad
	}
	return c.dlnProof("Dlnproof_2", m.GetDlnproof_2(), nTilde)
}

// checkKGRound2Message1: the sender's Shamir share for the recipient and the
// no-small-factor proof of its Paillier modulus. v2.0.2 accepts a message
// without the proof (for old peers); the guard does not.
func checkKGRound2Message1(c fields, _ Params, pm proto.Message) *Violation {
	m, ok := pm.(*keygen.KGRound2Message1)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	if _, bad := c.scalar("Share", m.GetShare()); bad != nil {
		return bad
	}
	return c.facProof("FacProof", m.GetFacProof())
}

// checkKGRound2Message2: the decommitment of the VSS polynomial and the
// modulus proof. The decommitment is [r, v_0.x, v_0.y, ..., v_t.x, v_t.y]
// (commitments.NewHashCommitment puts the randomness first): exactly
// 1 + 2(t+1) elements. Fewer make round 3's vss.Share.Verify index past the
// end in a library goroutine and kill the process; more raise the degree of
// the shared polynomial above t. The modproof is checked against N by
// Session, which has seen the sender's round 1 message.
func checkKGRound2Message2(c fields, p Params, pm proto.Message) *Violation {
	m, ok := pm.(*keygen.KGRound2Message2)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	if bad := c.decommitment("DeCommitment", m.GetDeCommitment(), p.Threshold+1); bad != nil {
		return bad
	}
	_, bad := c.decodeModProof("ModProof", m.GetModProof())
	return bad
}

// checkKGRound3: the Paillier key correctness proof.
func checkKGRound3(c fields, _ Params, pm proto.Message) *Violation {
	m, ok := pm.(*keygen.KGRound3Message)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	_, bad := c.paillierProof("PaillierProof", m.GetPaillierProof())
	return bad
}
