package guard

import (
	"math/big"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/crypto"
	"github.com/bnb-chain/tss-lib/v2/crypto/commitments"
	"github.com/bnb-chain/tss-lib/v2/crypto/vss"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	eddsaresharing "github.com/bnb-chain/tss-lib/v2/eddsa/resharing"
	eddsasigning "github.com/bnb-chain/tss-lib/v2/eddsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

func TestTamperEdDSAKeygen(t *testing.T) {
	type r1 = *eddsakeygen.KGRound1Message
	type r21 = *eddsakeygen.KGRound2Message1
	type r22 = *eddsakeygen.KGRound2Message2
	k1, k21, k22 := (r1)(nil), (r21)(nil), (r22)(nil)
	gx, gy := edGenerator()
	tx, ty := edSmallOrder(t)
	mx, my := edMixed(t)
	q := edQ.Bytes()
	runTamperIn(t, edRuns(t).realRun, KeygenEdDSA, []tamperCase{
		{"commitment missing", k1, edit(func(m r1) { m.Commitment = nil }), "Commitment: missing"},
		{"commitment 33 bytes", k1, edit(func(m r1) { m.Commitment = repeat(33) }), "Commitment: 33 bytes"},
		{"commitment leading zero byte", k1, edit(func(m r1) { m.Commitment = append([]byte{0}, m.Commitment...) }), "Commitment: non-canonical"},

		{"share == q", k21, edit(func(m r21) { m.Share = q }), "Share: not below the curve order"},
		{"share missing", k21, edit(func(m r21) { m.Share = nil }), "Share: missing"},
		{"share 33 bytes", k21, edit(func(m r21) { m.Share = repeat(33) }), "Share: 33 bytes"},
		{"share of 255 bits", k21, edit(func(m r21) { m.Share = repeat(32) }), "Share: 255 bits, at most 253"},

		// The VSS decommitment: exactly t+1 points of the subgroup.
		{"VSS vector short", k22, edit(func(m r22) { m.DeCommitment = dropLast(m.DeCommitment, 2) }), "DeCommitment: 3 elements, want 5"},
		{"VSS vector long", k22, edit(func(m r22) { m.DeCommitment = append(m.DeCommitment, gx, gy) }), "DeCommitment: 7 elements, want 5"},
		{"VSS vector odd", k22, edit(func(m r22) { m.DeCommitment = dropLast(m.DeCommitment, 1) }), "DeCommitment: 4 elements"},
		{"VSS vector only randomness", k22, edit(func(m r22) { m.DeCommitment = m.DeCommitment[:1] }), "DeCommitment: 1 elements"},
		{"VSS vector missing", k22, edit(func(m r22) { m.DeCommitment = nil }), "DeCommitment: 0 elements"},
		{"VSS randomness missing", k22, edit(func(m r22) { m.DeCommitment[0] = nil }), "DeCommitment[0] (randomness): missing"},
		{"VSS randomness 33 bytes", k22, edit(func(m r22) { m.DeCommitment[0] = repeat(33) }), "DeCommitment[0] (randomness): 33 bytes"},
		{"VSS point off the curve", k22, edit(func(m r22) { m.DeCommitment[4] = plusOne(m.DeCommitment[4]) }),
			"DeCommitment[3] (point 1 x)/DeCommitment[4] (point 1 y): point not on the curve"},
		{"VSS point of order 8", k22, edit(func(m r22) { m.DeCommitment[1], m.DeCommitment[2] = tx, ty }),
			"DeCommitment[1] (point 0 x)/DeCommitment[2] (point 0 y): not in the prime-order subgroup"},
		{"VSS point with a small-order component", k22, edit(func(m r22) { m.DeCommitment[3], m.DeCommitment[4] = mx, my }),
			"DeCommitment[3] (point 1 x)/DeCommitment[4] (point 1 y): not in the prime-order subgroup"},
		{"VSS identity point", k22, edit(func(m r22) { m.DeCommitment[1], m.DeCommitment[2] = nil, small(1) }), "DeCommitment[1] (point 0 x): missing or zero"},
		{"VSS y == p", k22, edit(func(m r22) { m.DeCommitment[2] = edP.Bytes() }), "DeCommitment[2] (point 0 y): coordinate not below the field prime"},
		{"VSS y + 2^255 (v2.0.2 reads it as y)", k22, edit(func(m r22) { m.DeCommitment[2] = plus2to255(m.DeCommitment[2]) }), "DeCommitment[2] (point 0 y): 256 bits"},
		{"VSS coordinate of 63 or 64 bytes", k22, edit(func(m r22) { m.DeCommitment[1] = append(append([]byte(nil), m.DeCommitment[1]...), repeat(32)...) }), "DeCommitment[1] (point 0 x): at most 32 allowed"},

		// The Schnorr proof.
		{"proof alpha off the curve", k22, edit(func(m r22) { m.ProofAlphaY = plusOne(m.ProofAlphaY) }), "ProofAlphaX/ProofAlphaY: point not on the curve"},
		{"proof alpha of order 8", k22, edit(func(m r22) { m.ProofAlphaX, m.ProofAlphaY = tx, ty }), "ProofAlphaX/ProofAlphaY: not in the prime-order subgroup"},
		{"proof alpha missing", k22, edit(func(m r22) { m.ProofAlphaX = nil }), "ProofAlphaX: missing"},
		{"proof T == q", k22, edit(func(m r22) { m.ProofT = q }), "ProofT: not below the curve order"},
		{"proof T == 0", k22, edit(func(m r22) { m.ProofT = nil }), "ProofT: missing or zero"},
		{"proof T 1 KiB", k22, edit(func(m r22) { m.ProofT = repeat(1024) }), "ProofT: 1024 bytes"},
	})
}

func TestTamperEdDSASigning(t *testing.T) {
	type s1 = *eddsasigning.SignRound1Message
	type s2 = *eddsasigning.SignRound2Message
	type s3 = *eddsasigning.SignRound3Message
	m1, m2, m3 := (s1)(nil), (s2)(nil), (s3)(nil)
	gx, gy := edGenerator()
	tx, ty := edSmallOrder(t)
	mx, my := edMixed(t)
	q := edQ.Bytes()
	runTamperIn(t, edRuns(t).realRun, SignEdDSA, []tamperCase{
		{"commitment missing", m1, edit(func(m s1) { m.Commitment = nil }), "Commitment: missing"},
		{"commitment 64 bytes", m1, edit(func(m s1) { m.Commitment = repeat(64) }), "Commitment: 64 bytes"},

		{"decommitment without y", m2, edit(func(m s2) { m.DeCommitment = dropLast(m.DeCommitment, 1) }), "DeCommitment: 2 elements, want 3"},
		{"decommitment of two points", m2, edit(func(m s2) { m.DeCommitment = append(m.DeCommitment, gx, gy) }), "DeCommitment: 5 elements, want 3"},
		{"R off the curve (v2.0.2: nil dereference)", m2, edit(func(m s2) { m.DeCommitment[2] = plusOne(m.DeCommitment[2]) }), "DeCommitment[1] (point 0 x)/DeCommitment[2] (point 0 y): point not on the curve"},
		{"R of order 8", m2, edit(func(m s2) { m.DeCommitment[1], m.DeCommitment[2] = tx, ty }), "DeCommitment[1] (point 0 x)/DeCommitment[2] (point 0 y): not in the prime-order subgroup"},
		{"R with a small-order component", m2, edit(func(m s2) { m.DeCommitment[1], m.DeCommitment[2] = mx, my }), "DeCommitment[1] (point 0 x)/DeCommitment[2] (point 0 y): not in the prime-order subgroup"},
		{"R x == p", m2, edit(func(m s2) { m.DeCommitment[1] = edP.Bytes() }), "DeCommitment[1] (point 0 x): coordinate not below the field prime"},
		{"proof alpha off the curve", m2, edit(func(m s2) { m.ProofAlphaX = plusOne(m.ProofAlphaX) }), "ProofAlphaX/ProofAlphaY: point not on the curve"},
		{"proof alpha y missing", m2, edit(func(m s2) { m.ProofAlphaY = nil }), "ProofAlphaY: missing"},
		{"proof T == q", m2, edit(func(m s2) { m.ProofT = q }), "ProofT: not below the curve order"},
		{"proof T leading zero byte", m2, edit(func(m s2) { m.ProofT = append([]byte{0}, m.ProofT...) }), "ProofT: non-canonical"},

		{"s == 0", m3, edit(func(m s3) { m.S = nil }), "S: missing or zero"},
		{"s == q", m3, edit(func(m s3) { m.S = q }), "S: not below the curve order"},
		{"s == q + 1", m3, edit(func(m s3) { m.S = new(big.Int).Add(edQ, one).Bytes() }), "S: not below the curve order"},
		{"s 33 bytes", m3, edit(func(m s3) { m.S = repeat(33) }), "S: 33 bytes"},
	})
}

func TestTamperEdDSAResharing(t *testing.T) {
	type d1 = *eddsaresharing.DGRound1Message
	type d31 = *eddsaresharing.DGRound3Message1
	type d32 = *eddsaresharing.DGRound3Message2
	g1, g31, g32 := (d1)(nil), (d31)(nil), (d32)(nil)
	gx, gy := edGenerator()
	tx, ty := edSmallOrder(t)
	mx, my := edMixed(t)
	runTamperIn(t, edRuns(t).realRun, ReshareEdDSA, []tamperCase{
		{"public key off the curve", g1, edit(func(m d1) { m.EddsaPubY = plusOne(m.EddsaPubY) }), "EddsaPubX/EddsaPubY: point not on the curve"},
		{"public key missing", g1, edit(func(m d1) { m.EddsaPubX = nil }), "EddsaPubX: missing"},
		{"public key of order 8", g1, edit(func(m d1) { m.EddsaPubX, m.EddsaPubY = tx, ty }), "EddsaPubX/EddsaPubY: point not in the prime-order subgroup"},
		{"public key with a small-order component", g1, edit(func(m d1) { m.EddsaPubX, m.EddsaPubY = mx, my }), "EddsaPubX/EddsaPubY: not in the prime-order subgroup"},
		{"public key y + 2^255", g1, edit(func(m d1) { m.EddsaPubY = plus2to255(m.EddsaPubY) }), "EddsaPubY: 256 bits"},
		{"V commitment missing", g1, edit(func(m d1) { m.VCommitment = nil }), "VCommitment: missing"},
		{"V commitment 33 bytes", g1, edit(func(m d1) { m.VCommitment = repeat(33) }), "VCommitment: 33 bytes"},

		{"share == q", g31, edit(func(m d31) { m.Share = edQ.Bytes() }), "Share: not below the curve order"},
		{"share missing", g31, edit(func(m d31) { m.Share = nil }), "Share: missing"},

		// The new threshold is 2: exactly 3 points, 7 elements.
		{"VSS vector for the old threshold", g32, edit(func(m d32) { m.VDecommitment = dropLast(m.VDecommitment, 2) }), "VDecommitment: 5 elements, want 7"},
		{"VSS vector long", g32, edit(func(m d32) { m.VDecommitment = append(m.VDecommitment, gx, gy) }), "VDecommitment: 9 elements, want 7"},
		{"VSS vector missing", g32, edit(func(m d32) { m.VDecommitment = nil }), "VDecommitment: 0 elements, want 7"},
		{"VSS point off the curve", g32, edit(func(m d32) { m.VDecommitment[6] = plusOne(m.VDecommitment[6]) }), "VDecommitment[5] (point 2 x)/VDecommitment[6] (point 2 y): point not on the curve"},
		{"VSS point of order 8", g32, edit(func(m d32) { m.VDecommitment[5], m.VDecommitment[6] = tx, ty }), "VDecommitment[5] (point 2 x)/VDecommitment[6] (point 2 y): not in the prime-order subgroup"},
		{"VSS randomness missing", g32, edit(func(m d32) { m.VDecommitment[0] = nil }), "VDecommitment[0] (randomness): missing"},
	})
}

// TestEdDSAPointChecks compares the guard's Ed25519 arithmetic with the
// library's curve, and shows the encodings v2.0.2 accepts that the guard
// does not.
func TestEdDSAPointChecks(t *testing.T) {
	ec := tss.Edwards()
	c := fields{typ: "test"}
	minus121665 := new(big.Int).Sub(edP, big.NewInt(121665))
	if new(big.Int).Mod(new(big.Int).Mul(edD, big.NewInt(121666)), edP).Cmp(minus121665) != 0 || !edOnCurve(edGx, edGy) {
		t.Fatal("curve constant d")
	}
	t.Run("multiples of the base point pass", func(t *testing.T) {
		for _, k := range []int64{1, 2, 3, 8, 1 << 40} {
			x, y := ec.ScalarBaseMult(big.NewInt(k).Bytes())
			if bad := c.edPoint("x", "y", x.Bytes(), y.Bytes()); bad != nil {
				t.Errorf("%d·G: %v", k, bad)
			}
			gx, gy := edScalarMult(big.NewInt(k), edAffine(edGx, edGy)).affine()
			if gx.Cmp(x) != 0 || gy.Cmp(y) != 0 {
				t.Errorf("%d·G differs from the library's", k)
			}
		}
		x1, y1 := ec.ScalarBaseMult(big.NewInt(5).Bytes())
		x2, y2 := ec.ScalarBaseMult(big.NewInt(7).Bytes())
		lx, ly := ec.Add(x1, y1, x2, y2)
		gx, gy := edAdd(edAffine(x1, y1), edAffine(x2, y2)).affine()
		if gx.Cmp(lx) != 0 || gy.Cmp(ly) != 0 {
			t.Error("5·G + 7·G differs from the library's")
		}
	})
	t.Run("small-order points are refused", func(t *testing.T) {
		tx, ty := edSmallOrder(t)
		if !ec.IsOnCurve(bi(tx), bi(ty)) {
			t.Fatal("the library says the point of order 8 is not on the curve")
		}
		wantViolation(t, c.edPoint("x", "y", tx, ty), "", "x/y: not in the prime-order subgroup")
		mx, my := edMixed(t)
		if !ec.IsOnCurve(bi(mx), bi(my)) {
			t.Fatal("the library says G + T is not on the curve")
		}
		wantViolation(t, c.edPoint("x", "y", mx, my), "", "x/y: not in the prime-order subgroup")
		// The identity (0, 1) and the point (0, -1) have x = 0, which is
		// encoded as no bytes.
		for _, y := range []*big.Int{one, new(big.Int).Sub(edP, one)} {
			if !ec.IsOnCurve(big.NewInt(0), y) {
				t.Fatal("the library says a point with x = 0 is not on the curve")
			}
			wantViolation(t, c.edPoint("x", "y", nil, y.Bytes()), "", "x: missing or zero")
		}
	})
	t.Run("non-canonical encodings v2.0.2 accepts are refused", func(t *testing.T) {
		x, y := ec.ScalarBaseMult(big.NewInt(12345).Bytes())
		if y.BitLen() <= 248 {
			t.Fatal("pick a point whose y has 32 bytes")
		}
		for name, yy := range map[string]*big.Int{
			"y + 2^255":                bi(plus2to255(y.Bytes())),
			"y followed by 32 bytes":   new(big.Int).Lsh(y, 256),
			"y followed by y":          new(big.Int).Add(y, new(big.Int).Lsh(y, 256)),
			"y followed by a kilobyte": new(big.Int).Lsh(y, 8192),
		} {
			if !ec.IsOnCurve(x, yy) {
				t.Fatalf("%s: the library no longer accepts it", name)
			}
			bad := c.edPoint("x", "y", x.Bytes(), yy.Bytes())
			if bad == nil {
				t.Fatalf("%s: accepted", name)
			}
			t.Logf("%s: the library accepts it, the guard says %v", name, bad)
		}
	})
}

// TestEdDSALibraryPanics shows two v2.0.2 EdDSA panics that the guard
// prevents. In the library the first runs in a goroutine it starts (keygen
// round 3), which ends the process; the second runs inside Update and leaves
// the party's lock held.
func TestEdDSALibraryPanics(t *testing.T) {
	r := edRuns(t)
	ec := tss.Edwards()
	g := crypto.ScalarBaseMult(ec, big.NewInt(1))
	t.Run("short VSS vector (keygen round 3)", func(t *testing.T) {
		share := &vss.Share{Threshold: runThreshold, ID: r.ids[0].KeyInt(), Share: big.NewInt(5)}
		if !panics(func() { share.Verify(ec, runThreshold, vss.Vs{g}) }) {
			t.Fatal("no panic")
		}
		c := firstOf(t, r.realRun, KeygenEdDSA, (*eddsakeygen.KGRound2Message2)(nil))
		bad := tamper(t, c, edit(func(m *eddsakeygen.KGRound2Message2) { m.DeCommitment = m.DeCommitment[:3] }))
		wantViolation(t, Check(r.params[KeygenEdDSA], bad), "", "DeCommitment: 3 elements, want 5")
	})
	t.Run("R_j off the curve (signing round 3)", func(t *testing.T) {
		// A fresh signing party for the first signer; the second signer's
		// two messages are crafted: a commitment to an off-curve point and
		// its opening.
		ids := r.signIDs
		key, err := edKeyOf(r.keys, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		out := make(chan tss.Message, 16)
		end := make(chan *common.SignatureData, 1)
		params := tss.NewParameters(ec, tss.NewPeerContext(ids), ids[0], len(ids), runThreshold)
		party := eddsasigning.NewLocalParty(new(big.Int).SetBytes(r.msg), params, key, out, end, len(r.msg))
		if err := party.Start(); err != nil {
			t.Fatal(err)
		}
		offX, offY := new(big.Int).Set(edGx), new(big.Int).Add(edGy, one)
		cmt := commitments.NewHashCommitmentWithRandomness(big.NewInt(424242), offX, offY)
		round1, _ := rebuild(t, ids[1], &eddsasigning.SignRound1Message{Commitment: cmt.C.Bytes()}, true)
		round2, _ := rebuild(t, ids[1], &eddsasigning.SignRound2Message{
			DeCommitment: common.BigIntsToBytes(cmt.D),
			ProofAlphaX:  g.X().Bytes(), ProofAlphaY: g.Y().Bytes(), ProofT: small(1),
		}, true)
		if _, err := party.Update(round1); err != nil {
			t.Fatalf("round 1: %v", err)
		}
		if !panics(func() { _, _ = party.Update(round2) }) {
			t.Fatal("no panic")
		}
		s, _ := NewSession(r.params[SignEdDSA])
		if err := s.Check(round1); err != nil {
			t.Fatalf("the commitment alone is fine: %v", err)
		}
		wantViolation(t, s.Check(round2), "", "DeCommitment[1] (point 0 x)/DeCommitment[2] (point 0 y): point not on the curve")
	})
}

// ---- Ed25519 values ----

func edGenerator() (x, y []byte) { return edGx.Bytes(), edGy.Bytes() }

// edSmallOrder returns a point of order 8, found with the library's curve:
// q·P for points P on the curve until one has order 8.
func edSmallOrder(tb testing.TB) (x, y []byte) {
	tb.Helper()
	ec := tss.Edwards()
	for yv := int64(2); yv < 1000; yv++ {
		y := big.NewInt(yv)
		y2 := new(big.Int).Mul(y, y)
		num := new(big.Int).Sub(y2, one)
		den := new(big.Int).Add(new(big.Int).Mul(edD, y2), one)
		x2 := num.Mul(num, new(big.Int).ModInverse(den.Mod(den, edP), edP))
		x := new(big.Int).ModSqrt(x2.Mod(x2, edP), edP)
		if x == nil || !ec.IsOnCurve(x, y) {
			continue
		}
		tx, ty := ec.ScalarMult(x, y, edQ.Bytes())
		_, fy := ec.ScalarMult(tx, ty, big.NewInt(4).Bytes())
		if fy.Cmp(one) != 0 { // 4·T is not the identity (0, 1): T has order 8
			return tx.Bytes(), ty.Bytes()
		}
	}
	tb.Fatal("no point of order 8 found")
	return nil, nil
}

// edMixed returns G + T for T of order 8: on the curve, not in the subgroup.
func edMixed(tb testing.TB) (x, y []byte) {
	tb.Helper()
	tx, ty := edSmallOrder(tb)
	mx, my := tss.Edwards().Add(edGx, edGy, bi(tx), bi(ty))
	return mx.Bytes(), my.Bytes()
}

// plus2to255 sets bit 255 of a value below 2^255: v2.0.2's curve reads the
// result as the same value.
func plus2to255(b []byte) []byte {
	return new(big.Int).SetBit(bi(b), 255, 1).Bytes()
}

// BenchmarkEdPointCheck measures the guard's check of one Ed25519 point
// (mostly q·P in big.Int arithmetic) next to what v2.0.2 spends on each
// received VSS point anyway (EightInvEight: two scalar multiplications).
func BenchmarkEdPointCheck(b *testing.B) {
	p := crypto.ScalarBaseMult(tss.Edwards(), big.NewInt(12345))
	x, y := p.X().Bytes(), p.Y().Bytes()
	c := fields{typ: "bench"}
	b.Run("guard", func(b *testing.B) {
		for b.Loop() {
			if bad := c.edPoint("x", "y", x, y); bad != nil {
				b.Fatal(bad)
			}
		}
	})
	b.Run("library EightInvEight", func(b *testing.B) {
		for b.Loop() {
			p.EightInvEight()
		}
	})
}
