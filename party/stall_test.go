package party_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/party"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// A signer that stalls mid-protocol without disconnecting (its link stays
// up, it just stops sending) is the one the session's timeout blames
// (tss-lib's WaitingFor, checked against what the coordinator relayed), not
// the signer that waited for it; and the signature still succeeds, by the
// retry with another subset, within the one deadline of the call.
func TestStalledSignerIsBlamedAndRetried(t *testing.T) {
	const stallAt = "party.sign.round-3"
	release := make(chan struct{})
	var stalls sync.WaitGroup
	c := testkit.New(t, testkit.Options{SignTimeout: 24 * time.Second, Device: func(name string, o *party.Options) {
		if name != "stall" {
			return
		}
		o.CrashAt = func(point string) {
			if point != stallAt {
				return
			}
			stalls.Add(1)
			defer stalls.Done()
			<-release
		}
	}})
	// Released before the cluster shuts down (cleanups run last first).
	t.Cleanup(func() { close(release); stalls.Wait() })
	c.AddDevice(t, "stall", testkit.FixtureSets(t, 4)[:1])
	c.AddDevice(t, "honest1", testkit.FixtureSets(t, 1)[:1])
	c.AddDevice(t, "honest2", testkit.FixtureSets(t, 2)[:1])
	// stall is listed first, so it is picked for the first attempt.
	key := c.CreateKey(t, 1, "stall", "honest1", "honest2")

	digest := make([]byte, 32)
	copy(digest, "a signer stalls in round 3")
	r, err := c.Signer.Sign(context.Background(), &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest})
	if err != nil {
		t.Fatalf("sign: %v; want a signature from the retry without the stalled device", err)
	}
	if got := r.GetSigners(); slices.Contains(got, "stall") || len(got) != 2 {
		t.Fatalf("signed by %v, want honest1 and honest2", got)
	}
	recs, err := c.Server.RecentSessions()
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, rec := range recs {
		if rec.Kind != "sign" || rec.OK {
			continue
		}
		failed = append(failed, rec.Reason)
		if !strings.Contains(rec.Reason, "deadline") {
			t.Errorf("the failed attempt's reason is %q, want the session deadline", rec.Reason)
		}
		if !slices.Equal(rec.Culprits, []string{"stall"}) {
			t.Errorf("the failed attempt blames %v, want only the stalled device", rec.Culprits)
		}
		// The first attempt had its own deadline, half of the call's (12 s):
		// not the whole call's 24 s, which would leave the retry about a
		// second. (A deadline, not a speed: it ends the attempt.)
		if took := rec.Finished.Sub(rec.Started); took > 18*time.Second {
			t.Errorf("the failed attempt took %s: it had the whole deadline of the call, not its own share", took)
		}
	}
	if len(failed) != 1 {
		t.Fatalf("%d failed signing attempts (%q), want exactly the first one", len(failed), failed)
	}
}
