package blame

import (
	"testing"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

// TestTamperedECDSA: each message of the accused, changed so that the guard
// still accepts it but the library's check fails (or the guard rejects it),
// is Guilty with the reason of that check.
func TestTamperedECDSA(t *testing.T) {
	r := honest(t)
	accuser, accused, other := r.id(0), r.id(2), r.id(1)
	q := tss.S256().Params().N
	r1 := find(t, r.msgs, accused, "", "KGRound1Message")
	r2m1 := find(t, r.msgs, accused, accuser, "KGRound2Message1")
	r2m2 := find(t, r.msgs, accused, "", "KGRound2Message2")
	r3 := find(t, r.msgs, accused, "", "KGRound3Message")
	toOther := content(t, r.msgs[find(t, r.msgs, accused, other, "KGRound2Message1")]).(*keygen.KGRound2Message1)

	cases := []struct {
		name   string
		msgs   []Msg
		reason string
	}{
		{"VSS share", tampered(t, r.msgs, r2m1, func(m *keygen.KGRound2Message1) { m.Share = bump(m.Share, q) }),
			"KGRound2Message1: Shamir share does not match"},
		{"FacProof for another verifier", tampered(t, r.msgs, r2m1, func(m *keygen.KGRound2Message1) { m.FacProof = toOther.FacProof }),
			"KGRound2Message1: FacProof does not verify against the accuser's announced NTilde"},
		{"ModProof", tampered(t, r.msgs, r2m2, func(m *keygen.KGRound2Message2) { m.ModProof[1], m.ModProof[2] = m.ModProof[2], m.ModProof[1] }),
			"KGRound2Message2: modulus proof does not verify"},
		{"decommitment", tampered(t, r.msgs, r2m2, func(m *keygen.KGRound2Message2) { m.DeCommitment[0] = bump(m.DeCommitment[0], nil) }),
			"KGRound2Message2: decommitment does not open"},
		{"Paillier proof", tampered(t, r.msgs, r3, func(m *keygen.KGRound3Message) {
			m.PaillierProof[0], m.PaillierProof[1] = m.PaillierProof[1], m.PaillierProof[0]
		}), "KGRound3Message: Paillier proof does not verify"},
		{"DLN proof 1", tampered(t, r.msgs, r1, func(m *keygen.KGRound1Message) { m.Dlnproof_1[1], m.Dlnproof_1[2] = m.Dlnproof_1[2], m.Dlnproof_1[1] }),
			"KGRound1Message: DLN proof 1 does not verify"},
		{"DLN proof 2", tampered(t, r.msgs, r1, func(m *keygen.KGRound1Message) {
			m.Dlnproof_2[130], m.Dlnproof_2[131] = m.Dlnproof_2[131], m.Dlnproof_2[130]
		}),
			"KGRound1Message: DLN proof 2 does not verify"},
		{"guard: oversized share", tampered(t, r.msgs, r2m1, func(m *keygen.KGRound2Message1) { m.Share = make([]byte, 40); m.Share[0] = 1 }),
			"KGRound2Message1: rejected by the guard"},
		{"guard: no FacProof", tampered(t, r.msgs, r2m1, func(m *keygen.KGRound2Message1) { m.FacProof = nil }),
			"KGRound2Message1: rejected by the guard"},
		{"guard: even Paillier N", tampered(t, r.msgs, r1, func(m *keygen.KGRound1Message) { m.PaillierN[len(m.PaillierN)-1] &^= 1 }),
			"KGRound1Message: rejected by the guard"},
		{"garbage wire", replaced(r.msgs, r2m1, []byte{0xff, 0xff, 0xff}), "message: does not parse"},
		{"empty wire", replaced(r.msgs, r2m1, nil), "message: rejected by the guard"},
		{"unknown type", replaced(r.msgs, r2m1, encode(t, &eddsakeygen.KGRound1Message{Commitment: []byte{1}})),
			"KGRound1Message: rejected by the guard"},
		{"point-to-point sent as broadcast", flagged(r.msgs, r2m1), "KGRound2Message1: rejected by the guard"},
		{"equivocation, share", append(tampered(t, r.msgs, r2m1, func(m *keygen.KGRound2Message1) { m.Share = bump(m.Share, q) }), r.msgs[r2m1]),
			"KGRound2Message1: two different messages of this type (equivocation)"},
		{"equivocation, round 1", append(append([]Msg(nil), r.msgs...), tampered(t, r.msgs, r1, func(m *keygen.KGRound1Message) {
			m.Commitment = bump(m.Commitment, nil)
		})[r1]), "KGRound1Message: two different messages of this type (equivocation)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expect(t, JudgeKeygen(r.k, c.msgs, accuser, accused), Guilty, c.reason)
		})
	}
	// Another accuser did not receive the point-to-point message to the
	// first one; a tampered broadcast convicts the accused before it too.
	expect(t, JudgeKeygen(r.k, cases[0].msgs, other, accused), Clean, "")
	expect(t, JudgeKeygen(r.k, cases[3].msgs, other, accused), Guilty, cases[3].reason)
	// A retransmitted identical copy is not equivocation.
	expect(t, JudgeKeygen(r.k, append(append([]Msg(nil), r.msgs...), r.msgs[r2m1], r.msgs[r1]), accuser, accused), Clean, "")
}

// replaced returns a copy of msgs with message i's wire replaced.
func replaced(msgs []Msg, i int, wire []byte) []Msg {
	out := append([]Msg(nil), msgs...)
	out[i].Wire = wire
	return out
}

// flagged returns a copy of msgs with message i turned into a broadcast.
func flagged(msgs []Msg, i int) []Msg {
	out := append([]Msg(nil), msgs...)
	out[i].Broadcast, out[i].To = true, ""
	return out
}
