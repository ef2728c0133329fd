package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestFaultReshare kills the coordinator, then a device, at round boundaries
// of drills (reshares to the same committee) of a 2-of-2 key, as
// fault_test.go describes. Every resharing round comes before the reshare's
// commit point, so each fault must leave the key at its old epoch: the drill
// fails with a typed error within its deadline and is not committed, the
// key signs under the same public key, each device holds exactly one
// committed share at the old epoch (nothing pending), and the audit log
// records the abandoned attempt (with the dead device as its culprit). A
// drill afterwards must succeed. The commit point itself and what follows
// it are reshare_crash_test.go's.
//
// Each device takes a fresh TEST-ONLY pre-parameter set for every reshare
// it joins as a new holder, failed ones included, from a fixture file of
// seven sets: CI (round 2 for each victim) runs on one cluster; with
// MPCSIGN_FULL_FAULTS=1 (rounds 1 to 4 for each) each victim gets a cluster
// of its own.
func TestFaultReshare(t *testing.T) {
	names := []string{"a", "b"}
	full := os.Getenv(fullFaultsEnv) == "1"
	var (
		c       *cluster
		metrics string
		key     keyInfo
		// epoch is the key's committed epoch; next, the epoch the next
		// attempt takes (an abandoned attempt's number is never used again).
		epoch, next uint64
		// abandoned are the attempts the faults cost, checked in the audit log.
		abandoned []abandonedReshare
	)
	newKey := func(t *testing.T) {
		c, metrics = newFaultCluster(t, []int{5, 6}, names)
		key = c.createKey(t, names)
		epoch, next, abandoned = 0, 1, nil
		signAndVerify(t, c, key, "before any reshare fault")
	}
	// finish requires a drill to succeed after the faults, the audit log to
	// hold every abandoned attempt, and the survivors to exit cleanly with no
	// goroutine left.
	finish := func(t *testing.T) {
		if !t.Run("drill afterwards", func(t *testing.T) { checkDrill(t, c, key, epoch, next) }) {
			return
		}
		epoch, next = next, next+1
		key.Epoch = epoch
		t.Run("audit log names every abandoned attempt", func(t *testing.T) { checkAbandoned(t, c, key, abandoned) })
		c.checkKeysAndShares(t, []keyInfo{key}, names...)
		c.stopSurvivors(t)
		t.Run("no panics in any log", func(t *testing.T) { c.assertNoPanics(t) })
		t.Run("fixtures lasted", func(t *testing.T) { c.assertNoPreparamsGenerated(t) })
	}
	// checkKept requires the key to be as it was before the failed attempt:
	// same epoch and public key, signing, one committed share per device.
	checkKept := func(t *testing.T, point string) {
		t.Helper()
		k := c.getKey(t, key.ID)
		if k.Epoch != epoch || k.PublicKey != key.PublicKey || k.Threshold != key.Threshold || !sameNames(k.Holders, names) {
			t.Errorf("after %s keys get says %+v; want epoch %d, the rest as %+v", point, k.keyInfo, epoch, key)
		}
		signAndVerify(t, c, key, "after "+point)
		c.checkOneEpoch(t, key, epoch, names...)
	}

	// The coordinator first: a party fault last leaves the abandoned
	// attempt to the coordinator that saw it (no restart clears it) before
	// the drill that must succeed.
	for v, victim := range []string{"coordinator", "party"} {
		if c == nil || full {
			if c != nil {
				finish(t)
			}
			newKey(t) // on t: the cluster must outlive a subtest
		}
		for i, round := range faultRounds("reshare") {
			point := fmt.Sprintf("%s.reshare.round-%d", victim, round)
			ok := t.Run(point, func(t *testing.T) {
				if victim == "coordinator" {
					metrics = c.killCoordinatorAt(t, point, names, "drill", "--key", key.ID)
					// The restarted coordinator abandons the attempt it
					// finds in flight; the devices drop anything pending.
					abandoned = append(abandoned, abandonedReshare{epoch: next, detail: "the coordinator restarted before its commit point"})
				} else {
					d := c.devices[names[(i+v)%len(names)]]
					c.killPartyInDrill(t, d, point, key, epoch, next, metrics)
					abandoned = append(abandoned, abandonedReshare{epoch: next, detail: "reshare session failed", culprit: d.name})
				}
				checkKept(t, point)
			})
			next++
			if !ok {
				return
			}
		}
	}
	finish(t)
}

// killPartyInDrill restarts d with crash point armed, runs a drill of key
// (at epoch from) that must fail within its deadline, uncommitted, blaming
// d, as d dies there, and restarts d unarmed. The coordinator survives: its
// goroutines and sessions must come back to their level before the fault.
func (c *cluster) killPartyInDrill(t *testing.T, d *device, point string, key keyInfo, from, to uint64, metrics string) {
	t.Helper()
	stopParty(t, d)
	c.runDevice(t, d, point)
	c.waitReady(t, key.Holders...)
	base, _ := coordMetrics(t, metrics)
	r, took := c.ctlWithin(t, "drill", "--key", key.ID)
	var reps []reshareReport
	if err := json.Unmarshal([]byte(r.stdout), &reps); err != nil || len(reps) != 1 || r.code != 1 {
		t.Fatalf("drill: exit %d, want 1 with one JSON report (%v)\nstdout:\n%s\nstderr:\n%s", r.code, err, r.stdout, r.stderr)
	}
	rep := reps[0]
	if rep.OK || rep.Committed || rep.FromEpoch != from || rep.ToEpoch != to || rep.PublicKey != key.PublicKey {
		t.Errorf("drill report %+v: want failed, not committed, epoch %d -> %d, the key's public key", rep, from, to)
	}
	for _, want := range []string{"reshare session failed", "disconnected", "blamed: " + d.name} {
		if !strings.Contains(rep.Error, want) {
			t.Errorf("the drill's error %q does not say %q", rep.Error, want)
		}
	}
	waitCrashed(t, d.proc, point)
	t.Logf("%s: the drill failed after %s: %s", point, took.Round(time.Millisecond), rep.Error)
	c.runDevice(t, d, "")
	c.waitReady(t, key.Holders...)
	c.waitGoroutines(t, metrics, base)
}

// abandonedReshare is an attempt a fault cost: its epoch, what the audit
// entry's detail must say, and the device it must blame (if any).
type abandonedReshare struct {
	epoch   uint64
	detail  string
	culprit string
}

// checkAbandoned requires a failed key.drill audit entry for each abandoned
// attempt, saying why and naming its culprit, and no commit of its epoch.
func checkAbandoned(t *testing.T, c *cluster, key keyInfo, want []abandonedReshare) {
	t.Helper()
	entries := c.auditEntries(t)
	for _, w := range want {
		prefix := fmt.Sprintf("reshare to epoch %d abandoned: ", w.epoch)
		found := false
		for _, e := range entries {
			if e.Action != "key.drill" || e.KeyID != key.ID {
				continue
			}
			if e.Result == "ok" && strings.Contains(e.Detail, fmt.Sprintf("-> %d;", w.epoch)) {
				t.Errorf("abandoned epoch %d was committed: %+v", w.epoch, e)
			}
			if e.Result == "failed" && strings.HasPrefix(e.Detail, prefix) && strings.Contains(e.Detail, w.detail) &&
				(w.culprit == "" || sameNames(e.Culprits, []string{w.culprit})) {
				found = true
			}
		}
		if !found {
			t.Errorf("no failed key.drill audit entry %q...%q with culprit %q", prefix, w.detail, w.culprit)
		}
	}
}
