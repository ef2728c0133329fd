package guard

import (
	"google.golang.org/protobuf/proto"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
)

// resharingRules covers ecdsa/resharing. Old committee -> new committee:
// DGRound1Message, DGRound3Message1 (p2p), DGRound3Message2; new -> new:
// DGRound2Message1, DGRound4Message1 (p2p); ACKs DGRound2Message2 (new ->
// old) and DGRound4Message2 (new -> both), which carry no fields.
var resharingRules = map[string]rule{
	name((*resharing.DGRound1Message)(nil)):  {broadcast: true, check: checkDGRound1},
	name((*resharing.DGRound2Message1)(nil)): {broadcast: true, check: checkDGRound2Message1},
	name((*resharing.DGRound2Message2)(nil)): {broadcast: true, check: checkEmpty},
	name((*resharing.DGRound3Message1)(nil)): {broadcast: false, check: checkDGRound3Message1},
	name((*resharing.DGRound3Message2)(nil)): {broadcast: true, check: checkDGRound3Message2},
	name((*resharing.DGRound4Message1)(nil)): {broadcast: false, check: checkDGRound4Message1},
	name((*resharing.DGRound4Message2)(nil)): {broadcast: true, check: checkEmpty},
}

// checkDGRound1: the key's public key, the commitment to the sender's VSS
// polynomial for the new committee, and the session id.
func checkDGRound1(c fields, _ Params, pm proto.Message) *Violation {
	m, ok := pm.(*resharing.DGRound1Message)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	if bad := c.point("EcdsaPubX", "EcdsaPubY", m.GetEcdsaPubX(), m.GetEcdsaPubY()); bad != nil {
		return bad
	}
	if bad := c.hash("VCommitment", m.GetVCommitment()); bad != nil {
		return bad
	}
	// The ssid is a SHA-512/256 output as bytes; v2.0.2 compares it across
	// the old committee but accepts an empty or oversized one.
	if n := len(m.GetSsid()); n == 0 || n > hashBits/8 {
		return c.failf("Ssid", "%d bytes, want 1 to %d", n, hashBits/8)
	}
	return nil
}

// checkDGRound2Message1: a new party's Paillier modulus with its modulus
// proof, NTilde, h1, h2 and DLN proofs. v2.0.2's resharing never checks the
// size of N or NTilde (keygen does), so a new party could join with a short
// modulus; the guard requires 2048 bits for both. N and its modulus proof are
// in this one message, so gcd(W, N) = 1 is checked here.
func checkDGRound2Message1(c fields, _ Params, pm proto.Message) *Violation {
	m, ok := pm.(*resharing.DGRound2Message1)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	n, bad := c.modulus("PaillierN", m.GetPaillierN())
	if bad != nil {
		return bad
	}
	pf, bad := c.decodeModProof("ModProof", m.GetModProof())
	if bad != nil {
		return bad
	}
	if bad := pf.against(c, "ModProof", n); bad != nil {
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

// checkEmpty covers the ACK messages: they have no fields, and check has
// already refused unknown ones.
func checkEmpty(fields, Params, proto.Message) *Violation { return nil }

// checkDGRound3Message1: an old party's share for a new party.
func checkDGRound3Message1(c fields, _ Params, pm proto.Message) *Violation {
	m, ok := pm.(*resharing.DGRound3Message1)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	_, bad := c.scalar("Share", m.GetShare())
	return bad
}

// checkDGRound3Message2: the decommitment of the sender's VSS polynomial for
// the new committee: [r, v_0, ..., v_t'] with t' the new threshold, exactly
// 1 + 2(t'+1) elements.
func checkDGRound3Message2(c fields, p Params, pm proto.Message) *Violation {
	m, ok := pm.(*resharing.DGRound3Message2)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	return c.decommitment("VDecommitment", m.GetVDecommitment(), p.NewThreshold+1)
}

// checkDGRound4Message1: the no-small-factor proof of the sender's Paillier
// modulus. v2.0.2 accepts an empty one; the guard does not.
func checkDGRound4Message1(c fields, _ Params, pm proto.Message) *Violation {
	m, ok := pm.(*resharing.DGRound4Message1)
	if !ok {
		return c.fail("content", "unexpected content type")
	}
	return c.facProof("FacProof", m.GetFacProof())
}
