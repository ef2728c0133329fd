package blame

import (
	"bytes"
	"crypto/rand"
	"math/big"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/crypto"
	"github.com/bnb-chain/tss-lib/v2/crypto/commitments"
	"github.com/bnb-chain/tss-lib/v2/crypto/schnorr"
	edsigning "github.com/bnb-chain/tss-lib/v2/eddsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

var (
	edHonestSignOnce sync.Once
	edHonestSignRun  *edSignRun
)

// edHonestSign is an honest EdDSA signing by keygen parties 0 and 2.
func edHonestSign(tb testing.TB) *edSignRun {
	edHonestSignOnce.Do(func() { edHonestSignRun = timedEdSign(tb, signOpts{picks: []int{0, 2}, label: "honest"}) })
	return finishedEdSign(tb, edHonestSignRun)
}

func timedEdSign(tb testing.TB, o signOpts) *edSignRun {
	edSignKeys(tb) // the keygen is not part of the signing's time
	start := time.Now()
	r := runEdSign(tb, o)
	tb.Logf("EdDSA signing %q by %v: %d messages in %v", o.label, o.picks, len(r.msgs), time.Since(start))
	return r
}

func finishedEdSign(tb testing.TB, r *edSignRun) *edSignRun {
	tb.Helper()
	if r == nil || r.signed != len(r.sign.Signers) {
		tb.Fatal("the honest EdDSA signing did not finish with a valid signature")
	}
	return r
}

// TestJudgeSignEdDSAHonest: in an honest signing every member is Clean
// whoever accuses it, with two and with three signers.
func TestJudgeSignEdDSAHonest(t *testing.T) {
	three := timedEdSign(t, signOpts{picks: []int{0, 1, 2}, label: "three"})
	for _, r := range []*edSignRun{edHonestSign(t), finishedEdSign(t, three)} {
		for a := range r.sign.Signers {
			for b := range r.sign.Signers {
				if a != b {
					expect(t, JudgeSignEdDSA(r.sign, r.msgs, r.id(a), r.id(b)), Clean, "")
				}
			}
		}
	}
}

// edRecommit returns a rewrite of the accused's SignRound1Message and
// SignRound2Message that commits to the point R with fixed randomness and
// carries proof (nil keeps the accused's own proof).
func edRecommit(tb testing.TB, accused string, bigR *crypto.ECPoint, proof *schnorr.ZKProof) rewriteFunc {
	cmt := commitments.NewHashCommitmentWithRandomness(big.NewInt(424242), bigR.X(), bigR.Y())
	return func(from, _ string, c proto.Message) []byte {
		if from != accused {
			return nil
		}
		switch m := c.(type) {
		case *edsigning.SignRound1Message:
			return encode(tb, &edsigning.SignRound1Message{Commitment: cmt.C.Bytes()})
		case *edsigning.SignRound2Message:
			m = proto.Clone(m).(*edsigning.SignRound2Message)
			m.DeCommitment = common.BigIntsToBytes(cmt.D)
			if proof != nil {
				m.ProofAlphaX, m.ProofAlphaY, m.ProofT = proof.Alpha.X().Bytes(), proof.Alpha.Y().Bytes(), proof.T.Bytes()
			}
			return encode(tb, m)
		}
		return nil
	}
}

// TestJudgeSignEdDSATampered: each message of the accused, changed in
// flight, makes the accuser's real library blame the accused (round 3),
// and the judge finds it Guilty with the same check (or the guard's, which
// the accuser's device runs first).
func TestJudgeSignEdDSATampered(t *testing.T) {
	all := testIDs(testParties)
	ids := tss.SortPartyIDs(tss.UnSortedPartyIDs{all[0], all[2]})
	accuser, accused := ids[1].Id, ids[0].Id
	ec := tss.Edwards()
	q := ec.Params().N
	g := crypto.ScalarBaseMult(ec, big.NewInt(1))
	// A point the accused knows the discrete log of, with a valid proof for
	// the context of the accuser's index instead of its own.
	x := big.NewInt(7777)
	bigX := crypto.ScalarBaseMult(ec, x)
	j, v := newJudge(Keygen{EdDSA: true, Threshold: testThreshold, Parties: ids}, accuser, accused, 0)
	if j == nil {
		t.Fatal(v)
	}
	ssid, v := j.edSignSSID(edSignKeys(t)[0])
	if ssid == nil {
		t.Fatal(v)
	}
	wrongIndex, err := schnorr.NewZKProof(common.AppendBigIntToBytesSlice(ssid, big.NewInt(1)), x, bigX, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rightIndex, err := schnorr.NewZKProof(ssid, x, bigX, rand.Reader) // index 0 appends nothing
	if err != nil {
		t.Fatal(err)
	}
	type r2 = *edsigning.SignRound2Message
	cases := []struct {
		name    string
		rewrite rewriteFunc
		reason  string
	}{
		{"Schnorr response", edit(t, accused, accuser, func(m r2) { m.ProofT = bump(m.ProofT, q) }),
			"SignRound2Message: Schnorr proof of R_j does not verify"},
		{"Schnorr commitment", edit(t, accused, accuser, func(m r2) { m.ProofAlphaX, m.ProofAlphaY = g.X().Bytes(), g.Y().Bytes() }),
			"SignRound2Message: Schnorr proof of R_j does not verify"},
		// The library fails to unmarshal the proof; the guard refuses it first.
		{"Schnorr commitment off the curve", edit(t, accused, accuser, func(m r2) { m.ProofAlphaX = bump(m.ProofAlphaX, nil) }),
			"SignRound2Message: rejected by the guard (ProofAlphaX/ProofAlphaY: point not on the curve)"},
		{"R_j replaced, consistent commitment", edRecommit(t, accused, g, nil),
			"SignRound2Message: Schnorr proof of R_j does not verify"},
		{"proof for another signer's index", edRecommit(t, accused, bigX, wrongIndex),
			"SignRound2Message: Schnorr proof of R_j does not verify"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			r := runEdSign(t, signOpts{picks: []int{0, 2}, label: c.name, rewrite: c.rewrite,
				stop: func(errs []*tss.Error) bool { return blamedBy(errs, accuser, accused) }})
			if !blamedBy(r.errs, accuser, accused) {
				t.Fatalf("the accuser's library did not blame the accused: %v", r.errs)
			}
			expect(t, JudgeSignEdDSA(r.sign, r.msgs, accuser, accused), Guilty, c.reason)
			// The tampered messages are the accused's only: the accuser is Clean.
			expect(t, JudgeSignEdDSA(r.sign, r.msgs, accused, accuser), Clean, "")
			t.Logf("%d messages in %v", len(r.msgs), time.Since(start))
		})
	}

	// The same point and a proof for the accused's own index pass the
	// library's round 3 (the signature then fails, naming nobody): Clean.
	// This shows the wrong index, and nothing else, convicted above.
	r := runEdSign(t, signOpts{picks: []int{0, 2}, label: "own index", rewrite: edRecommit(t, accused, bigX, rightIndex),
		stop: victimErrs(accuser)})
	for _, e := range r.errs {
		if len(e.Culprits()) != 0 {
			t.Fatalf("the library named culprits for a valid R_j: %v", e)
		}
	}
	expect(t, JudgeSignEdDSA(r.sign, r.msgs, accuser, accused), Clean, "")
}

// TestJudgeSignEdDSAGuardOnly: a decommitment that does not open the
// commitment makes v2.0.2's round 3 fail without naming anyone; the
// accuser's guard refuses it first, blaming the sender, and so does the
// judge.
func TestJudgeSignEdDSAGuardOnly(t *testing.T) {
	all := testIDs(testParties)
	ids := tss.SortPartyIDs(tss.UnSortedPartyIDs{all[0], all[2]})
	accuser, accused := ids[0].Id, ids[1].Id
	for _, c := range []struct {
		name    string
		rewrite rewriteFunc
	}{
		{"randomness", edit(t, accused, accuser, func(m *edsigning.SignRound2Message) { m.DeCommitment[0] = bump(m.DeCommitment[0], nil) })},
		{"commitment", edit(t, accused, accuser, func(m *edsigning.SignRound1Message) { m.Commitment = bump(m.Commitment, nil) })},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runEdSign(t, signOpts{picks: []int{0, 2}, label: c.name, rewrite: c.rewrite, stop: victimErrs(accuser)})
			if !victimErrs(accuser)(r.errs) || blamedBy(r.errs, accuser, accused) {
				t.Fatalf("want the accuser's library to fail without naming the accused: %v", r.errs)
			}
			expect(t, JudgeSignEdDSA(r.sign, r.msgs, accuser, accused), Guilty,
				"SignRound2Message: rejected by the guard (DeCommitment: does not open the sender's round 1 commitment)")
		})
	}
}

// TestJudgeSignEdDSAWrongS: a wrong s_i makes the final signature check
// fail, and v2.0.2's finalize names nobody: the accused is Clean.
func TestJudgeSignEdDSAWrongS(t *testing.T) {
	all := testIDs(testParties)
	ids := tss.SortPartyIDs(tss.UnSortedPartyIDs{all[0], all[2]})
	accuser, accused := ids[0].Id, ids[1].Id
	q := tss.Edwards().Params().N
	wrongS := edit(t, accused, accuser, func(m *edsigning.SignRound3Message) { m.S = bump(m.S, q) })
	r := runEdSign(t, signOpts{picks: []int{0, 2}, label: "wrong s", rewrite: wrongS, stop: victimErrs(accuser)})
	if !victimErrs(accuser)(r.errs) {
		t.Fatal("the accuser's library did not fail")
	}
	for _, e := range r.errs {
		if len(e.Culprits()) != 0 {
			t.Fatalf("the library named culprits for a wrong s_i: %v", e)
		}
	}
	expect(t, JudgeSignEdDSA(r.sign, r.msgs, accuser, accused), Clean, "")
}

// TestJudgeSignEdDSAMessages: the pipeline before the library (guard,
// parsing, equivocation, order), missing messages, and parameters, on the
// recorded honest run.
func TestJudgeSignEdDSAMessages(t *testing.T) {
	r := edHonestSign(t)
	accuser, accused := r.id(1), r.id(0)
	judge := func(msgs []Msg) Verdict { return JudgeSignEdDSA(r.sign, msgs, accuser, accused) }
	r1 := find(t, r.msgs, accused, "", "SignRound1Message")
	r2 := find(t, r.msgs, accused, "", "SignRound2Message")
	r3 := find(t, r.msgs, accused, "", "SignRound3Message")
	q := tss.Edwards().Params().N

	expect(t, judge(tampered(t, r.msgs, r3, func(m *edsigning.SignRound3Message) { m.S = q.Bytes() })), Guilty,
		"SignRound3Message: rejected by the guard (S: not below the curve order)")
	expect(t, judge(tampered(t, r.msgs, r2, func(m *edsigning.SignRound2Message) { m.ProofT = nil })), Guilty,
		"SignRound2Message: rejected by the guard")
	expect(t, judge(replaced(r.msgs, r2, []byte{0xff, 0xff})), Guilty, "message: does not parse")
	expect(t, judge(append(tampered(t, r.msgs, r3, func(m *edsigning.SignRound3Message) { m.S = bump(m.S, q) }), r.msgs[r3])), Guilty,
		"SignRound3Message: two different messages of this type (equivocation)")
	// Sent to the accuser alone: the guard wants a broadcast.
	p2p := append([]Msg(nil), r.msgs...)
	p2p[r3].Broadcast, p2p[r3].To = false, accuser
	expect(t, judge(p2p), Guilty, "SignRound3Message: rejected by the guard")

	// A retransmitted copy, and a decommitment relayed before its
	// commitment (the device holds it), are fine.
	expect(t, judge(append(append([]Msg(nil), r.msgs...), r.msgs[r2], r.msgs[r1])), Clean, "")
	expect(t, judge(append([]Msg{r.msgs[r2]}, without(r.msgs, r2)...)), Clean, "")
	// Missing messages are checks not run.
	for _, i := range []int{r1, r2, r3} {
		expect(t, judge(without(r.msgs, i)), Clean, "")
	}
	expect(t, judge(nil), Clean, "")
	// Another member's bad message is not the accused's fault.
	other := tampered(t, r.msgs, find(t, r.msgs, accuser, "", "SignRound2Message"),
		func(m *edsigning.SignRound2Message) { m.ProofT = bump(m.ProofT, q) })
	expect(t, judge(other), Clean, "")
	expect(t, JudgeSignEdDSA(r.sign, other, accused, accuser), Guilty, "Schnorr proof of R_j does not verify")

	// Parameters: the same member twice, a non-signer, a key the signers do
	// not hold, too many messages.
	expect(t, JudgeSignEdDSA(r.sign, r.msgs, accuser, accuser), Undecided, "not a distinct member")
	expect(t, JudgeSignEdDSA(r.sign, r.msgs, accuser, testIDs(testParties)[1].Id), Undecided, "not a distinct member")
	broken := r.sign
	broken.Key = reportedEdKey(t, edSignKeys(t)[0])
	broken.Key.Ks = broken.Key.Ks[:1]
	expect(t, JudgeSignEdDSA(broken, r.msgs, accuser, accused), Undecided, "the key data does not fit the signers")
	many := make([]Msg, MaxSignEdDSAMessages+1)
	expect(t, JudgeSignEdDSA(r.sign, many, accuser, accused), Undecided, "too many messages")
}

// TestJudgeSignEdDSAKeySecretsUnused: the judge reads only the key's public
// fields: a holder's full save data (another holder's share and ShareID)
// gives the same verdicts as the reported public data.
func TestJudgeSignEdDSAKeySecretsUnused(t *testing.T) {
	r := edHonestSign(t)
	accuser, accused := r.id(0), r.id(1)
	full := r.sign
	full.Key = edSignKeys(t)[1]
	full.Key.Xi = big.NewInt(12345)
	q := tss.Edwards().Params().N
	bad := tampered(t, r.msgs, find(t, r.msgs, accused, "", "SignRound2Message"),
		func(m *edsigning.SignRound2Message) { m.ProofT = bump(m.ProofT, q) })
	for _, s := range []SignEdDSA{r.sign, full} {
		expect(t, JudgeSignEdDSA(s, r.msgs, accuser, accused), Clean, "")
		expect(t, JudgeSignEdDSA(s, r.msgs, accused, accuser), Clean, "")
		expect(t, JudgeSignEdDSA(s, bad, accuser, accused), Guilty, "Schnorr proof of R_j does not verify")
	}
}

// The public EdDSA key data survives its encoding, equal data encodes to
// equal bytes, and no secret of the save data goes into it.
func TestEdKeyPublicRoundTrip(t *testing.T) {
	k := edSignKeys(t)[1]
	p, err := PublicOfEdDSA(k)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(k.Xi.String())) {
		t.Fatal("the encoding carries the share")
	}
	again, _ := PublicOfEdDSA(edSignKeys(t)[2]) // another holder: the same public data
	if b2, _ := again.Marshal(); !bytes.Equal(b, b2) {
		t.Fatal("two holders' public data encode differently")
	}
	back, err := UnmarshalEdKeyPublic(b)
	if err != nil {
		t.Fatal(err)
	}
	d, err := back.SaveData()
	if err != nil {
		t.Fatal(err)
	}
	if d.Xi != nil || d.ShareID != nil || !d.EDDSAPub.Equals(k.EDDSAPub) || !d.BigXj[2].Equals(k.BigXj[2]) || d.Ks[1].Cmp(k.Ks[1]) != 0 {
		t.Fatal("the round trip lost or added data")
	}
	k.BigXj = k.BigXj[:2]
	if _, err := PublicOfEdDSA(k); err == nil {
		t.Fatal("incomplete key data accepted")
	}
	back.BigXj[0][1] = new(big.Int).Add(back.BigXj[0][1], big.NewInt(1))
	if _, err := back.SaveData(); err == nil {
		t.Fatal("a point off the curve accepted")
	}
	if _, err := UnmarshalEdKeyPublic(bytes.Repeat([]byte(" "), MaxKeyPublic+1)); err == nil {
		t.Fatal("oversized key data accepted")
	}
}

// A device's reported EdDSA key data is untrusted bytes: decoding and
// turning it into save data never panics.
func FuzzEdKeyPublic(f *testing.F) {
	f.Add([]byte(`{"ks":[1,2],"big_xj":[[0,1],[0,1]],"eddsa_pub":[0,1]}`))
	f.Add([]byte(`{"ks":[1],"big_xj":[[null,-1]],"eddsa_pub":[null,null]}`))
	f.Add([]byte(`{"ks":[-1],"big_xj":[[1e99,1]]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := UnmarshalEdKeyPublic(b)
		if err != nil {
			return
		}
		_, _ = p.SaveData()
	})
}
