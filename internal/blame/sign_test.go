package blame

import (
	"math/big"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

var (
	honestSignOnce sync.Once
	honestSignRun  *signRun
	pathSignOnce   sync.Once
	pathSignRun    *signRun
)

// honestSign is an honest signing by keygen parties 0 and 2, without a path.
func honestSign(tb testing.TB) *signRun {
	honestSignOnce.Do(func() { honestSignRun = timedSign(tb, signOpts{picks: []int{0, 2}, label: "honest"}) })
	return finishedSign(tb, honestSignRun)
}

// pathSign is an honest signing by keygen parties 1 and 2 with the key
// derived at m/0/1.
func pathSign(tb testing.TB) *signRun {
	pathSignOnce.Do(func() { pathSignRun = timedSign(tb, signOpts{picks: []int{1, 2}, path: "m/0/1", label: "path"}) })
	return finishedSign(tb, pathSignRun)
}

func timedSign(tb testing.TB, o signOpts) *signRun {
	signKeys(tb) // the keygen is not part of the signing's time
	start := time.Now()
	r := runSign(tb, o)
	tb.Logf("signing %q by %v: %d messages in %v", o.label, o.picks, len(r.msgs), time.Since(start))
	return r
}

func finishedSign(tb testing.TB, r *signRun) *signRun {
	tb.Helper()
	if r == nil || r.signed != len(r.sign.Signers) {
		tb.Fatal("the honest signing did not finish with a valid signature")
	}
	return r
}

// TestJudgeSignHonest: in an honest signing every member is Clean whoever
// accuses it, with and without a derivation path, and with three signers.
func TestJudgeSignHonest(t *testing.T) {
	three := timedSign(t, signOpts{picks: []int{0, 1, 2}, label: "three"})
	for _, r := range []*signRun{honestSign(t), pathSign(t), finishedSign(t, three)} {
		for a := range r.sign.Signers {
			for b := range r.sign.Signers {
				if a != b {
					expect(t, JudgeSign(r.sign, r.msgs, r.id(a), r.id(b)), Clean, "")
				}
			}
		}
	}
}

// edit returns a rewrite that changes the accused's message of type T (to
// the accuser, or a broadcast) with mutate, on a copy: the sender's library
// keeps its own.
func edit[T proto.Message](tb testing.TB, accused, accuser string, mutate func(T)) rewriteFunc {
	return func(from, to string, c proto.Message) []byte {
		m, ok := c.(T)
		if !ok || from != accused || (to != "" && to != accuser) {
			return nil
		}
		m = proto.Clone(m).(T)
		mutate(m)
		return encode(tb, m)
	}
}

// TestJudgeSignTampered: each message of the accused, changed in flight so
// that the guard still accepts it, makes the accuser's real library blame
// the accused, and the judge finds it Guilty with the same check.
func TestJudgeSignTampered(t *testing.T) {
	ids := tss.SortPartyIDs(tss.UnSortedPartyIDs{testIDs(testParties)[0], testIDs(testParties)[2]})
	accuser, accused := ids[1].Id, ids[0].Id
	q := tss.S256().Params().N
	type (
		r1 = *signing.SignRound1Message1
		r2 = *signing.SignRound2Message
		r4 = *signing.SignRound4Message
		r6 = *signing.SignRound6Message
		r8 = *signing.SignRound8Message
	)
	cases := []struct {
		name    string
		rewrite rewriteFunc
		reason  string
	}{
		{"ProofBob", edit(t, accused, accuser, func(m r2) { m.ProofBob[0] = bump(m.ProofBob[0], nil) }),
			"SignRound2Message: ProofBob does not verify"},
		{"ProofBobWC", edit(t, accused, accuser, func(m r2) { m.ProofBobWc[0] = bump(m.ProofBobWc[0], nil) }),
			"SignRound2Message: ProofBobWC does not verify"},
		{"C1", edit(t, accused, accuser, func(m r2) { m.C1 = bump(m.C1, nil) }),
			"SignRound2Message: ProofBob does not verify"},
		{"RangeProofAlice", edit(t, accused, accuser, func(m r1) { m.RangeProofAlice[4] = bump(m.RangeProofAlice[4], nil) }),
			"SignRound1Message1: range proof does not verify"},
		{"round 5 decommitment", edit(t, accused, accuser, func(m r4) { m.DeCommitment[0] = bump(m.DeCommitment[0], nil) }),
			"SignRound4Message: decommitment does not open"},
		{"round 5 Schnorr proof", edit(t, accused, accuser, func(m r4) { m.ProofT = bump(m.ProofT, q) }),
			"SignRound4Message: Schnorr proof for Gamma does not verify"},
		{"round 7 Schnorr proof", edit(t, accused, accuser, func(m r6) { m.ProofT = bump(m.ProofT, q) }),
			"SignRound6Message: Schnorr proof for A does not verify"},
		{"round 7 V-proof", edit(t, accused, accuser, func(m r6) { m.VProofT = bump(m.VProofT, q) }),
			"SignRound6Message: V-proof does not verify"},
		{"round 9 decommitment", edit(t, accused, accuser, func(m r8) { m.DeCommitment[0] = bump(m.DeCommitment[0], nil) }),
			"SignRound8Message: decommitment does not open"},
	}
	signKeys(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			r := runSign(t, signOpts{picks: []int{0, 2}, label: c.name, rewrite: c.rewrite,
				stop: func(errs []*tss.Error) bool { return blamedBy(errs, accuser, accused) }})
			if !blamedBy(r.errs, accuser, accused) {
				t.Fatalf("the accuser's library did not blame the accused: %v", r.errs)
			}
			expect(t, JudgeSign(r.sign, r.msgs, accuser, accused), Guilty, c.reason)
			// The tampered message is the accused's only: the accuser is Clean.
			expect(t, JudgeSign(r.sign, r.msgs, accused, accuser), Clean, "")
			t.Logf("%d messages in %v", len(r.msgs), time.Since(start))
		})
	}
}

// TestJudgeSignReplay: the accused sends the accuser its SignRound1Message1
// of an earlier signing by the same signers. v2.0.2 cannot tell: the range
// proof takes no context and verifies again for the same Paillier key and
// NTilde, so the accused is Clean (only the device's replay fingerprints,
// which the judge does not re-run, can catch it). The honest accuser
// answers the replayed ciphertext; the replayer's library then blames it
// (its ProofBob is for the old ciphertext, not the replayer's fresh one),
// and when the replayer accuses it the judge, which checks the answer
// against what the replayer SENT, finds it Clean: the framing fails.
func TestJudgeSignReplay(t *testing.T) {
	earlier := honestSign(t)
	honestID, replayer := earlier.id(1), earlier.id(0)
	old := earlier.msgs[find(t, earlier.msgs, replayer, honestID, "SignRound1Message1")].Wire
	replay := func(from, to string, c proto.Message) []byte {
		if _, ok := c.(*signing.SignRound1Message1); ok && from == replayer && to == honestID {
			return old
		}
		return nil
	}
	r := runSign(t, signOpts{picks: []int{0, 2}, label: "replay", rewrite: replay,
		stop: func(errs []*tss.Error) bool { return blamedBy(errs, replayer, honestID) }})
	if !blamedBy(r.errs, replayer, honestID) {
		t.Fatalf("the replayer's library did not blame the honest member: %v", r.errs)
	}
	if blamedBy(r.errs, honestID, replayer) {
		t.Fatal("the honest member's library blamed the replayer")
	}
	// The honest member accuses the replayer: its replayed message passes.
	expect(t, JudgeSign(r.sign, r.msgs, honestID, replayer), Clean, "")
	// The replayer accuses the honest member, as its library did: Clean.
	expect(t, JudgeSign(r.sign, r.msgs, replayer, honestID), Clean, "")
}

// TestJudgeSignWrongS: a wrong s_i in SignRound9Message makes the final
// signature check fail, and v2.0.2's finalize names nobody: the accused is
// never Guilty for it. It is Clean: every check the accuser's library makes
// on the accused's messages passes, and no check of the library blames it,
// so an accusation for it does not come from the library.
func TestJudgeSignWrongS(t *testing.T) {
	ids := tss.SortPartyIDs(tss.UnSortedPartyIDs{testIDs(testParties)[0], testIDs(testParties)[2]})
	accuser, accused := ids[0].Id, ids[1].Id
	q := tss.S256().Params().N
	wrongS := edit(t, accused, accuser, func(m *signing.SignRound9Message) { m.S = bump(m.S, q) })
	r := runSign(t, signOpts{picks: []int{0, 2}, label: "wrong s", rewrite: wrongS, stop: func(errs []*tss.Error) bool {
		for _, e := range errs {
			if e.Victim() != nil && e.Victim().Id == accuser {
				return true
			}
		}
		return false
	}})
	if len(r.errs) == 0 {
		t.Fatal("the accuser's library did not fail")
	}
	for _, e := range r.errs {
		if len(e.Culprits()) != 0 {
			t.Fatalf("the library named culprits for a wrong s_i: %v", e)
		}
	}
	expect(t, JudgeSign(r.sign, r.msgs, accuser, accused), Clean, "")
}

// TestJudgeSignMissing: a missing message of the accused is a check not
// run; the accuser's own messages that a check needs make it Undecided.
func TestJudgeSignMissing(t *testing.T) {
	r := honestSign(t)
	accuser, accused := r.id(0), r.id(1)
	judge := func(msgs []Msg) Verdict { return JudgeSign(r.sign, msgs, accuser, accused) }
	expect(t, judge(without(r.msgs, find(t, r.msgs, accused, "", "SignRound6Message"))), Clean, "")
	expect(t, judge(without(r.msgs, find(t, r.msgs, accused, accuser, "SignRound2Message"))), Clean, "")
	expect(t, judge(without(r.msgs, find(t, r.msgs, accuser, accused, "SignRound1Message1"))), Undecided,
		"the accuser's SignRound1Message1 to the accused is missing")
	expect(t, judge(without(r.msgs, find(t, r.msgs, accuser, "", "SignRound4Message"))), Undecided,
		"the accuser's announced Gamma or theta is missing")
	expect(t, judge(nil), Clean, "")
	// Not a signer, the same member twice, a broken key: Undecided.
	expect(t, JudgeSign(r.sign, r.msgs, accuser, accuser), Undecided, "not a distinct member")
	broken := r.sign
	broken.Key = publicOnly(signKeys(t)[0])
	broken.Key.Ks = broken.Key.Ks[:1]
	expect(t, JudgeSign(broken, r.msgs, accuser, accused), Undecided, "")
}

// TestJudgeSignKeySecretsUnused: the judge reads only the key's public
// fields and leaves the caller's key data as it was: secrets of another
// holder give the same verdicts, and a derivation does not change Key.
func TestJudgeSignKeySecretsUnused(t *testing.T) {
	keys := signKeys(t)
	sets := readFixtures(t)
	for _, r := range []*signRun{honestSign(t), pathSign(t)} {
		poisoned := r.sign
		poisoned.Key = keys[1]
		poisoned.Key.Xi = big.NewInt(12345)
		poisoned.Key.ShareID = keys[0].ShareID
		poisoned.Key.LocalPreParams = sets[3].Local()
		before := publicOnly(r.sign.Key).BigXj[0].X().String()
		accuser, accused := r.id(0), r.id(1)
		q := tss.S256().Params().N
		bad := tampered(t, r.msgs, find(t, r.msgs, accused, "", "SignRound6Message"),
			func(m *signing.SignRound6Message) { m.VProofU = bump(m.VProofU, q) })
		for _, s := range []Sign{r.sign, poisoned} {
			expect(t, JudgeSign(s, r.msgs, accuser, accused), Clean, "")
			expect(t, JudgeSign(s, r.msgs, accused, accuser), Clean, "")
			expect(t, JudgeSign(s, bad, accuser, accused), Guilty, "SignRound6Message: V-proof does not verify")
		}
		if r.sign.Key.BigXj[0].X().String() != before {
			t.Fatal("JudgeSign changed the caller's key data")
		}
	}
}

// TestJudgeSignTwoCiphertexts: the accused is judged against the first
// SignRound1Message1 the accuser sent it; when the accuser sent another,
// different one, a proof that fails against the first is Undecided (the
// accused may have answered the other).
func TestJudgeSignTwoCiphertexts(t *testing.T) {
	r := honestSign(t)
	accuser, accused := r.id(1), r.id(0)
	i := find(t, r.msgs, accuser, accused, "SignRound1Message1")
	other := tampered(t, r.msgs, i, func(m *signing.SignRound1Message1) { m.C = bump(m.C, nil) })[i]
	after := append(append([]Msg(nil), r.msgs...), other)
	expect(t, JudgeSign(r.sign, after, accuser, accused), Clean, "")
	before := append([]Msg{other}, r.msgs...)
	expect(t, JudgeSign(r.sign, before, accuser, accused), Undecided, "more than one SignRound1Message1")
	// Alone, the changed ciphertext convicts: the accused answered it wrongly.
	expect(t, JudgeSign(r.sign, append(without(r.msgs, i), other), accuser, accused), Guilty, "ProofBob does not verify")
}
