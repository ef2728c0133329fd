package blame

import (
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/crypto"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

var (
	edOnce sync.Once
	edRun  *run
)

// edHonest is one honest EdDSA keygen (no pre-parameters), shared by the
// tests.
func edHonest(tb testing.TB) *run {
	edOnce.Do(func() {
		start := time.Now()
		edRun = runKeygen(tb, true, nil, network{})
		tb.Logf("honest EdDSA keygen: %d messages in %v", len(edRun.msgs), time.Since(start))
	})
	if edRun == nil || edRun.finished != testParties {
		tb.Fatal("the EdDSA keygen did not finish")
	}
	return edRun
}

// TestHonestEdDSA: in an honest EdDSA keygen every member is Clean.
func TestHonestEdDSA(t *testing.T) {
	r := edHonest(t)
	for a := range r.k.Parties {
		for b := range r.k.Parties {
			if a != b {
				expect(t, JudgeKeygen(r.k, r.msgs, r.id(a), r.id(b)), Clean, "")
			}
		}
	}
}

// TestTamperedEdDSA: a wrong share, Schnorr proof or decommitment is
// Guilty; a missing message is a check not run (Clean).
func TestTamperedEdDSA(t *testing.T) {
	r := edHonest(t)
	accuser, accused, other := r.id(1), r.id(0), r.id(2)
	q := tss.Edwards().Params().N
	r1 := find(t, r.msgs, accused, "", "KGRound1Message")
	r2m1 := find(t, r.msgs, accused, accuser, "KGRound2Message1")
	r2m2 := find(t, r.msgs, accused, "", "KGRound2Message2")
	otherR2 := content(t, r.msgs[find(t, r.msgs, other, "", "KGRound2Message2")]).(*eddsakeygen.KGRound2Message2)
	g := crypto.ScalarBaseMult(tss.Edwards(), big.NewInt(1))

	for _, c := range []struct {
		name   string
		msgs   []Msg
		reason string
	}{
		{"share", tampered(t, r.msgs, r2m1, func(m *eddsakeygen.KGRound2Message1) { m.Share = bump(m.Share, q) }),
			"KGRound2Message1: Shamir share does not match"},
		{"Schnorr response", tampered(t, r.msgs, r2m2, func(m *eddsakeygen.KGRound2Message2) { m.ProofT = bump(m.ProofT, q) }),
			"KGRound2Message2: Schnorr proof of v_0 does not verify"},
		{"Schnorr proof of another member", tampered(t, r.msgs, r2m2, func(m *eddsakeygen.KGRound2Message2) {
			m.ProofAlphaX, m.ProofAlphaY, m.ProofT = otherR2.ProofAlphaX, otherR2.ProofAlphaY, otherR2.ProofT
		}), "KGRound2Message2: Schnorr proof of v_0 does not verify"},
		{"Schnorr commitment", tampered(t, r.msgs, r2m2, func(m *eddsakeygen.KGRound2Message2) {
			m.ProofAlphaX, m.ProofAlphaY = g.X().Bytes(), g.Y().Bytes()
		}), "KGRound2Message2: Schnorr proof of v_0 does not verify"},
		{"decommitment", tampered(t, r.msgs, r2m2, func(m *eddsakeygen.KGRound2Message2) { m.DeCommitment[0] = bump(m.DeCommitment[0], nil) }),
			"KGRound2Message2: rejected by the guard"},
		{"garbage", replaced(r.msgs, r2m1, []byte{0x0a, 0x05, 1}), "message: does not parse"},
		{"equivocation", append(tampered(t, r.msgs, r1, func(m *eddsakeygen.KGRound1Message) { m.Commitment = bump(m.Commitment, nil) }), r.msgs[r1]),
			"KGRound1Message: two different messages of this type (equivocation)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			expect(t, JudgeKeygen(r.k, c.msgs, accuser, accused), Guilty, c.reason)
		})
	}
	for _, i := range []int{r1, r2m1, r2m2} {
		expect(t, JudgeKeygen(r.k, without(r.msgs, i), accuser, accused), Clean, "")
	}
	// Another member's polynomial is needed for the sums of round 3.
	expect(t, JudgeKeygen(r.k, without(r.msgs, find(t, r.msgs, other, "", "KGRound2Message2")), accuser, accused), Clean, "")
}
