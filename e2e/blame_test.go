package e2e

// Blame that holds against a lying member: one device of three runs the
// test-only malicious build (malicious_test.go) and, one behaviour after the
// other, tries to frame the honest devices or to stop signing without being
// caught. Each time the honest devices are never blamed on proven grounds,
// never struck and never paused, the key signs with its honest pair, and the
// coordinator's records say what the blame rests on.

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/internal/auditlog"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

func TestBlameHoldsAgainstALyingMember(t *testing.T) {
	maliciousParty(t) // build it before the cluster starts its clocks
	c := newCluster(t)
	c.fixtureFiles = []int{5, 6, 7} // seven sets each: three keygens here
	c.startCoordinator(t)
	names := []string{"evil", "honest1", "honest2"} // evil is picked first
	for _, n := range names {
		c.enroll(t, n, false)
	}
	evil := c.devices["evil"]
	become := func(t *testing.T, behaviours string, env ...string) { c.become(t, evil, behaviours, env...) }
	become(t, "announce-other-ntilde", maliciousPreparamsEnv+"="+preparamsFixture(4))
	c.runParty(t, c.devices["honest1"])
	c.runParty(t, c.devices["honest2"])
	c.waitReady(t, names...)

	// A keygen whose only failure is evil's false report: its own evidence
	// clears the honest devices, and it is blamed as the liar.
	keygenBlamesTheLiar := func(t *testing.T) {
		e := c.ctlErr(t, "keys", "create", "--threshold", "1", "--devices", strings.Join(names, ","))
		expectRPC(t, e, codes.Aborted, "keygen session failed", "accuser lied", "blamed: evil")
		if strings.Contains(e.Msg, "honest") {
			t.Errorf("the error names an honest device: %s", e.Msg)
		}
		recs := c.sessionRecords(t, 1)
		if len(recs) != 1 {
			t.Fatalf("no session record")
		}
		r := recs[0]
		if r.GetKind() != "keygen" || r.GetOk() || !slices.Equal(r.GetCulprits(), []string{"evil"}) || r.GetBlame() != "accuser-lied" ||
			!strings.Contains(r.GetReason(), "evidence checked") || !strings.Contains(r.GetReason(), "reported by evil") {
			t.Errorf("keygen record %v: want a failure blamed on evil alone, accuser-lied, evidence checked", r)
		}
	}
	t.Run("keygen: the announced NTilde is not the one used", keygenBlamesTheLiar)

	become(t, "accuse-first")
	t.Run("keygen: a false accusation of an honest member", keygenBlamesTheLiar)

	become(t, "announce-other-paillier", maliciousPreparamsEnv+"="+preparamsFixture(4))
	t.Run("keygen: the announced Paillier modulus is not the one used", func(t *testing.T) {
		// Its own proofs about the modulus fail at the honest devices,
		// whose evidence proves it.
		e := c.ctlErr(t, "keys", "create", "--threshold", "1", "--devices", strings.Join(names, ","))
		expectRPC(t, e, codes.Aborted, "keygen session failed", "[proven]", "blamed: evil")
		r := c.sessionRecords(t, 1)[0]
		if r.GetKind() != "keygen" || !slices.Equal(r.GetCulprits(), []string{"evil"}) || r.GetBlame() != "proven" || !strings.Contains(r.GetReason(), "evidence checked") {
			t.Errorf("keygen record %v: want evil proven at fault, evidence checked", r)
		}
	})

	become(t, "")
	key := c.createKey(t, names)
	checkSigners(t, key.Holders, names...)

	// signs makes n signatures, each routed around evil: the honest pair
	// signs, and the attempts with evil failed without proven blame on an
	// honest device.
	signs := func(t *testing.T, n int, what string) {
		t.Helper()
		for i := range n {
			s := signAndVerify(t, c, key, fmt.Sprintf("blame: %s %d", what, i))
			checkSigners(t, s.Signers, "honest1", "honest2")
		}
	}

	t.Run("signing: a wrong s_i in round 9 is routed around", func(t *testing.T) {
		become(t, "wrong-si")
		signs(t, 1, "wrong s_i")
		// Nobody can be named: evil fails with honest1, then with honest2,
		// and the honest pair signs; evil alone was in both failures.
		failed := failedSignRecords(t, c, 4)
		if len(failed) != 2 {
			t.Fatalf("%d failed attempts, want 2 (evil with each honest device): %v", len(failed), failed)
		}
		for _, r := range failed {
			if !slices.Contains(r.GetDevices(), "evil") || r.GetBlame() == "proven" || r.GetBlame() == "accuser-lied" {
				t.Errorf("failed attempt %v: want one with evil, blame not proven on anyone", r)
			}
		}
		strikes := auditWith(c.auditLog(t), "device.strike", func(e auditlog.Entry) bool { return strings.HasPrefix(e.Detail, "routed:") })
		if len(strikes) != 1 || !slices.Equal(strikes[0].Devices, []string{"evil"}) {
			t.Errorf("routed strikes %v: want one, of evil", strikes)
		}
	})

	t.Run("signing: a replayed MtA content is refused and routed around", func(t *testing.T) {
		become(t, "replay-mta")
		first := signAndVerify(t, c, key, "blame: evil records its MtA message")
		if !slices.Contains(first.Signers, "evil") {
			t.Fatalf("signers %v: evil must sign first, to have content to replay", first.Signers)
		}
		signs(t, 1, "replayed MtA")
		failed := failedSignRecords(t, c, 2)
		if len(failed) != 1 || !slices.Equal(failed[0].GetCulprits(), []string{"evil"}) || failed[0].GetBlame() != "suspected" ||
			!strings.Contains(failed[0].GetReason(), "another session") || !strings.Contains(failed[0].GetReason(), "SignRound1Message1") {
			t.Errorf("failed attempts %v: want one, blaming evil (suspected) for content from another session", failed)
		}
	})

	t.Run("signing: a member that accuses everyone is proven a liar and paused", func(t *testing.T) {
		become(t, "accuse-all")
		signs(t, 3, "accuse-all")
		failed := failedSignRecords(t, c, 6)
		if len(failed) != 3 {
			t.Fatalf("%d failed attempts, want one per signature: %v", len(failed), failed)
		}
		for _, r := range failed {
			if r.GetBlame() != "accuser-lied" || !slices.Equal(r.GetCulprits(), []string{"evil"}) || !strings.Contains(r.GetReason(), "evidence checked") {
				t.Errorf("failed attempt %v: want evil's accusation cleared by its own evidence (accuser-lied)", r)
			}
		}
		// Three strikes in a row (its last success, in the replay, cleared
		// the one before): evil is paused.
		s := signAndVerify(t, c, key, "blame: evil is paused")
		checkSigners(t, s.Signers, "honest1", "honest2")
		if recs := c.sessionRecords(t, 1); len(recs) != 1 || !recs[0].GetOk() {
			t.Errorf("with evil paused, the first attempt should succeed: %v", recs)
		}
	})

	t.Run("the records: only evil was struck and paused, never an honest device", func(t *testing.T) {
		entries := c.auditLog(t)
		all := func(auditlog.Entry) bool { return true }
		strikes := auditWith(entries, "device.strike", all)
		pauses := auditWith(entries, "device.pause", all)
		if len(strikes) < 3 || len(pauses) != 1 {
			t.Errorf("%d strikes and %d pauses audited, want at least 3 strikes and one pause:\n%s", len(strikes), len(pauses), auditDump(entries))
		}
		for _, e := range append(strikes, pauses...) {
			if !slices.Equal(e.Devices, []string{"evil"}) {
				t.Errorf("audit entry %s names %v: only evil may be struck or paused", e.Action, e.Devices)
			}
			if e.Action == "device.strike" && !strings.HasPrefix(e.Detail, "routed:") && !strings.HasPrefix(e.Detail, "accuser-lied") {
				t.Errorf("strike %q: want routed (wrong s_i) or accuser-lied (accuse-all)", e.Detail)
			}
		}
		keygens := auditWith(entries, "key.create", func(e auditlog.Entry) bool { return e.Result == "failed" })
		if len(keygens) != 3 {
			t.Fatalf("%d failed keygens audited, want 3:\n%s", len(keygens), auditDump(entries))
		}
		for i, e := range keygens {
			want := map[bool]string{true: "accuser-lied", false: "proven"}[i < 2]
			if !slices.Equal(e.Culprits, []string{"evil"}) || !strings.Contains(e.Detail, "blame "+want) {
				t.Errorf("failed keygen audited as %q blaming %v: want evil, %s", e.Detail, e.Culprits, want)
			}
		}
		for _, l := range strings.Split(c.coord.stderr(), "\n") {
			if (strings.Contains(l, "device paused") || strings.Contains(l, "struck a device")) && !strings.Contains(l, "device=evil") {
				t.Errorf("the coordinator's log strikes or pauses another device than evil: %s", l)
			}
		}
	})

	c.stopSurvivors(t)
	t.Run("no panics in any log", func(t *testing.T) { c.assertNoPanics(t) })
	t.Run("fixtures lasted", func(t *testing.T) { c.assertNoPreparamsGenerated(t) })
}

// failedSignRecords are the failed signing sessions among the newest limit.
func failedSignRecords(t testing.TB, c *cluster, limit uint32) []*mpcv1.SessionInfo {
	t.Helper()
	var out []*mpcv1.SessionInfo
	for _, r := range c.sessionRecords(t, limit) {
		if r.GetKind() == "sign" && !r.GetOk() {
			out = append(out, r)
		}
	}
	return out
}

// TestBlameGarbledEnvelopeFramesNobody: evil (garble-p2p) seals its first
// point-to-point envelope to the first other member under a stray key,
// signed as usual, and at once, the next thing on its stream, reports a
// protocol error naming that member with its genuine evidence. The
// envelope does not open under evil's revealed pair key, so that is evil's
// doing, never its recipient's: evil is blamed as the liar, the honest
// recipient is never proven at fault, struck or paused, and signatures are
// routed around evil until it is paused.
//
// Evil sends its report right behind the envelope, on the same stream, and
// the coordinator reads that stream in order: the report is judged before
// the recipient's complaint about the envelope could arrive. Should the
// complaint ever come first all the same, it proves evil at fault, which the
// test accepts, as long as evil's report was judged at least once (the case
// that framed the recipient before relay commit 1ac59f9).
func TestBlameGarbledEnvelopeFramesNobody(t *testing.T) {
	maliciousParty(t) // build it before the cluster starts its clocks
	c := newCluster(t)
	c.fixtureFiles = []int{5, 6, 7} // seven sets each: two keygens here
	c.startCoordinator(t)
	names := []string{"evil", "honest1", "honest2"} // evil is picked first
	for _, n := range names {
		c.enroll(t, n, false)
	}
	evil := c.devices["evil"]
	become := func(t *testing.T, behaviours string) { c.become(t, evil, behaviours) }
	become(t, "garble-p2p")
	c.runParty(t, c.devices["honest1"])
	c.runParty(t, c.devices["honest2"])
	c.waitReady(t, names...)
	status := map[string]string{}
	var honestByID []deviceInfo
	for _, d := range c.listDevices(t) {
		status[d.Name] = d.Status
		if d.Name != "evil" {
			honestByID = append(honestByID, d)
		}
	}
	slices.SortFunc(honestByID, func(a, b deviceInfo) int { return strings.Compare(a.ID, b.ID) })
	if len(honestByID) != 2 {
		t.Fatalf("devices %v: want evil and two honest ones", honestByID)
	}

	// judged counts the failed sessions in which evil's report was the one
	// judged: at least one must be, or the test would not show the frame-up
	// failing.
	judged := 0
	// framedRight checks a failed attempt in which evil garbled its
	// envelope to victim: evil alone is blamed, as the liar when its own
	// report was judged. It reports whether evil's report was the one.
	framedRight := func(t *testing.T, r *mpcv1.SessionInfo, victim string) bool {
		t.Helper()
		byEvil := strings.Contains(r.GetReason(), "(reported by evil)")
		if r.GetOk() || !slices.Equal(r.GetCulprits(), []string{"evil"}) {
			t.Errorf("failed attempt %v: want evil alone blamed, never %s", r, victim)
			return byEvil
		}
		if byEvil {
			if r.GetBlame() != "accuser-lied" || !strings.Contains(r.GetReason(), "to "+victim+" does not decrypt under its revealed pair key") {
				t.Errorf("failed attempt %v: want evil's report judged accuser-lied, its own envelope to %s undecryptable", r, victim)
			}
			return true
		}
		if r.GetBlame() != "proven" || !strings.Contains(r.GetReason(), "(reported by "+victim+")") {
			t.Errorf("failed attempt %v: want evil's report judged, or %s's proving evil at fault", r, victim)
		}
		return false
	}

	t.Run("keygen: the recipient of a garbled share is not blamed", func(t *testing.T) {
		victim := honestByID[0].Name // the first other member by device id
		e := c.ctlErr(t, "keys", "create", "--threshold", "1", "--devices", strings.Join(names, ","))
		expectRPC(t, e, codes.Aborted, "keygen session failed", "blamed: evil")
		if strings.Contains(e.Msg, "honest") {
			t.Errorf("the error names an honest device: %s", e.Msg)
		}
		recs := c.sessionRecords(t, 1)
		if len(recs) != 1 || recs[0].GetKind() != "keygen" {
			t.Fatalf("records %v: want the failed keygen", recs)
		}
		if framedRight(t, recs[0], victim) {
			judged++
		}
	})

	become(t, "")
	key := c.createKey(t, names)
	checkSigners(t, key.Holders, names...)
	become(t, "garble-p2p")

	t.Run("signing: the recipient of a garbled MtA message is never struck", func(t *testing.T) {
		const n = 3
		for i := range n {
			s := signAndVerify(t, c, key, fmt.Sprintf("blame: garbled envelope %d", i))
			checkSigners(t, s.Signers, "honest1", "honest2")
		}
		failed := failedSignRecords(t, c, 2*n)
		if len(failed) != n {
			t.Fatalf("%d failed attempts, want one per signature: %v", len(failed), failed)
		}
		for _, r := range failed {
			victim := ""
			for _, d := range r.GetDevices() {
				if d != "evil" {
					victim = d
				}
			}
			if len(r.GetDevices()) != 2 || !slices.Contains(r.GetDevices(), "evil") {
				t.Errorf("failed attempt %v: want evil and one honest device", r)
				continue
			}
			if framedRight(t, r, victim) {
				judged++
			}
		}
		// Three strikes in a row: evil is paused, and the next signature's
		// first attempt succeeds with the honest pair.
		s := signAndVerify(t, c, key, "blame: evil is paused")
		checkSigners(t, s.Signers, "honest1", "honest2")
		if recs := c.sessionRecords(t, 1); len(recs) != 1 || !recs[0].GetOk() {
			t.Errorf("with evil paused, the first attempt should succeed: %v", recs)
		}
	})

	t.Run("the records: only evil was blamed, struck and paused", func(t *testing.T) {
		if judged == 0 {
			t.Errorf("evil's report was never the one judged: its recipients' complaints came first every time")
		}
		if n := strings.Count(evil.proc.stderr(), "sealed a point-to-point envelope under a stray key and accused its recipient"); n != 3 {
			t.Errorf("evil garbled %d envelopes while signing, want 3 (one per failed attempt):\n%s", n, evil.proc.stderr())
		}
		for _, r := range c.sessionRecords(t, 50) {
			for _, h := range []string{"honest1", "honest2"} {
				if slices.Contains(r.GetCulprits(), h) {
					t.Errorf("record %v blames %s (%s)", r, h, r.GetBlame())
				}
			}
		}
		entries := c.auditLog(t)
		all := func(auditlog.Entry) bool { return true }
		strikes := auditWith(entries, "device.strike", all)
		pauses := auditWith(entries, "device.pause", all)
		if len(strikes) != 3 || len(pauses) != 1 {
			t.Errorf("%d strikes and %d pauses audited, want 3 and 1:\n%s", len(strikes), len(pauses), auditDump(entries))
		}
		for _, e := range append(strikes, pauses...) {
			if !slices.Equal(e.Devices, []string{"evil"}) {
				t.Errorf("audit entry %s %q names %v: only evil may be struck or paused", e.Action, e.Detail, e.Devices)
			}
			if e.Action == "device.strike" && !strings.HasPrefix(e.Detail, "accuser-lied") && !strings.HasPrefix(e.Detail, "proven") {
				t.Errorf("strike %q: want accuser-lied (evil's report) or proven (its recipient's)", e.Detail)
			}
		}
		for _, l := range strings.Split(c.coord.stderr(), "\n") {
			if (strings.Contains(l, "device paused") || strings.Contains(l, "struck a device")) && !strings.Contains(l, "device=evil") {
				t.Errorf("the coordinator's log strikes or pauses another device than evil: %s", l)
			}
		}
		for _, d := range c.listDevices(t) {
			if d.Name != "evil" && d.Status != status[d.Name] {
				t.Errorf("%s is now %q, was %q", d.Name, d.Status, status[d.Name])
			}
		}
	})

	c.stopSurvivors(t)
	t.Run("no panics in any log", func(t *testing.T) { c.assertNoPanics(t) })
	t.Run("fixtures lasted", func(t *testing.T) { c.assertNoPreparamsGenerated(t) })
}

// become restarts d from its data with the given malicious behaviours (""
// for the product build) and waits until it is ready.
func (c *cluster) become(t *testing.T, d *device, behaviours string, env ...string) {
	t.Helper()
	if d.proc != nil {
		stopClean(t, d.proc)
		c.waitOffline(t, d.name)
	}
	if behaviours == "" {
		c.runParty(t, d)
	} else {
		c.runMaliciousParty(t, d, behaviours, env)
	}
	c.waitReady(t, d.name)
}
