package guard

import (
	"errors"
	"math/big"
	"testing"

	"google.golang.org/protobuf/proto"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

type tamperCase struct {
	name   string
	typ    proto.Message // the captured message to start from
	mutate func(proto.Message)
	field  string // the violation must name this field
}

// runTamper runs each case against the first captured message of its type:
// Check must reject it with a *Violation naming the field.
func runTamper(t *testing.T, p Protocol, cases []tamperCase) {
	runTamperIn(t, runs(t), p, cases)
}

// runTamperIn is runTamper on the messages of run r.
func runTamperIn(t *testing.T, r *realRun, p Protocol, cases []tamperCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := firstOf(t, r, p, tc.typ)
			msg := tamper(t, c, tc.mutate)
			t.Log(wantViolation(t, Check(r.params[p], msg), name(tc.typ), tc.field))
		})
	}
}

func TestTamperKeygen(t *testing.T) {
	type r1 = *keygen.KGRound1Message
	type r21 = *keygen.KGRound2Message1
	type r22 = *keygen.KGRound2Message2
	type r3 = *keygen.KGRound3Message
	k1, k21, k22, k3 := (r1)(nil), (r21)(nil), (r22)(nil), (r3)(nil)
	gx, gy := generator()
	runTamper(t, KeygenECDSA, []tamperCase{
		// Round 1: moduli.
		{"N of 1024 bits", k1, edit(func(m r1) { m.PaillierN = oddBits(1024) }), "PaillierN: 1024 bits, want exactly 2048"},
		{"N of 4096 bits", k1, edit(func(m r1) { m.PaillierN = oddBits(4096) }), "PaillierN: 512 bytes"},
		{"N of 2047 bits", k1, edit(func(m r1) { m.PaillierN = oddBits(2047) }), "PaillierN: 2047 bits"},
		{"N even", k1, edit(func(m r1) { m.PaillierN = new(big.Int).SetBit(bi(m.PaillierN), 0, 0).Bytes() }), "PaillierN: even"},
		{"N with factor 3", k1, edit(func(m r1) { m.PaillierN = withSmallFactor(3).Bytes() }), "PaillierN: prime factor below 1000"},
		{"N missing", k1, edit(func(m r1) { m.PaillierN = nil }), "PaillierN"},
		{"N leading zero byte", k1, edit(func(m r1) { m.PaillierN = append([]byte{0}, m.PaillierN...) }), "PaillierN: non-canonical"},
		{"NTilde of 1024 bits", k1, edit(func(m r1) { m.NTilde = oddBits(1024) }), "NTilde: 1024 bits"},
		{"NTilde of 4096 bits", k1, edit(func(m r1) { m.NTilde = oddBits(4096) }), "NTilde"},
		{"NTilde of 2047 bits", k1, edit(func(m r1) { m.NTilde = oddBits(2047) }), "NTilde: 2047 bits"},
		// Round 1: h1, h2.
		{"H1 == 1", k1, edit(func(m r1) { m.H1 = small(1) }), "H1: degenerate"},
		{"H2 == 0", k1, edit(func(m r1) { m.H2 = nil }), "H2"},
		{"H1 == H2", k1, edit(func(m r1) { m.H2 = m.H1 }), "H1/H2"},
		{"H2 == NTilde", k1, edit(func(m r1) { m.H2 = m.NTilde }), "H2"},
		{"H1 oversized", k1, edit(func(m r1) { m.H1 = repeat(10 << 10) }), "H1"},
		// Round 1: DLN proofs and commitment.
		{"Dlnproof_1 257 elements", k1, edit(func(m r1) { m.Dlnproof_1 = dropLast(m.Dlnproof_1, 1) }), "Dlnproof_1"},
		{"Dlnproof_2 259 elements", k1, edit(func(m r1) { m.Dlnproof_2 = append(m.Dlnproof_2, small(7)) }), "Dlnproof_2"},
		{"Dlnproof_1 missing", k1, edit(func(m r1) { m.Dlnproof_1 = nil }), "Dlnproof_1"},
		{"Dlnproof_2 length prefix 127", k1, edit(func(m r1) { m.Dlnproof_2[0] = small(127) }), "Dlnproof_2[0]"},
		{"Dlnproof_1 alpha == 1", k1, edit(func(m r1) { m.Dlnproof_1[5] = small(1) }), "Dlnproof_1[5]"},
		{"Dlnproof_1 t == NTilde", k1, edit(func(m r1) { m.Dlnproof_1[130] = m.NTilde }), "Dlnproof_1[130]"},
		{"Dlnproof_2 element nil", k1, edit(func(m r1) { m.Dlnproof_2[200] = nil }), "Dlnproof_2[200]"},
		{"Commitment 33 bytes", k1, edit(func(m r1) { m.Commitment = repeat(33) }), "Commitment"},
		{"Commitment missing", k1, edit(func(m r1) { m.Commitment = nil }), "Commitment"},

		// Round 2, message 1: share and no-small-factor proof.
		{"Share == q", k21, edit(func(m r21) { m.Share = curveOrder.Bytes() }), "Share"},
		{"Share missing", k21, edit(func(m r21) { m.Share = nil }), "Share"},
		{"FacProof missing", k21, edit(func(m r21) { m.FacProof = nil }), "FacProof"},
		{"FacProof 10 elements", k21, edit(func(m r21) { m.FacProof = dropLast(m.FacProof, 1) }), "FacProof"},
		{"FacProof all zero (SetNoProofFac)", k21, edit(func(m r21) {
			for i := range m.FacProof {
				m.FacProof[i] = []byte{}
			}
		}), "FacProof[0]"},
		{"FacProof P == 1", k21, edit(func(m r21) { m.FacProof[0] = small(1) }), "FacProof[0]"},
		{"FacProof Z1 too large", k21, edit(func(m r21) { m.FacProof[6] = facZBound.Bytes() }), "FacProof[6]"},
		{"FacProof V oversized", k21, edit(func(m r21) { m.FacProof[10] = repeat(700) }), "FacProof[10]"},

		// Round 2, message 2: VSS decommitment and modulus proof.
		{"VSS vector short", k22, edit(func(m r22) { m.DeCommitment = dropLast(m.DeCommitment, 2) }), "DeCommitment: 3 elements, want 5"},
		{"VSS vector long", k22, edit(func(m r22) { m.DeCommitment = append(m.DeCommitment, gx, gy) }), "DeCommitment: 7 elements, want 5"},
		{"VSS vector odd", k22, edit(func(m r22) { m.DeCommitment = dropLast(m.DeCommitment, 1) }), "DeCommitment"},
		{"VSS vector only randomness", k22, edit(func(m r22) { m.DeCommitment = m.DeCommitment[:1] }), "DeCommitment"},
		{"VSS point off the curve", k22, edit(func(m r22) { m.DeCommitment[4] = plusOne(m.DeCommitment[4]) }), "DeCommitment[3] (point 1 x)/DeCommitment[4] (point 1 y): not on the curve"},
		{"VSS coordinate >= p", k22, edit(func(m r22) { m.DeCommitment[1] = fieldPrime.Bytes() }), "DeCommitment[1]"},
		{"VSS randomness missing", k22, edit(func(m r22) { m.DeCommitment[0] = nil }), "DeCommitment[0]"},
		{"ModProof missing", k22, edit(func(m r22) { m.ModProof = nil }), "ModProof"},
		{"ModProof 162 elements", k22, edit(func(m r22) { m.ModProof = dropLast(m.ModProof, 1) }), "ModProof"},
		{"ModProof all zero (SetNoProofMod)", k22, edit(func(m r22) {
			for i := range m.ModProof {
				m.ModProof[i] = []byte{}
			}
		}), "ModProof[0]"},
		{"ModProof W == 1", k22, edit(func(m r22) { m.ModProof[0] = small(1) }), "ModProof[0]"},
		{"ModProof W oversized", k22, edit(func(m r22) { m.ModProof[0] = repeat(257) }), "ModProof[0]"},
		{"ModProof A of 80 bits", k22, edit(func(m r22) { m.ModProof[81] = new(big.Int).Rsh(bi(m.ModProof[81]), 1).Bytes() }), "ModProof[81]"},
		{"ModProof Z == 0", k22, edit(func(m r22) { m.ModProof[100] = nil }), "ModProof[100]"},

		// Round 3: Paillier proof.
		{"PaillierProof 12 elements", k3, edit(func(m r3) { m.PaillierProof = dropLast(m.PaillierProof, 1) }), "PaillierProof"},
		{"PaillierProof missing", k3, edit(func(m r3) { m.PaillierProof = nil }), "PaillierProof"},
		{"PaillierProof element 1", k3, edit(func(m r3) { m.PaillierProof[3] = small(1) }), "PaillierProof[3]"},
		{"PaillierProof element oversized", k3, edit(func(m r3) { m.PaillierProof[0] = repeat(300) }), "PaillierProof[0]"},
	})
}

func TestTamperSigning(t *testing.T) {
	type s11 = *signing.SignRound1Message1
	type s12 = *signing.SignRound1Message2
	type s2 = *signing.SignRound2Message
	type s3 = *signing.SignRound3Message
	type s4 = *signing.SignRound4Message
	type s5 = *signing.SignRound5Message
	type s6 = *signing.SignRound6Message
	type s7 = *signing.SignRound7Message
	type s8 = *signing.SignRound8Message
	type s9 = *signing.SignRound9Message
	m11, m12, m2, m3, m4 := (s11)(nil), (s12)(nil), (s2)(nil), (s3)(nil), (s4)(nil)
	m5, m6, m7, m8, m9 := (s5)(nil), (s6)(nil), (s7)(nil), (s8)(nil), (s9)(nil)
	q3plus1 := new(big.Int).Add(q3, one).Bytes()
	q7plus1 := new(big.Int).Add(q7, one).Bytes()
	runTamper(t, SignECDSA, []tamperCase{
		// Round 1: Alice's ciphertext and range proof.
		{"Alice S == 1", m11, edit(func(m s11) { m.RangeProofAlice[3] = small(1) }), "RangeProofAlice[3] (S): degenerate"},
		{"Alice Z == 1", m11, edit(func(m s11) { m.RangeProofAlice[0] = small(1) }), "RangeProofAlice[0] (Z): degenerate"},
		{"Alice W == 1", m11, edit(func(m s11) { m.RangeProofAlice[2] = small(1) }), "RangeProofAlice[2] (W)"},
		{"Alice U == 0", m11, edit(func(m s11) { m.RangeProofAlice[1] = nil }), "RangeProofAlice[1] (U)"},
		{"Alice S1 == S2", m11, edit(func(m s11) { m.RangeProofAlice[5] = m.RangeProofAlice[4] }), "(S2): S1 == S2"},
		{"Alice S1 below q", m11, edit(func(m s11) { m.RangeProofAlice[4] = small(5) }), "RangeProofAlice[4]"},
		{"Alice S1 above q^3", m11, edit(func(m s11) { m.RangeProofAlice[4] = q3plus1 }), "RangeProofAlice[4]"},
		{"Alice S2 below q", m11, edit(func(m s11) { m.RangeProofAlice[5] = small(5) }), "RangeProofAlice[5]"},
		{"Alice S2 oversized", m11, edit(func(m s11) { m.RangeProofAlice[5] = repeat(400) }), "RangeProofAlice[5]"},
		{"Alice proof 5 elements", m11, edit(func(m s11) { m.RangeProofAlice = dropLast(m.RangeProofAlice, 1) }), "RangeProofAlice"},
		{"Alice proof missing", m11, edit(func(m s11) { m.RangeProofAlice = nil }), "RangeProofAlice"},
		{"C == 1", m11, edit(func(m s11) { m.C = small(1) }), "C"},
		{"C oversized", m11, edit(func(m s11) { m.C = repeat(513) }), "C"},
		{"round 1 commitment missing", m12, edit(func(m s12) { m.Commitment = nil }), "Commitment"},

		// Round 2: Bob's answers and proofs.
		{"Bob S == 1", m2, edit(func(m s2) { m.ProofBob[5] = small(1) }), "ProofBob[5] (S): degenerate"},
		{"Bob Z == 1", m2, edit(func(m s2) { m.ProofBob[0] = small(1) }), "ProofBob[0] (Z): degenerate"},
		{"Bob V == 1", m2, edit(func(m s2) { m.ProofBob[3] = small(1) }), "ProofBob[3] (V)"},
		{"Bob S1 == S2", m2, edit(func(m s2) { m.ProofBob[7] = m.ProofBob[6] }), "ProofBob[6] (S1)/ProofBob[7] (S2): S1 == S2"},
		{"Bob T1 above q^7", m2, edit(func(m s2) { m.ProofBob[8] = q7plus1 }), "ProofBob[8]"},
		{"Bob 12 elements", m2, edit(func(m s2) { m.ProofBob = append(m.ProofBob, small(1), small(2)) }), "ProofBob"},
		{"BobWC S == 1", m2, edit(func(m s2) { m.ProofBobWc[5] = small(1) }), "ProofBobWc[5] (S)"},
		{"BobWC T1 == T2", m2, edit(func(m s2) { m.ProofBobWc[9] = m.ProofBobWc[8] }), "ProofBobWc[8] (T1)/ProofBobWc[9] (T2): T1 == T2"},
		{"BobWC U off the curve", m2, edit(func(m s2) { m.ProofBobWc[11] = plusOne(m.ProofBobWc[11]) }), "ProofBobWc[10] (U x)/ProofBobWc[11] (U y): not on the curve"},
		{"BobWC without U", m2, edit(func(m s2) { m.ProofBobWc = dropLast(m.ProofBobWc, 2) }), "ProofBobWc: 10 elements, want 12"},
		{"BobWC element nil", m2, edit(func(m s2) { m.ProofBobWc[2] = nil }), "ProofBobWc[2]"},
		{"C2 missing", m2, edit(func(m s2) { m.C2 = nil }), "C2"},
		{"C1 == 1", m2, edit(func(m s2) { m.C1 = small(1) }), "C1"},

		// Later rounds.
		{"Theta == q", m3, edit(func(m s3) { m.Theta = curveOrder.Bytes() }), "Theta"},
		{"Theta missing", m3, edit(func(m s3) { m.Theta = nil }), "Theta"},
		{"Theta oversized", m3, edit(func(m s3) { m.Theta = repeat(300) }), "Theta"},
		{"Theta leading zero byte", m3, edit(func(m s3) { m.Theta = append([]byte{0}, m.Theta...) }), "Theta: non-canonical"},
		{"round 4 decommitment 2 elements", m4, edit(func(m s4) { m.DeCommitment = dropLast(m.DeCommitment, 1) }), "DeCommitment"},
		{"round 4 decommitment 5 elements", m4, edit(func(m s4) { m.DeCommitment = append(m.DeCommitment, small(1), small(2)) }), "DeCommitment"},
		{"round 4 Gamma off the curve", m4, edit(func(m s4) { m.DeCommitment[2] = plusOne(m.DeCommitment[2]) }), "DeCommitment[1]"},
		{"round 4 proof alpha off the curve", m4, edit(func(m s4) { m.ProofAlphaY = plusOne(m.ProofAlphaY) }), "ProofAlphaX"},
		{"round 4 proof T == q", m4, edit(func(m s4) { m.ProofT = curveOrder.Bytes() }), "ProofT"},
		{"round 4 proof T == 0", m4, edit(func(m s4) { m.ProofT = nil }), "ProofT"},
		{"round 5 commitment oversized", m5, edit(func(m s5) { m.Commitment = repeat(64) }), "Commitment"},
		{"round 6 decommitment 3 elements", m6, edit(func(m s6) { m.DeCommitment = dropLast(m.DeCommitment, 2) }), "DeCommitment"},
		{"round 6 V proof alpha off the curve", m6, edit(func(m s6) { m.VProofAlphaX = plusOne(m.VProofAlphaX) }), "VProofAlphaX"},
		{"round 6 V proof U == 0", m6, edit(func(m s6) { m.VProofU = nil }), "VProofU"},
		{"round 6 V proof T == q", m6, edit(func(m s6) { m.VProofT = curveOrder.Bytes() }), "VProofT"},
		{"round 7 commitment missing", m7, edit(func(m s7) { m.Commitment = nil }), "Commitment"},
		{"round 8 decommitment 4 elements", m8, edit(func(m s8) { m.DeCommitment = dropLast(m.DeCommitment, 1) }), "DeCommitment: 4 elements, want 5"},
		{"round 8 decommitment 6 elements", m8, edit(func(m s8) { m.DeCommitment = append(m.DeCommitment, small(9)) }), "DeCommitment"},
		{"round 8 T off the curve", m8, edit(func(m s8) { m.DeCommitment[4] = plusOne(m.DeCommitment[4]) }), "DeCommitment[3] (point 1 x)/DeCommitment[4] (point 1 y): not on the curve"},
		{"round 9 s == 0", m9, edit(func(m s9) { m.S = nil }), "S"},
		{"round 9 s >= q", m9, edit(func(m s9) { m.S = new(big.Int).Add(curveOrder, one).Bytes() }), "S"},
	})
}

func TestTamperResharing(t *testing.T) {
	type d1 = *resharing.DGRound1Message
	type d21 = *resharing.DGRound2Message1
	type d31 = *resharing.DGRound3Message1
	type d32 = *resharing.DGRound3Message2
	type d41 = *resharing.DGRound4Message1
	g1, g21, g31, g32, g41 := (d1)(nil), (d21)(nil), (d31)(nil), (d32)(nil), (d41)(nil)
	gx, gy := generator()
	r := runs(t)
	pre := preParamsOf(t, r, firstOf(t, r, ReshareECDSA, g21))
	crafted := withSmallFactor(1009)
	runTamper(t, ReshareECDSA, []tamperCase{
		{"public key off the curve", g1, edit(func(m d1) { m.EcdsaPubY = plusOne(m.EcdsaPubY) }), "EcdsaPubX"},
		{"public key missing", g1, edit(func(m d1) { m.EcdsaPubX = nil }), "EcdsaPubX"},
		{"ssid missing", g1, edit(func(m d1) { m.Ssid = nil }), "Ssid"},
		{"ssid 33 bytes", g1, edit(func(m d1) { m.Ssid = repeat(33) }), "Ssid"},
		{"V commitment missing", g1, edit(func(m d1) { m.VCommitment = nil }), "VCommitment"},

		// Round 2: the new party's moduli (v2.0.2 does not check their size here).
		{"N of 1024 bits", g21, edit(func(m d21) { m.PaillierN = oddBits(1024) }), "PaillierN: 1024 bits, want exactly 2048"},
		{"N of 4096 bits", g21, edit(func(m d21) { m.PaillierN = oddBits(4096) }), "PaillierN"},
		{"NTilde of 1024 bits", g21, edit(func(m d21) { m.NTilde = oddBits(1024) }), "NTilde: 1024 bits, want exactly 2048"},
		{"NTilde of 2047 bits", g21, edit(func(m d21) { m.NTilde = oddBits(2047) }), "NTilde"},
		{"NTilde with factor 5", g21, edit(func(m d21) { m.NTilde = withSmallFactor(5).Bytes() }), "NTilde"},
		// Round 2: the modulus proof, against N in the same message.
		{"W == a prime factor of N", g21, edit(func(m d21) { m.ModProof[0] = pre.PaillierSK.P.Bytes() }), "ModProof[0] (W): gcd(W, N) != 1"},
		{"W multiple of the small factor of a crafted N", g21, edit(func(m d21) {
			m.PaillierN = crafted.Bytes()
			m.ModProof[0] = small(1009 * 7)
		}), "ModProof[0] (W): gcd(W, N) != 1"},
		{"W a quadratic residue", g21, edit(func(m d21) { m.ModProof[0] = small(4) }), "ModProof[0] (W): Jacobi(W, N) != -1"},
		{"W == N", g21, edit(func(m d21) { m.ModProof[0] = m.PaillierN }), "ModProof[0]"},
		{"X not below N", g21, edit(func(m d21) { m.ModProof[7] = m.PaillierN }), "ModProof[7]"},
		{"Z shares a factor with N", g21, edit(func(m d21) { m.ModProof[90] = pre.PaillierSK.Q.Bytes() }), "ModProof[90] (Z): gcd with N != 1"},
		{"ModProof missing", g21, edit(func(m d21) { m.ModProof = nil }), "ModProof"},
		{"ModProof 164 elements", g21, edit(func(m d21) { m.ModProof = append(m.ModProof, small(3)) }), "ModProof"},
		{"H1 == H2", g21, edit(func(m d21) { m.H1 = m.H2 }), "H1/H2"},
		{"H2 a factor of NTilde", g21, edit(func(m d21) {
			m.H2 = new(big.Int).Add(new(big.Int).Lsh(pre.P, 1), one).Bytes() // the safe prime 2p+1
		}), "H2"},
		{"Dlnproof_1 256 elements", g21, edit(func(m d21) { m.Dlnproof_1 = dropLast(m.Dlnproof_1, 2) }), "Dlnproof_1"},
		{"Dlnproof_2 t == 1", g21, edit(func(m d21) { m.Dlnproof_2[257] = small(1) }), "Dlnproof_2[257]"},

		// Round 3: shares and the VSS decommitment for the new committee.
		{"share == q", g31, edit(func(m d31) { m.Share = curveOrder.Bytes() }), "Share"},
		{"share missing", g31, edit(func(m d31) { m.Share = nil }), "Share"},
		{"VSS vector short", g32, edit(func(m d32) { m.VDecommitment = dropLast(m.VDecommitment, 2) }), "VDecommitment: 3 elements, want 5"},
		{"VSS vector long", g32, edit(func(m d32) { m.VDecommitment = append(m.VDecommitment, gx, gy) }), "VDecommitment: 7 elements, want 5"},
		{"VSS point off the curve", g32, edit(func(m d32) { m.VDecommitment[2] = plusOne(m.VDecommitment[2]) }), "VDecommitment[1]"},

		// Round 4: the no-small-factor proof (v2.0.2 accepts it empty).
		{"FacProof missing", g41, edit(func(m d41) { m.FacProof = nil }), "FacProof"},
		{"FacProof Z2 too large", g41, edit(func(m d41) { m.FacProof[7] = facZBound.Bytes() }), "FacProof[7]"},
		{"FacProof T == 1", g41, edit(func(m d41) { m.FacProof[4] = small(1) }), "FacProof[4]"},
	})
}

// TestCraftedModulusPassesAlone shows why the keygen gcd check lives in
// Session: a round 1 modulus with a 10-bit factor passes every check that
// can be made on N alone.
func TestCraftedModulusPassesAlone(t *testing.T) {
	r := runs(t)
	c := firstOf(t, r, KeygenECDSA, (*keygen.KGRound1Message)(nil))
	msg := tamper(t, c, edit(func(m *keygen.KGRound1Message) { m.PaillierN = withSmallFactor(1009).Bytes() }))
	if err := Check(r.params[KeygenECDSA], msg); err != nil {
		t.Fatalf("crafted N: %v", err)
	}
}

// TestWrongProtocolOrRouting: a message of another protocol (or of EdDSA), or
// with the wrong broadcast flag, is refused.
func TestWrongProtocolOrRouting(t *testing.T) {
	r := runs(t)
	type sample struct {
		name  string
		proto Protocol
		typ   proto.Message
	}
	samples := []sample{
		{"keygen round 1", KeygenECDSA, (*keygen.KGRound1Message)(nil)},
		{"keygen round 2 p2p", KeygenECDSA, (*keygen.KGRound2Message1)(nil)},
		{"signing round 1 p2p", SignECDSA, (*signing.SignRound1Message1)(nil)},
		{"signing round 9", SignECDSA, (*signing.SignRound9Message)(nil)},
		{"resharing round 1", ReshareECDSA, (*resharing.DGRound1Message)(nil)},
		{"resharing ack", ReshareECDSA, (*resharing.DGRound4Message2)(nil)},
		{"resharing round 3 p2p", ReshareECDSA, (*resharing.DGRound3Message1)(nil)},
	}
	for _, s := range samples {
		c := firstOf(t, r, s.proto, s.typ)
		msg, err := c.parse()
		if err != nil {
			t.Fatal(err)
		}
		for _, other := range allProtocols {
			if other == s.proto {
				continue
			}
			t.Run(s.name+" as "+other.String(), func(t *testing.T) {
				wantViolation(t, Check(r.params[other], msg), name(s.typ), "type")
			})
		}
		t.Run(s.name+" with the broadcast flag flipped", func(t *testing.T) {
			flipped, err := tss.ParseWireMessage(c.wire, c.from, !c.bcast)
			if err != nil {
				t.Fatal(err)
			}
			wantViolation(t, Check(r.params[s.proto], flipped), name(s.typ), "IsBroadcast")
		})
	}
	t.Run("eddsa keygen message", func(t *testing.T) {
		c := firstOf(t, r, KeygenECDSA, (*keygen.KGRound1Message)(nil))
		msg, _ := rebuild(t, c.from, &eddsakeygen.KGRound1Message{Commitment: small(7)}, true)
		for _, p := range allProtocols {
			wantViolation(t, Check(r.params[p], msg), "", "type")
		}
	})
	t.Run("unknown fields", func(t *testing.T) {
		for _, s := range samples {
			c := firstOf(t, r, s.proto, s.typ)
			msg := tamper(t, c, func(m proto.Message) {
				m.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 99, protowire.BytesType), repeat(8)))
			})
			wantViolation(t, Check(r.params[s.proto], msg), name(s.typ), "content")
		}
	})
}

// TestSessionKeygenModProof: the gcd(W, N) = 1 check in keygen, where N comes
// from the sender's round 1 message.
func TestSessionKeygenModProof(t *testing.T) {
	r := runs(t)
	p := r.params[KeygenECDSA]
	r1 := firstOf(t, r, KeygenECDSA, (*keygen.KGRound1Message)(nil))
	var r2 captured
	for _, m := range r.msgs[KeygenECDSA] {
		if m.typ == name((*keygen.KGRound2Message2)(nil)) && m.from.Id == r1.from.Id {
			r2 = m
		}
	}
	pre := preParamsOf(t, r, r1)
	crafted := withSmallFactor(1009)
	typ2 := name((*keygen.KGRound2Message2)(nil))
	type mod = *keygen.KGRound2Message2
	cases := []struct {
		name   string
		n      func(*keygen.KGRound1Message) // changes round 1, if not nil
		mutate func(proto.Message)
		field  string
	}{
		{"W == a prime factor of N", nil, edit(func(m mod) { m.ModProof[0] = pre.PaillierSK.P.Bytes() }), "ModProof[0] (W): gcd(W, N) != 1"},
		{"W multiple of the small factor of a crafted N", func(m *keygen.KGRound1Message) { m.PaillierN = crafted.Bytes() },
			edit(func(m mod) { m.ModProof[0] = small(1009 * 7) }), "ModProof[0] (W): gcd(W, N) != 1"},
		{"W == N's small factor", func(m *keygen.KGRound1Message) { m.PaillierN = crafted.Bytes() },
			edit(func(m mod) { m.ModProof[0] = small(1009) }), "ModProof[0] (W): gcd(W, N) != 1"},
		{"W a quadratic residue", nil, edit(func(m mod) { m.ModProof[0] = small(9) }), "ModProof[0] (W): Jacobi(W, N) != -1"},
		{"W == N", nil, edit(func(m mod) { m.ModProof[0] = pre.PaillierSK.N.Bytes() }), "ModProof[0] (W): not below N"},
		{"X shares a factor with N", nil, edit(func(m mod) { m.ModProof[3] = pre.PaillierSK.Q.Bytes() }), "ModProof[3] (X): gcd with N != 1"},
		{"Z not below N", nil, edit(func(m mod) { m.ModProof[160] = pre.PaillierSK.N.Bytes() }), "ModProof[160] (Z): not below N"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSession(p)
			if err != nil {
				t.Fatal(err)
			}
			round1, _ := r1.parse()
			if tc.n != nil {
				round1 = tamper(t, r1, edit(tc.n))
			}
			if err := s.Check(round1); err != nil {
				t.Fatalf("round 1: %v", err)
			}
			bad := tamper(t, r2, tc.mutate)
			if err := Check(p, bad); err != nil {
				t.Fatalf("this case needs N, the stateless check should pass it: %v", err)
			}
			v := wantViolation(t, s.Check(bad), typ2, tc.field)
			t.Logf("%v", v)
		})
	}
}

func TestSessionKeygenPaillierProof(t *testing.T) {
	r := runs(t)
	p := r.params[KeygenECDSA]
	r1 := firstOf(t, r, KeygenECDSA, (*keygen.KGRound1Message)(nil))
	var r3 captured
	for _, m := range r.msgs[KeygenECDSA] {
		if m.typ == name((*keygen.KGRound3Message)(nil)) && m.from.Id == r1.from.Id {
			r3 = m
		}
	}
	pre := preParamsOf(t, r, r1)
	type pp = *keygen.KGRound3Message
	for _, tc := range []struct {
		name   string
		mutate func(proto.Message)
		field  string
	}{
		{"element == N", edit(func(m pp) { m.PaillierProof[0] = pre.PaillierSK.N.Bytes() }), "PaillierProof[0]: not below N"},
		{"element shares a factor with N", edit(func(m pp) { m.PaillierProof[12] = pre.PaillierSK.P.Bytes() }), "PaillierProof[12]: gcd with N != 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := NewSession(p)
			round1, _ := r1.parse()
			if err := s.Check(round1); err != nil {
				t.Fatal(err)
			}
			wantViolation(t, s.Check(tamper(t, r3, tc.mutate)), name((*keygen.KGRound3Message)(nil)), tc.field)
		})
	}
}

func TestSessionOrderAndEquivocation(t *testing.T) {
	r := runs(t)
	p := r.params[KeygenECDSA]
	r1 := firstOf(t, r, KeygenECDSA, (*keygen.KGRound1Message)(nil))
	var r2, r3 captured
	for _, m := range r.msgs[KeygenECDSA] {
		if m.from.Id != r1.from.Id {
			continue
		}
		switch m.typ {
		case name((*keygen.KGRound2Message2)(nil)):
			r2 = m
		case name((*keygen.KGRound3Message)(nil)):
			r3 = m
		}
	}
	round1, _ := r1.parse()
	round2, _ := r2.parse()
	round3, _ := r3.parse()

	t.Run("out of order", func(t *testing.T) {
		s, _ := NewSession(p)
		for _, m := range []tss.ParsedMessage{round2, round3} {
			err := s.Check(m)
			var v *Violation
			if !errors.Is(err, ErrOutOfOrder) || errors.As(err, &v) {
				t.Fatalf("want ErrOutOfOrder, got %v", err)
			}
		}
		for _, m := range []tss.ParsedMessage{round1, round2, round3} {
			if err := s.Check(m); err != nil {
				t.Fatalf("in order: %v", err)
			}
		}
	})
	t.Run("two different round 1 messages", func(t *testing.T) {
		s, _ := NewSession(p)
		if err := s.Check(round1); err != nil {
			t.Fatal(err)
		}
		other := tamper(t, r1, edit(func(m *keygen.KGRound1Message) { m.Commitment = repeat(32) }))
		if err := Check(p, other); err != nil {
			t.Fatalf("the other message is valid on its own: %v", err)
		}
		wantViolation(t, s.Check(other), name((*keygen.KGRound1Message)(nil)), "message")
		if err := s.Check(round1); err != nil {
			t.Fatalf("the first message again: %v", err)
		}
	})
	t.Run("a violation is not remembered", func(t *testing.T) {
		s, _ := NewSession(p)
		bad := tamper(t, r1, edit(func(m *keygen.KGRound1Message) { m.H1 = small(1) }))
		wantViolation(t, s.Check(bad), name((*keygen.KGRound1Message)(nil)), "H1")
		if err := s.Check(round1); err != nil {
			t.Fatalf("the valid message after a rejected one: %v", err)
		}
	})
}
