package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The reshare crash tests kill a process with kill -9 at each step of a
// reshare's two-phase commit (DESIGN.md, "Reshare, revocation and drills"),
// restart it unarmed, and check the invariant: the key signs, under the same
// public key, with the old epoch (crash before the commit point) or the new
// one (after it), never neither; once the devices are back, each holds
// exactly one share of the key, committed, at the key's epoch; and a device
// that missed the commit never signs with the retired epoch.
//
// A process crashes through its test-only crash point: started with
// MPCSIGN_TEST_CRASH_AT=<point>, it sends itself SIGKILL there. Only the
// process meant to crash gets the variable. Each test runs its crash points
// one after the other on one cluster and one 2-of-3 key (a keygen or a
// reshare costs tens of seconds on two cores); a point starts only once the
// previous one has been checked back to one committed epoch everywhere, and
// each test ends with a normal reshare flow (reshare_test.go), which must
// succeed. Then every process still running must exit cleanly on SIGTERM
// with no goroutine left (stopSurvivors, fault_test.go).

// crashTimeout bounds how long a process takes to die once it has reached its
// crash point (a hang guard).
const crashTimeout = time.Minute

// waitCrashed waits for p to die and checks that it killed itself at the
// crash point with SIGKILL.
func waitCrashed(t testing.TB, p *proc, point string) {
	t.Helper()
	if !p.wait(crashTimeout) {
		t.Fatalf("%s still runs; it should have died at crash point %s\nstderr:\n%s", p.name, point, p.stderr())
	}
	if !p.killed() || !strings.Contains(p.stderr(), "crashtest: reached "+point+";") {
		t.Fatalf("%s ended (%s), want it killed by SIGKILL at crash point %s\nstderr:\n%s", p.name, p.cmd.ProcessState, point, p.stderr())
	}
}

// TestReshareCrashCoordinator kills the coordinator during drills of a
// 2-of-3 key: before the commit point (every new holder stored its share as
// pending), right after it (committed in the store, no device told), and
// during erasure (the first participant told, the others not).
func TestReshareCrashCoordinator(t *testing.T) {
	c := newCluster(t)
	c.fixtureFiles = []int{5, 6, 7, 4} // a, b and c join every reshare
	c.startCoordinator(t)
	names := []string{"a", "b", "c", "d"}
	for _, n := range names {
		c.runDevice(t, c.enroll(t, n, false), "")
	}
	c.waitReady(t, names...)
	var key keyInfo
	c.ctlJSON(t, &key, "keys", "create", "--threshold", "1", "--devices", "a,b,c")
	holders := key.Holders
	signAndVerify(t, c, key, "before any reshare")

	// epoch is the key's committed epoch; next, the epoch the next reshare
	// attempt takes (an abandoned attempt's number is never used again).
	epoch, next := uint64(0), uint64(1)
	for _, sc := range []struct {
		point   string
		commits bool // whether the reshare is committed when the coordinator dies
	}{
		{"reshare.before-commit", false},
		{"reshare.after-commit", true},
		{"reshare.during-erasure", true},
	} {
		ok := t.Run(sc.point, func(t *testing.T) {
			c.restartCoordinator(t, sc.point)
			c.waitReady(t, holders...)
			if r := c.ctl(t, "drill", "--key", key.ID); r.code == 0 {
				t.Fatalf("the drill succeeded; the coordinator should have died at %s\n%s", sc.point, r.stdout)
			}
			waitCrashed(t, c.coord, sc.point)
			// The dead coordinator told no device (during erasure: at most
			// the first participant) what became of the reshare.
			var told []string
			for _, n := range holders {
				log := c.devices[n].proc.stderr()
				if strings.Contains(log, logPromoted(key.ID, next)) || strings.Contains(log, logDropped(key.ID, next)) {
					told = append(told, n)
				}
			}
			if sc.point == "reshare.during-erasure" {
				t.Logf("devices that applied the commit before the coordinator came back: %v", told)
			}
			if len(told) > 0 && sc.point != "reshare.during-erasure" || len(told) > 1 {
				t.Errorf("devices %v applied the reshare's outcome before the coordinator came back", told)
			}
			c.restartCoordinator(t, "")

			// Each device learns where the key stands when it reconnects:
			// before the commit point it drops its pending share, after it
			// it promotes the new epoch and erases the old one.
			want := epoch
			for _, n := range holders {
				if sc.commits {
					c.waitPartyLog(t, c.devices[n], logPromoted(key.ID, next), logErased(key.ID, epoch))
				} else {
					c.waitPartyLog(t, c.devices[n], logDropped(key.ID, next))
				}
			}
			if sc.commits {
				want = next
			}
			c.waitReady(t, holders...)
			k := c.getKey(t, key.ID)
			if k.Epoch != want || k.PublicKey != key.PublicKey || k.Threshold != key.Threshold || !sameNames(k.Holders, holders) {
				t.Errorf("after the crash keys get says %+v; want epoch %d, the rest as %+v", k.keyInfo, want, key)
			}
			signAndVerify(t, c, key, "after a crash at "+sc.point)
			c.checkOneEpoch(t, key, want, holders...)
			epoch = want
		})
		next++
		if !ok {
			return
		}
	}

	if !t.Run("drill afterwards", func(t *testing.T) { checkDrill(t, c, key, epoch, next) }) {
		return
	}
	epoch, next = next, next+1

	t.Run("audit log kept every commit", func(t *testing.T) {
		entries := c.auditEntries(t)
		for _, want := range []struct{ action, result, detail string }{
			{"key.drill", "failed", "reshare to epoch 1 abandoned: the coordinator restarted before its commit point"},
			// The test signature (with the pending shares) comes before the
			// commit point now, so every commit records it.
			{"key.drill", "ok", "epoch 0 -> 2;"},
			{"key.drill", "ok", "test signature with epoch 2 verified"},
			{"key.drill", "ok", "epoch 2 -> 3;"},
			{"key.drill", "ok", "test signature with epoch 3 verified"},
			{"key.drill", "ok", "epoch 3 -> 4;"},
			{"key.drill", "ok", "test signature with epoch 4 verified"},
		} {
			found := false
			for _, e := range entries {
				found = found || e.Action == want.action && e.Result == want.result && e.KeyID == key.ID && strings.Contains(e.Detail, want.detail)
			}
			if !found {
				t.Errorf("no %s entry (%s) saying %q in the audit log", want.action, want.result, want.detail)
			}
		}
		// No commit without its test signature, and no separate entry for it.
		for _, e := range entries {
			if e.Action == "key.drill" && e.Result == "ok" && e.KeyID == key.ID && !strings.Contains(e.Detail, "test signature with epoch") {
				t.Errorf("a commit without its test signature: %+v", e)
			}
			if e.Action == "key.drill.verify" {
				t.Errorf("a separate verify entry: %+v", e)
			}
		}
	})

	t.Run("reshare to another committee", func(t *testing.T) {
		checkReshareTo(t, c, key, epoch, next, []string{"a", "b", "d"}, 1)
	})

	c.stopSurvivors(t)
	t.Run("no panics in any log", func(t *testing.T) { c.assertNoPanics(t) })
	t.Run("fixtures lasted", func(t *testing.T) { c.assertNoPreparamsGenerated(t) })
}

// TestReshareCrashParty kills devices during reshares of a 2-of-3 key: two
// as they get the coordinator's commit message (one before applying it, one
// right after), one right after it stored its new share as pending (before
// the commit point). Then it revokes a device with a replacement.
func TestReshareCrashParty(t *testing.T) {
	c := newCluster(t)
	c.fixtureFiles = []int{5, 6, 7, 4} // p, q and r join every reshare
	c.startCoordinator(t)
	// The sync crash points are armed from the start, before any key
	// exists: once one does, a device gets where every key stands at each
	// connect, so a sync point armed by a restart would fire right there,
	// not at the commit of a reshare. Keygen and signing send no such word.
	const beforeApply, afterApply, afterPending = "party.sync.before-apply", "party.sync.after-apply", "party.reshare.after-pending-write"
	armed := map[string]string{"p": beforeApply, "q": afterApply}
	names := []string{"p", "q", "r", "s"}
	for _, n := range names {
		c.runDevice(t, c.enroll(t, n, false), armed[n])
	}
	c.waitReady(t, names...)
	var key keyInfo
	c.ctlJSON(t, &key, "keys", "create", "--threshold", "1", "--devices", "p,q,r")
	signAndVerify(t, c, key, "before any reshare")
	p, q, r := c.devices["p"], c.devices["q"], c.devices["r"]

	ok := t.Run("commit message: p dies before applying it, q right after", func(t *testing.T) {
		rep, code := c.drill(t, key.ID)
		// The pending shares signed the test digest before the commit
		// point; p and q die afterwards, as they get the commit.
		if code != 0 || !rep.OK || !rep.Committed || rep.ToEpoch != 1 {
			t.Errorf("drill: exit %d, report %+v; want committed to epoch 1, ok", code, rep)
		}
		waitCrashed(t, p.proc, beforeApply)
		waitCrashed(t, q.proc, afterApply)
		// As they died: p still has epoch 0 and the pending epoch 1; q
		// promoted 1 and erased 0 in one step.
		c.checkShares(t, p, key.ID, committedShare(key, 0), partyShare{KeyID: key.ID, Epoch: 1, State: "pending", Threshold: 1, PublicKey: key.PublicKey})
		c.checkShares(t, q, key.ID, committedShare(key, 1))
		k := c.getKey(t, key.ID)
		if k.Epoch != 1 || k.PublicKey != key.PublicKey || k.LastReshare == nil || !k.LastReshare.Committed || !k.LastReshare.OK {
			t.Errorf("keys get says %+v, last reshare %+v; want epoch 1, committed, ok", k.keyInfo, k.LastReshare)
		}

		// q is back: the key signs with q and r while p, which missed the
		// commit, is down.
		c.runDevice(t, q, "")
		c.waitReady(t, "q")
		checkSigners(t, signAndVerify(t, c, key, "p is down").Signers, "q", "r")

		// p is back with r stopped, so p must sign: it applies the commit
		// as it connects and signs with epoch 1 (its epoch 0 would not
		// combine with q's epoch 1 into a valid signature).
		stopParty(t, r)
		c.waitOffline(t, "r")
		c.runDevice(t, p, "")
		c.waitPartyLog(t, p, logPromoted(key.ID, 1), logErased(key.ID, 0))
		c.waitReady(t, "p")
		checkSigners(t, signAndVerify(t, c, key, "p missed the commit").Signers, "p", "q")
		c.runDevice(t, r, "")
		c.waitReady(t, "r")
		c.checkOneEpoch(t, key, 1, "p", "q", "r")
	})
	if !ok {
		return
	}

	ok = t.Run(afterPending, func(t *testing.T) {
		stopParty(t, r)
		c.runDevice(t, r, afterPending)
		c.waitReady(t, "r")
		rep, code := c.drill(t, key.ID)
		if code == 0 || rep.OK || rep.Committed || rep.FromEpoch != 1 || rep.ToEpoch != 2 {
			t.Errorf("drill: exit %d, report %+v; want epoch 1 -> 2 failed before its commit", code, rep)
		}
		waitCrashed(t, r.proc, afterPending)
		c.checkShares(t, r, key.ID, committedShare(key, 1), partyShare{KeyID: key.ID, Epoch: 2, State: "pending", Threshold: 1, PublicKey: key.PublicKey})
		if k := c.getKey(t, key.ID); k.Epoch != 1 || k.PublicKey != key.PublicKey {
			t.Errorf("keys get says %+v; want epoch 1 and the same public key", k.keyInfo)
		}
		// The old epoch signs while r is down, and r drops its pending
		// share when it is back.
		checkSigners(t, signAndVerify(t, c, key, "r is down").Signers, "p", "q")
		c.runDevice(t, r, "")
		c.waitPartyLog(t, r, logDropped(key.ID, 2))
		c.waitReady(t, "r")
		c.checkOneEpoch(t, key, 1, "p", "q", "r")
	})
	if !ok {
		return
	}

	t.Run("revoke with a replacement", func(t *testing.T) {
		// Epoch 2 was taken by the abandoned attempt.
		checkRevokeReplace(t, c, key, 1, 3, "r", "s")
	})

	c.stopSurvivors(t)
	t.Run("no panics in any log", func(t *testing.T) { c.assertNoPanics(t) })
	t.Run("fixtures lasted", func(t *testing.T) { c.assertNoPreparamsGenerated(t) })
}

// auditEntry is a line of 'mpcctl audit export'.
type auditEntry struct {
	Action   string   `json:"action"`
	KeyID    string   `json:"key_id"`
	Result   string   `json:"result"`
	Detail   string   `json:"detail"`
	Culprits []string `json:"culprits"`
	Devices  []string `json:"devices"`
}

// auditEntries exports the audit log, requires its hash chain to verify and
// returns its entries.
func (c *cluster) auditEntries(t testing.TB) []auditEntry {
	t.Helper()
	file := filepath.Join(c.dir, fmt.Sprintf("audit-%d.jsonl", c.seq))
	if r := c.ctl(t, "audit", "export", "--out", file); r.code != 0 {
		t.Fatalf("audit export: exit %d\n%s", r.code, r.stderr)
	}
	if r := c.ctl(t, "audit", "verify", file); r.code != 0 || !strings.Contains(r.stdout, `"ok": true`) {
		t.Fatalf("audit verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []auditEntry
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e auditEntry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}

// assertNoPreparamsGenerated fails if a device ran out of its TEST-ONLY
// pre-parameter sets and started generating safe primes, which takes minutes
// of CPU: a test that needs more sets needs a bigger fixture file.
func (c *cluster) assertNoPreparamsGenerated(t testing.TB) {
	t.Helper()
	for _, p := range c.services {
		if strings.Contains(p.stderr(), "generating pre-parameters") {
			t.Errorf("%s generated pre-parameters: its fixture file ran out", p.name)
		}
	}
}
