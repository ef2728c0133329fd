package blame

import (
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/crypto/dlnproof"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

var (
	honestOnce  sync.Once
	honestRun   *run
	framingOnce sync.Once
	framingRun  *run
)

// honest is one honest ECDSA keygen, shared by the tests.
func honest(tb testing.TB) *run {
	honestOnce.Do(func() {
		start := time.Now()
		honestRun = runKeygen(tb, false, readFixtures(tb), network{})
		tb.Logf("honest ECDSA keygen: %d messages in %v", len(honestRun.msgs), time.Since(start))
	})
	if honestRun == nil || honestRun.finished != testParties {
		tb.Fatal("the honest keygen did not finish")
	}
	return honestRun
}

// framer is the index of the member that frames the others.
const framer = 1

// framing runs the framing attack: the framer announces in round 1 the
// NTilde, h1, h2 of another fixture set, with valid DLN proofs for them,
// while its own library keeps its own set. The honest members prove their
// moduli against the announced NTilde; the framer's library checks the
// proofs against its own and blames them. The run stops once the framer's
// library reported its error and both honest members sent round 3.
func framing(tb testing.TB) *run {
	framingOnce.Do(func() {
		sets := readFixtures(tb)
		fake := sets[testParties].Local()
		proof1 := dlnproof.NewDLNProof(fake.H1i, fake.H2i, fake.Alpha, fake.P, fake.Q, fake.NTildei, rand.Reader)
		proof2 := dlnproof.NewDLNProof(fake.H2i, fake.H1i, fake.Beta, fake.P, fake.Q, fake.NTildei, rand.Reader)
		b1, err1 := proof1.Serialize()
		b2, err2 := proof2.Serialize()
		if err1 != nil || err2 != nil {
			tb.Fatal(err1, err2)
		}
		framerID := testIDs(testParties)[framer].Id
		rewrite := func(from string, msg tss.Message, _ []byte) []byte {
			pm, ok := msg.(tss.ParsedMessage)
			if !ok || from != framerID {
				return nil
			}
			r1, ok := pm.Content().(*keygen.KGRound1Message)
			if !ok {
				return nil
			}
			c := &keygen.KGRound1Message{
				Commitment: r1.GetCommitment(), PaillierN: r1.GetPaillierN(),
				NTilde: fake.NTildei.Bytes(), H1: fake.H1i.Bytes(), H2: fake.H2i.Bytes(),
				Dlnproof_1: b1, Dlnproof_2: b2,
			}
			return encode(tb, c)
		}
		stop := func(r *run) bool {
			n := 0
			for _, m := range r.msgs {
				if typeOf(m) == "KGRound3Message" {
					n++
				}
			}
			return n == testParties-1 && len(framerErrors(r)) > 0
		}
		start := time.Now()
		framingRun = runKeygen(tb, false, sets, network{rewrite: rewrite, stop: stop})
		tb.Logf("framing ECDSA keygen: %d messages in %v", len(framingRun.msgs), time.Since(start))
	})
	if framingRun == nil {
		tb.Fatal("the framing run failed")
	}
	return framingRun
}

func framerErrors(r *run) []*tss.Error {
	var out []*tss.Error
	for _, e := range r.errs {
		if v := e.Victim(); v != nil && v.Id == r.id(framer) {
			out = append(out, e)
		}
	}
	return out
}

// TestHonestECDSA: in an honest keygen every member is Clean, whoever
// accuses it.
func TestHonestECDSA(t *testing.T) {
	r := honest(t)
	for a := range r.k.Parties {
		for b := range r.k.Parties {
			if a == b {
				continue
			}
			start := time.Now()
			v := JudgeKeygen(r.k, r.msgs, r.id(a), r.id(b))
			expect(t, v, Clean, "")
			t.Logf("%d accuses %d: %v in %v", a, b, v, time.Since(start))
		}
	}
}

// TestFramingAttack: the framer's library blamed the honest members, but
// against what was announced their messages are Clean, so the coordinator
// blames the framer as a liar.
func TestFramingAttack(t *testing.T) {
	r := framing(t)
	errs := framerErrors(r)
	if len(errs) == 0 {
		t.Fatal("the framer's library reported no error")
	}
	blamed := map[string]bool{}
	for _, e := range errs {
		t.Logf("framer's library: round %d: %v", e.Round(), e.Cause())
		for _, c := range e.Culprits() {
			blamed[c.Id] = true
		}
	}
	for i := range r.k.Parties {
		if i == framer {
			continue
		}
		if !blamed[r.id(i)] {
			t.Errorf("the framer's library did not blame member %d", i)
		}
		expect(t, JudgeKeygen(r.k, r.msgs, r.id(framer), r.id(i)), Clean, "")
		// The framer's own messages pass every check too (its round 3
		// message is missing: its library stopped): a member accusing it
		// would be lying as well.
		expect(t, JudgeKeygen(r.k, r.msgs, r.id(i), r.id(framer)), Clean, "")
	}
}

// TestFramingAgainstRealValues: had the framer announced the values its
// library really used, the honest members' FacProofs (made for the fake
// NTilde) would not verify: the judge checks against what is announced, and
// the library's verdict came from the substitution.
func TestFramingAgainstRealValues(t *testing.T) {
	r := framing(t)
	msgs := append([]Msg(nil), r.msgs...)
	replaced := 0
	for i, w := range r.original {
		msgs[i].Wire = w
		replaced++
	}
	if replaced != 1 {
		t.Fatalf("%d messages rewritten, want 1", replaced)
	}
	honestMember := (framer + 1) % testParties
	expect(t, JudgeKeygen(r.k, msgs, r.id(framer), r.id(honestMember)), Guilty, "FacProof does not verify against the accuser's announced NTilde")
}

// TestMissingMessages: a missing message (of the accused, or of another
// member that a check needs) is a check the accuser never ran either: it
// counts for Clean, while a message the accused did send can still prove
// guilt. Only the accuser's own announced values missing is Undecided.
func TestMissingMessages(t *testing.T) {
	r := honest(t)
	accuser, accused, other := r.id(0), r.id(2), r.id(1)
	for _, typ := range []string{"KGRound1Message", "KGRound2Message2", "KGRound3Message"} {
		i := find(t, r.msgs, accused, "", typ)
		expect(t, JudgeKeygen(r.k, without(r.msgs, i), accuser, accused), Clean, "")
	}
	i := find(t, r.msgs, accused, accuser, "KGRound2Message1")
	expect(t, JudgeKeygen(r.k, without(r.msgs, i), accuser, accused), Clean, "")

	// Round 3 missing, but its share is wrong: Guilty.
	msgs := tampered(t, r.msgs, i, func(m *keygen.KGRound2Message1) { m.Share = bump(m.Share, tss.S256().Params().N) })
	msgs = without(msgs, find(t, msgs, accused, "", "KGRound3Message"))
	expect(t, JudgeKeygen(r.k, msgs, accuser, accused), Guilty, "Shamir share")

	// Another member's decommitment missing or wrong: no public key.
	j := find(t, r.msgs, other, "", "KGRound2Message2")
	expect(t, JudgeKeygen(r.k, without(r.msgs, j), accuser, accused), Clean, "")
	msgs = tampered(t, r.msgs, j, func(m *keygen.KGRound2Message2) { m.DeCommitment[0] = bump(m.DeCommitment[0], nil) })
	expect(t, JudgeKeygen(r.k, msgs, accuser, accused), Clean, "")

	// The accuser's announced NTilde missing.
	k := find(t, r.msgs, accuser, "", "KGRound1Message")
	expect(t, JudgeKeygen(r.k, without(r.msgs, k), accuser, accused), Undecided, "")
}

// TestCopiedRingPedersen: a member that copies another's NTilde, h1, h2 and
// DLN proofs makes the library blame whichever of the two has the higher
// index. Who copied cannot be told: Undecided for the higher one; the lower
// one is Clean, as the library does not blame it.
func TestCopiedRingPedersen(t *testing.T) {
	r := honest(t)
	src := content(t, r.msgs[find(t, r.msgs, r.id(0), "", "KGRound1Message")]).(*keygen.KGRound1Message)
	i := find(t, r.msgs, r.id(2), "", "KGRound1Message")
	msgs := tampered(t, r.msgs, i, func(m *keygen.KGRound1Message) {
		m.NTilde, m.H1, m.H2, m.Dlnproof_1, m.Dlnproof_2 = src.NTilde, src.H1, src.H2, src.Dlnproof_1, src.Dlnproof_2
	})
	expect(t, JudgeKeygen(r.k, msgs, r.id(1), r.id(2)), Undecided, "h1 or h2 equals")
	expect(t, JudgeKeygen(r.k, msgs, r.id(1), r.id(0)), Clean, "")
}

// TestBadInputs: invalid parameters and oversized inputs are Undecided and
// nothing panics.
func TestBadInputs(t *testing.T) {
	r := honest(t)
	a, b := r.id(0), r.id(1)
	reversed := tss.SortedPartyIDs{r.k.Parties[2], r.k.Parties[1], r.k.Parties[0]}
	for name, k := range map[string]Keygen{
		"no parties":      {Threshold: 1},
		"nil party":       {Threshold: 1, Parties: tss.SortedPartyIDs{r.k.Parties[0], nil, r.k.Parties[2]}},
		"threshold":       {Threshold: 3, Parties: r.k.Parties},
		"unsorted":        {Threshold: 1, Parties: reversed},
		"zero threshold":  {Threshold: 0, Parties: r.k.Parties},
		"negative thresh": {Threshold: -1, Parties: r.k.Parties},
	} {
		expect(t, JudgeKeygen(k, r.msgs, a, b), Undecided, "")
		t.Log(name, "ok")
	}
	expect(t, JudgeKeygen(r.k, r.msgs, a, a), Undecided, "")
	expect(t, JudgeKeygen(r.k, r.msgs, a, "stranger"), Undecided, "")
	// Nothing relayed: the accused sent nothing that could fail a check.
	expect(t, JudgeKeygen(r.k, nil, a, b), Clean, "")
	many := make([]Msg, MaxMessages+1)
	expect(t, JudgeKeygen(r.k, many, a, b), Undecided, "too many messages")
}
