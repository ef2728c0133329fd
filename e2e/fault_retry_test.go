//go:build unix

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// TestFaultSigning covers what a signature does about a device that fails
// while other subsets of a 2-of-3 key's holders could sign:
//   - a chosen signer dies (SIGKILL) mid-round: Sign retries once without
//     it and succeeds with the other subset, and the coordinator's session
//     records show the first attempt aborted, blaming that device only;
//   - a device stops answering with its connection left open (SIGSTOP): a
//     signature asked at once aborts its first attempt blaming that device
//     alone (its link found dead by the coordinator's gRPC keepalive, or
//     its join late) and succeeds through the retry; the coordinator shows
//     it offline within keepaliveBound and no longer picks it; after
//     SIGCONT it reconnects and signs again.
//
// Both run on one cluster and key; each restarted device must be able to
// sign again, and every survivor must exit cleanly with no goroutine left.
func TestFaultSigning(t *testing.T) {
	names := []string{"x", "y", "z"}
	c, _ := newFaultCluster(t, []int{1, 2, 3}, names)
	key := c.createKey(t, names)
	// The coordinator picks the first t+1 usable holders in a fixed order:
	// the first signer of a normal signature is picked again while it is up.
	first := signAndVerify(t, c, key, "before the faults").Signers
	if len(first) != 2 {
		t.Fatalf("signers %v, want 2", first)
	}

	ok := t.Run("a signer dies mid-round: retried without it", func(t *testing.T) {
		victim := c.devices[first[0]]
		const point = "party.sign.round-2"
		stopParty(t, victim)
		c.runDevice(t, victim, point)
		c.waitReady(t, names...)
		digest := digestOf("a signer dies at " + point)
		began := time.Now()
		s := c.sign(t, key, digest, "--timeout", faultTimeout.String())
		took := time.Since(began)
		if took > faultTimeout+deadlineSlack {
			t.Errorf("the signature took %s, past its deadline %s", took, faultTimeout)
		}
		verifySignature(t, key.PublicKey, digest, s)
		if slices.Contains(s.Signers, victim.name) || len(s.Signers) != 2 {
			t.Errorf("signers %v: want two devices without %s", s.Signers, victim.name)
		}
		waitCrashed(t, victim.proc, point)
		t.Logf("signed by %v after %s, %s dead at %s", s.Signers, took.Round(time.Millisecond), victim.name, point)

		// The session records: the retry succeeded, after a first attempt
		// with the victim that aborted blaming it (not the innocent signer).
		recs := c.sessionRecords(t, 10)
		if len(recs) < 2 {
			t.Fatalf("the coordinator lists %d sessions, want at least 2", len(recs))
		}
		retry, aborted := recs[0], recs[1]
		if retry.GetKind() != "sign" || !retry.GetOk() || !sameNames(retry.GetDevices(), s.Signers) {
			t.Errorf("newest session %v: want the successful sign by %v", retry, s.Signers)
		}
		if aborted.GetKind() != "sign" || aborted.GetOk() || aborted.GetKeyId() != key.ID ||
			!sameNames(aborted.GetDevices(), first) || !slices.Equal(aborted.GetCulprits(), []string{victim.name}) ||
			!strings.Contains(aborted.GetReason(), "disconnected") {
			t.Errorf("session before it %v: want a failed sign with %v, reason 'disconnected', culprits [%s] only", aborted, first, victim.name)
		}
		if !strings.Contains(c.coord.stderr(), "retrying signature without blamed devices") {
			t.Error("the coordinator did not log the retry")
		}

		// The victim is back and its share still signs: without the third
		// device it must sign.
		c.runDevice(t, victim, "")
		c.waitReady(t, names...)
		c.checkSignsWith(t, key, victim.name)
	})
	if !ok {
		return
	}

	t.Run("a device stops answering: keepalive drops it", func(t *testing.T) {
		victim := c.devices[first[0]] // picked while the coordinator sees it online
		p := victim.proc
		before := c.sessionRecords(t, 1)
		if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stoppedAt := time.Now()
		stopped := true
		resume := func() {
			if stopped {
				stopped = false
				if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
					t.Errorf("SIGCONT: %v", err)
				}
			}
		}
		t.Cleanup(resume) // before the cluster's cleanup stops it

		// At once, while the coordinator still shows it online: the first
		// attempt waits on the silent device until its link is found dead
		// (or it misses the join deadline), blames it alone, and the retry
		// without it signs, all within the call's deadline.
		digest := digestOf("while " + victim.name + " is stopped")
		s := c.sign(t, key, digest, "--timeout", faultTimeout.String())
		took := time.Since(stoppedAt)
		if took > faultTimeout+deadlineSlack {
			t.Errorf("the signature took %s, past its deadline %s", took, faultTimeout)
		}
		verifySignature(t, key.PublicKey, digest, s)
		if slices.Contains(s.Signers, victim.name) {
			t.Errorf("signers %v include the stopped %s", s.Signers, victim.name)
		}
		t.Logf("signed by %v %s after %s stopped answering", s.Signers, took.Round(time.Millisecond), victim.name)
		recs := c.sessionRecords(t, 10)
		if len(recs) < 3 || len(before) == 0 || recs[2].GetId() != before[0].GetId() {
			t.Fatalf("want exactly two new sessions, an aborted one and its retry; the coordinator lists %v (before: %v)", recs, before)
		}
		if aborted := recs[1]; aborted.GetOk() || !sameNames(aborted.GetDevices(), first) || !slices.Equal(aborted.GetCulprits(), []string{victim.name}) {
			t.Errorf("first attempt %v: want a failed session with %v blaming only the silent %s", aborted, first, victim.name)
		}

		// The coordinator shows it offline and no longer picks it.
		c.waitOfflineWithin(t, keepaliveBound, victim.name)
		t.Logf("the coordinator showed %s offline %s after SIGSTOP", victim.name, time.Since(stoppedAt).Round(time.Millisecond))
		s = signAndVerify(t, c, key, "once "+victim.name+" shows offline")
		if slices.Contains(s.Signers, victim.name) {
			t.Errorf("signers %v include the offline %s", s.Signers, victim.name)
		}
		if recs2 := c.sessionRecords(t, 2); len(recs2) != 2 || recs2[1].GetId() != recs[0].GetId() || !recs2[0].GetOk() {
			t.Errorf("want one new session, successful, without %s: %v", victim.name, recs2)
		}

		// Resumed, it notices its link is gone, reconnects and signs again.
		resume()
		c.waitReady(t, names...)
		if p.exited() {
			t.Fatalf("%s's agent exited after SIGCONT\nstderr:\n%s", victim.name, p.stderr())
		}
		c.checkSignsWith(t, key, victim.name)
	})

	c.stopSurvivors(t)
	t.Run("no panics in any log", func(t *testing.T) { c.assertNoPanics(t) })
}

// keepaliveBound is how long the coordinator may take to notice a device
// that stopped answering: its keepalive pings after 15 s of silence and
// drops the link 10 s later (coordinator/server.go); the rest is slack.
const keepaliveBound = 90 * time.Second

// checkSignsWith stops a holder of key other than name, signs, requires
// name among the signers (t = 1: the two left sign), and starts the
// stopped device again.
func (c *cluster) checkSignsWith(t *testing.T, key keyInfo, name string) {
	t.Helper()
	other := key.Holders[slices.IndexFunc(key.Holders, func(h string) bool { return h != name })]
	stopParty(t, c.devices[other])
	c.waitOffline(t, other)
	s := signAndVerify(t, c, key, fmt.Sprintf("%s signs with %s down", name, other))
	if !slices.Contains(s.Signers, name) {
		t.Errorf("signers %v: want %s, with %s down", s.Signers, name, other)
	}
	c.runDevice(t, c.devices[other], "")
	c.waitReady(t, key.Holders...)
}

// waitOfflineWithin polls 'devices list' until the coordinator shows the
// named devices offline, failing after bound.
func (c *cluster) waitOfflineWithin(t testing.TB, bound time.Duration, names ...string) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		devs := c.listDevices(t)
		var online []string
		for _, d := range devs {
			if slices.Contains(names, d.Name) && d.Online {
				online = append(online, d.Name)
			}
		}
		if len(online) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the coordinator still shows %v online %s after they stopped answering", online, bound)
		}
		time.Sleep(pollEvery)
	}
}

// sessionRecords lists the coordinator's newest finished sessions, newest
// first, over gRPC with the admin token (mpcctl has no command for them).
func (c *cluster) sessionRecords(t testing.TB, limit uint32) []*mpcv1.SessionInfo {
	t.Helper()
	conn := c.dialGRPC(t, "admin.token")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := mpcv1.NewAdminServiceClient(conn).ListSessions(ctx, &mpcv1.ListSessionsRequest{Limit: limit})
	if err != nil {
		t.Fatalf("ListSessions: %v", err)
	}
	var out []*mpcv1.SessionInfo
	for _, s := range resp.GetSessions() {
		if !s.GetRunning() {
			out = append(out, s)
		}
	}
	return out
}
