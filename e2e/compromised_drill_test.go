package e2e

// The compromised coordinator against a standing drill authorization left
// in place after the key was reshared (drill-signed-committee): the devices
// run a drill only on the committee that holds the key. See
// compromised_test.go for the harness.

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// Why an agent refuses a drill that does not fit its share (party/ceremony.go
// drillFits): an old holder whose share another committee holds, and a
// device that holds no share of the key. The coordinator's records clip a
// device's reason; the agent's log has it whole (the Why).
const (
	drillOtherCommittee    = "of the key is held by another committee of"
	drillOtherCommitteeWhy = "(a standing drill signed before the key was reshared no longer fits it)"
	drillNoShare           = "but this device holds no committed share of that epoch"
	drillNoShareWhy        = "a standing drill reshares a key among the devices that hold it and adds none"
)

// TestCompromisedCoordinatorRunsStaleStandingDrill: five devices on an
// operator-signed roster. The operator makes key K 2-of-4 on {alpha, bravo,
// charlie, delta} and signs a standing drill of it (any epoch, that
// committee), which a scheduler runs once. Later the operator reshares K to
// {alpha, bravo, echo} (charlie and delta erase their shares) and leaves the
// standing drill in place. Then the coordinator is taken over (restarted as
// the compromised build with drill-signed-committee): the attacker, holding
// the admin token only, runs a "drill" of K under the standing
// authorization on the committee it names, {alpha, bravo, charlie, delta},
// with old holders alpha and bravo. Had the devices joined, K would be back
// on charlie and delta and echo would erase its current share on the
// genuine commit certificate. Each of the four refuses (alpha and bravo: K
// is held by another committee; charlie and delta: they hold no share of
// it), no pre-parameter set is taken, K keeps its epoch and committee, echo
// keeps its share, and K signs with {alpha, echo} and {bravo, echo}.
func TestCompromisedCoordinatorRunsStaleStandingDrill(t *testing.T) {
	evil := compromisedCoordinator(t)
	c := newCluster(t)
	// alpha and bravo join every ceremony (a keygen, the drill, the
	// reshare, and the attack's drill if they took it): seven sets each.
	c.fixtureFiles = []int{5, 6, 1, 2, 3}
	c.startCoordinator(t)
	op := c.newOperator(t, "alice")
	genesis := c.initRoster(t, op)
	names := []string{"alpha", "bravo", "charlie", "delta", "echo"}
	devs := map[string]enrolled{}
	for _, n := range names {
		devs[n] = c.enrollSigned(t, op, n, genesis)
	}
	for _, n := range names {
		c.runParty(t, devs[n].device)
	}
	c.waitReady(t, names...)
	old, cur := names[:4], []string{"alpha", "bravo", "echo"}

	var key keyInfo
	c.opJSON(t, op, &key, "keys", "create", "--threshold", "1", "--devices", strings.Join(old, ","))
	c.newRequester(t, op, "wallet", "--keys", key.ID)
	if key.Epoch != 0 || key.Threshold != 1 {
		t.Fatalf("keys create printed %+v: want a 2-of-4 key at epoch 0", key)
	}
	checkSigners(t, key.Holders, old...)

	// The operator signs a standing drill of K for a scheduler, which runs
	// it: K moves to epoch 1 on the same committee.
	standingFile := filepath.Join(c.dir, "standing-drill.json")
	c.writeAuthorizationOut(t, op, standingFile, "drill", "--key", key.ID, "--standing", "--valid-for", "24h")
	standing, standingCer := readAuthorizationFile(t, standingFile)
	var oldIDs []string
	for _, n := range old {
		oldIDs = append(oldIDs, devs[n].id)
	}
	if standingCer.Kind != roster.CeremonyDrill || !standingCer.Standing || standingCer.KeyID != key.ID ||
		!sameNames(standingCer.NewCommittee, oldIDs) || !sameNames(standingCer.Committee, oldIDs) || standingCer.NewThreshold != 1 {
		t.Fatalf("the standing drill signs %+v: want a standing drill of %s on %v, threshold 1", standingCer, key.ID, old)
	}
	var reps []reshareReport
	c.opJSON(t, op, &reps, "drill", "--key", key.ID, "--authorization", standingFile)
	if len(reps) != 1 || !reps[0].OK || !reps[0].Committed || reps[0].ToEpoch != 1 || !sameNames(reps[0].NewCommittee, old) {
		t.Fatalf("the scheduled drill under the standing authorization: %+v, want it ok and committed to epoch 1 on %v", reps, old)
	}

	// The operator reshares K to {alpha, bravo, echo} and leaves the
	// standing drill in place: charlie and delta erase their shares.
	var reshared struct {
		Key    keyState      `json:"key"`
		Report reshareReport `json:"report"`
	}
	c.opJSON(t, op, &reshared, "keys", "reshare", key.ID, "--devices", strings.Join(cur, ","), "--threshold", "1")
	key = reshared.Key.keyInfo
	if !reshared.Report.OK || key.Epoch != 2 || key.Threshold != 1 || !sameNames(key.Holders, cur) {
		t.Fatalf("keys reshare to %v: key %+v, report %+v; want it at epoch 2 on %v, threshold 1", cur, key, reshared.Report, cur)
	}
	for _, n := range []string{"charlie", "delta"} {
		c.waitPartyLog(t, devs[n].device, logErased(key.ID, 1))
	}
	c.waitPartyLog(t, devs["echo"].device, logPromoted(key.ID, 2))
	s := signAndVerify(t, c, key, "stale standing drill: before")
	if !subset(s.Signers, cur) {
		t.Fatalf("signers %v are not all holders %v", s.Signers, cur)
	}

	// The coordinator's machine is taken over.
	c.restartAs(t, evil, compromisedEnv+"=drill-signed-committee")
	c.waitReady(t, names...)
	admin := mpcv1.NewAdminServiceClient(c.dialGRPC(t, "admin.token"))
	members := []*device{devs["alpha"].device, devs["bravo"].device, devs["charlie"].device, devs["delta"].device}
	pools := c.poolLevels(t, members...)
	t.Logf("pre-parameter pools before the attack: %v", pools)

	t.Run("every device refuses the drill onto the committee the key left", func(t *testing.T) {
		var resp *mpcv1.DrillKeyResponse
		err := attackWith(t, func(ctx context.Context) error {
			var err error
			resp, err = admin.DrillKey(ctx, &mpcv1.DrillKeyRequest{KeyId: key.ID, Authorization: standing})
			return err
		})
		// A drill that fails reports it (the RPC itself succeeds).
		var why string
		committed := false
		if err != nil {
			why = grpcErr(t, err).Msg
		} else {
			rep := resp.GetReport()
			if rep.GetOk() || rep.GetCommitted() || resp.GetKey().GetEpoch() != key.Epoch {
				t.Errorf("the attack's drill report: ok %v committed %v, key at epoch %d, old committee %v, new committee %v; want failed, uncommitted, epoch %d",
					rep.GetOk(), rep.GetCommitted(), resp.GetKey().GetEpoch(), rep.GetOldCommittee(), rep.GetNewCommittee(), key.Epoch)
			}
			if !sameNames(rep.GetNewCommittee(), old) || !sameNames(rep.GetOldCommittee(), []string{"alpha", "bravo"}) {
				t.Errorf("the attack ran old committee %v, new committee %v; want alpha,bravo onto %v", rep.GetOldCommittee(), rep.GetNewCommittee(), old)
			}
			why, committed = rep.GetError(), rep.GetCommitted()
		}
		t.Logf("the attack's drill: %s", why)
		if !strings.Contains(why, "the operators did not authorize this ceremony") ||
			!slices.ContainsFunc(old, func(n string) bool { return strings.Contains(why, "device "+n+" refused") }) ||
			(!strings.Contains(why, drillOtherCommittee) && !strings.Contains(why, drillNoShare)) {
			t.Errorf("the attack's drill failed with %q: want a device's refusal of a drill that does not fit the key's holders", why)
		}
		if committed {
			t.Fatal("the devices ran the attack's drill: no refusal to look for")
		}
		// Every device got the session start and checks it on receipt: each
		// refused it on its own record of the key.
		for _, n := range []string{"alpha", "bravo"} {
			c.waitLogLines(t, devs[n].device, 1, refusedSession, "key "+key.ID, drillOtherCommittee, drillOtherCommitteeWhy)
		}
		for _, n := range []string{"charlie", "delta"} {
			c.waitLogLines(t, devs[n].device, 1, refusedSession, "key "+key.ID, drillNoShare, drillNoShareWhy)
		}
		if got := c.poolLevels(t, members...); !maps.Equal(got, pools) {
			t.Errorf("pre-parameter pools after the attack: %v, before: %v (sets taken)", got, pools)
		}
	})

	t.Run("the key keeps its epoch and committee", func(t *testing.T) {
		got := c.getKey(t, key.ID)
		if got.PublicKey != key.PublicKey || got.Epoch != key.Epoch || got.Threshold != key.Threshold || !sameNames(got.Holders, cur) {
			t.Errorf("after the attack the key is %+v, want %+v", got.keyInfo, key)
		}
	})

	t.Run("nothing was erased or given", func(t *testing.T) {
		// The running agents' own view of their keystores, while the
		// compromised coordinator still serves them.
		for _, n := range cur {
			d := devs[n].device
			_, shares := c.liveStatus(t, d)
			shares = slices.DeleteFunc(shares, func(s partyShare) bool { return s.KeyID != key.ID })
			if want := []partyShare{committedShare(key, key.Epoch)}; !slices.Equal(shares, want) {
				t.Errorf("after the attack %s holds these shares of %s:\n  %+v\nwant:\n  %+v", n, key.ID, shares, want)
			}
			if strings.Contains(d.proc.stderr(), logErased(key.ID, key.Epoch)) {
				t.Errorf("%s logged that it erased its share of %s: %q", n, key.ID, logErased(key.ID, key.Epoch))
			}
		}
		for _, n := range []string{"charlie", "delta"} {
			_, shares := c.liveStatus(t, devs[n].device)
			if shares = slices.DeleteFunc(shares, func(s partyShare) bool { return s.KeyID != key.ID }); len(shares) != 0 {
				t.Errorf("after the attack %s, which K left, holds these shares of it: %+v", n, shares)
			}
		}
	})

	// The operators take the coordinator back: the product build on the
	// same data directory, whose sync each device gets on its reconnect.
	c.restartAs(t, bin("coordinator"))
	c.waitReady(t, names...)

	t.Run("the key signs with echo and each of its other holders", func(t *testing.T) {
		// 2-of-3: with one of alpha and bravo stopped, echo's share signs.
		for i, off := range []string{"alpha", "bravo"} {
			d := devs[off].device
			stopParty(t, d)
			c.waitOffline(t, off)
			s := signAndVerify(t, c, key, fmt.Sprintf("stale standing drill: after %d", i))
			on := slices.DeleteFunc(slices.Clone(cur), func(n string) bool { return n == off })
			checkSigners(t, s.Signers, on...)
			c.runParty(t, d)
			c.waitReady(t, off)
		}
	})

	t.Run("the audit trail keeps the refused drill", func(t *testing.T) {
		entries := c.auditLog(t)
		drills := auditWith(entries, "key.drill", func(auditlog.Entry) bool { return true })
		if len(drills) != 2 || drills[0].Result != "ok" || drills[1].Result != "failed" || drills[1].KeyID != key.ID ||
			!strings.Contains(drills[1].Detail, "abandoned") ||
			(!strings.Contains(drills[1].Detail, drillOtherCommittee) && !strings.Contains(drills[1].Detail, drillNoShare)) {
			t.Errorf("want two key.drill entries for %s, the scheduled one ok and the attack's failed, abandoned on a device's refusal; found:\n%s", key.ID, auditDump(drills))
		}
	})

	t.Run("no secret in any log", func(t *testing.T) {
		if leaks := c.scanLogs(t, []secret{operatorSecret(op)}); len(leaks) > 0 {
			t.Errorf("leaks: %+v", leaks)
		}
	})
	// Stops the holders and reads their keystores: one committed share of
	// epoch 2 each, nothing pending; charlie and delta hold nothing.
	c.checkKeysAndShares(t, []keyInfo{key}, cur...)
	t.Run("charlie and delta hold nothing", func(t *testing.T) {
		for _, n := range []string{"charlie", "delta"} {
			stopParty(t, devs[n].device)
			if got := c.allShares(t, devs[n].device); len(got) != 0 {
				t.Errorf("%s holds these shares: %+v, want none", n, got)
			}
		}
	})
	c.stopSurvivors(t)
	t.Run("no panics in any log", func(t *testing.T) { c.assertNoPanics(t) })
	t.Run("fixtures lasted", func(t *testing.T) { c.assertNoPreparamsGenerated(t) })
}
