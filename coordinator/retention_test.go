package coordinator_test

import (
	"context"
	"testing"
	"time"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// TestRetentionSignsPrunedRequestAnew: a sign result is kept for its
// request id for the retention (30 days by default): within it a retry is
// a replay; once it is pruned, a call with that request id is signed anew
// (a new session, a new signature) and kept again. Session records go
// after their own retention (90 days).
func TestRetentionSignsPrunedRequestAnew(t *testing.T) {
	c := testkit.New(t, testkit.Options{SignTimeout: 20 * time.Second})
	ctx := context.Background()
	for i, name := range []string{"phone", "laptop"} {
		c.AddDevice(t, name, testkit.FixtureSets(t, i+1)[:1])
	}
	key := c.CreateKey(t, 1, "phone", "laptop")
	sign := func() *mpcv1.SignResponse {
		t.Helper()
		r, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("pay 7"), RequestId: "order-7"})
		if err != nil {
			t.Fatal(err)
		}
		verify(t, key.GetPublicKey(), digest("pay 7"), r)
		return r
	}
	if first := sign(); first.GetReplayed() {
		t.Fatal("the first call was a replay")
	}
	if again := sign(); !again.GetReplayed() {
		t.Fatal("a retry within the retention was signed anew")
	}
	sessions, err := c.Server.RecentSessions()
	if err != nil || len(sessions) != 2 { // the keygen and one signature
		t.Fatalf("%d sessions before the prune: %v", len(sessions), err)
	}

	// The prune as it runs 29 days on keeps everything; 31 days on it
	// takes the sign result but not the sessions. (The server's own prune
	// runs with the real clock: it finds nothing this young.)
	now := time.Now()
	if n, m, err := c.Server.PruneRecords(now.Add(29 * 24 * time.Hour)); err != nil || n != 0 || m != 0 {
		t.Fatalf("29 days on: pruned %d sign results, %d sessions: %v", n, m, err)
	}
	if n, m, err := c.Server.PruneRecords(now.Add(31 * 24 * time.Hour)); err != nil || n != 1 || m != 0 {
		t.Fatalf("31 days on: pruned %d sign results, %d sessions: %v", n, m, err)
	}
	if anew := sign(); anew.GetReplayed() {
		t.Fatal("a request id whose result was pruned was replayed")
	}
	if again := sign(); !again.GetReplayed() {
		t.Fatal("the new result is not kept for replays")
	}
	if sessions, _ := c.Server.RecentSessions(); len(sessions) != 3 {
		t.Fatalf("%d sessions after signing anew, want 3", len(sessions))
	}

	// 91 days on: the sessions go too, and ListSessions shows none.
	if n, m, err := c.Server.PruneRecords(now.Add(91 * 24 * time.Hour)); err != nil || n != 1 || m != 3 {
		t.Fatalf("91 days on: pruned %d sign results, %d sessions: %v", n, m, err)
	}
	resp, err := c.Admin.ListSessions(ctx, &mpcv1.ListSessionsRequest{})
	if err != nil || len(resp.GetSessions()) != 0 {
		t.Fatalf("sessions after the prune: %v %v", resp, err)
	}
}
