package party

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/signreq"
)

// A batch request's items are each approved and counted once.
func TestDecideBatchRequest(t *testing.T) {
	d := newReqDevice(t, 0)
	setPolicy(t, d.a.ks, AllKeys, Policy{Mode: PolicyAuto, MaxPerHour: 3})
	ds := [][]byte{testDigest("0"), testDigest("1"), testDigest("2")}
	sr := signedReq(t, d.wallet, "k1", "batch-1", ds...)
	for i, dg := range ds {
		wantApproved(t, d.a, fmt.Sprintf("item %d", i), itemSession(sr, i, dg))
		if n := countKeys(t, d.a.ks, signedPrefix); n != i+1 {
			t.Fatalf("after item %d, %d signatures counted", i, n)
		}
	}
	for i, dg := range ds {
		wantApproved(t, d.a, fmt.Sprintf("a retry of item %d", i), itemSession(sr, i, dg))
	}
	if n := countKeys(t, d.a.ks, signedPrefix); n != 3 {
		t.Fatalf("after retries, %d signatures counted, want 3", n)
	}
	wantRefused(t, d.a, "item 1's session with item 0's digest", itemSession(sr, 1, ds[0]), "not the one the requester signed")
	wantRefused(t, d.a, "item 3 of 3", itemSession(sr, 3, testDigest("3")), "item 3 of a request of 3")
	wantRefused(t, d.a, "item -1", itemSession(sr, -1, ds[0]), "item -1")
	z := testDigest("z")
	wantRefused(t, d.a, "a 4th item", itemSession(signedReq(t, d.wallet, "k1", "batch-2", z), 0, z), "limit of 3 signatures per hour")
}

// pruneRequests forgets expired request ids and counted items, and counts
// older than two hours.
func TestDecidePruneRequests(t *testing.T) {
	d := newReqDevice(t, 0)
	ks := d.a.ks
	x, y := testDigest("x"), testDigest("y")
	wantApproved(t, d.a, "the request", itemSession(signedReq(t, d.wallet, "k1", "r-1", x), 0, x))
	prefixes := []string{requestPrefix, countedPrefix, signedPrefix, signedByPrefix}
	counts := func() []int {
		var n []int
		for _, p := range prefixes {
			n = append(n, countKeys(t, ks, p))
		}
		return n
	}
	if n := counts(); fmt.Sprint(n) != "[1 1 1 1]" {
		t.Fatalf("records %v under %v, want one each", n, prefixes)
	}

	// Half an hour on, the request has expired but its id is remembered
	// (its expiry plus skew plus an hour), and so is its count.
	now := time.Now()
	d.a.lastPrune = time.Time{}
	d.a.pruneRequests(now.Add(30 * time.Minute))
	if n := counts(); fmt.Sprint(n) != "[1 1 1 1]" {
		t.Fatalf("after 30 minutes: records %v, want one each", n)
	}
	// Three hours on, all is forgotten.
	d.a.pruneRequests(now.Add(3 * time.Hour))
	if n := counts(); fmt.Sprint(n) != "[0 0 0 0]" {
		t.Fatalf("after 3 hours: records %v, want none", n)
	}

	// Counts older than two hours go, younger ones stay.
	old := fmt.Sprintf("%sk9/%020d", signedPrefix, now.Add(-150*time.Minute).UnixNano())
	recent := fmt.Sprintf("%sk9/%020d", signedPrefix, now.Add(-90*time.Minute).UnixNano())
	oldBy := fmt.Sprintf("%s%s/%020d", signedByPrefix, strings.Repeat("ab", 16), now.Add(-150*time.Minute).UnixNano())
	for _, k := range []string{old, recent, oldBy} {
		if err := ks.Put(k, []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	d.a.lastPrune = time.Time{}
	d.a.pruneRequests(now)
	for k, want := range map[string]bool{old: false, recent: true, oldBy: false} {
		if _, err := ks.Get(k); (err == nil) != want {
			t.Errorf("record %s kept = %v, want %v", k, err == nil, want)
		}
	}

	// A counted item forgotten is a new signature again: on a device with a
	// limit of 1, after the prune, digest y takes the hour's signature and
	// digest x (approved before the prune) is over the limit.
	b, bks := newTestAgent(t, t.TempDir())
	setPolicy(t, bks, AllKeys, Policy{Mode: PolicyAuto, MaxPerHour: 1})
	wantApproved(t, b, "digest x", SignRequest{KeyID: "k1", Digest: x})
	wantApproved(t, b, "a retry of digest x", SignRequest{KeyID: "k1", Digest: x})
	b.pruneRequests(time.Now().Add(3 * time.Hour))
	wantApproved(t, b, "digest y after the prune", SignRequest{KeyID: "k1", Digest: y})
	wantRefused(t, b, "digest x once its count was forgotten", SignRequest{KeyID: "k1", Digest: x}, "limit of 1 signatures per hour")
}

// A retry signed afresh with a later expiry keeps the request id
// remembered until that expiry has passed too: else, after a prune, the id
// could come back with other content while the retry is still valid.
func TestDecideRetryExtendsRequestRecord(t *testing.T) {
	d := newReqDevice(t, 0)
	x := testDigest("x")
	now := time.Now()
	wantApproved(t, d.a, "the request", itemSession(signedReqExp(t, d.wallet, "k1", "r-1", now.Add(time.Minute), x), 0, x))
	wantApproved(t, d.a, "its retry, signed afresh", itemSession(signedReqExp(t, d.wallet, "k1", "r-1", now.Add(15*time.Minute), x), 0, x))
	// Past the first body's expiry plus skew and an hour, before the retry's.
	d.a.lastPrune = time.Time{}
	d.a.pruneRequests(now.Add(70 * time.Minute))
	if n := countKeys(t, d.a.ks, requestPrefix); n != 1 {
		t.Fatalf("%d request ids remembered 70 minutes on, want 1 (the retry is valid until +15m, remembered until +76m)", n)
	}
	if n := countKeys(t, d.a.ks, countedPrefix); n != 1 {
		t.Fatalf("%d counted items 70 minutes on, want 1", n)
	}
	d.a.lastPrune = time.Time{}
	d.a.pruneRequests(now.Add(80 * time.Minute))
	if n := countKeys(t, d.a.ks, requestPrefix); n != 0 {
		t.Fatalf("%d request ids remembered 80 minutes on, want none", n)
	}
}

// A refused request does not carry the name the coordinator claimed into
// the device's log: only a verified requester is named.
func TestDecideUnverifiedRequesterNotNamed(t *testing.T) {
	d := newReqDevice(t, 0)
	x := testDigest("x")
	wantRefused(t, d.a, "unsigned", SignRequest{KeyID: "k1", Digest: x, Requester: "wallet"}, "not signed")
	if got := lastDecision(t, d.a.ks).Requester; got != "(not verified)" {
		t.Fatalf("the refusal names requester %q, want (not verified)", got)
	}
}

// countingPrompter approves and counts the questions.
type countingPrompter struct{ asked int }

func (p *countingPrompter) Ask(context.Context, SignRequest) (bool, error) {
	p.asked++
	return true, nil
}

// Under "prompt" the person is asked once per request item: a retried
// session of an item they approved is not asked again (a coordinator
// could otherwise keep the device's decisions busy with prompts).
func TestDecidePromptOncePerItem(t *testing.T) {
	d := newReqDevice(t, 0)
	person := &countingPrompter{}
	d.a.opts.Prompter = person
	setPolicy(t, d.a.ks, "k1", Policy{Mode: PolicyPrompt})
	x, y := testDigest("x"), testDigest("y")
	sr := signedReq(t, d.wallet, "k1", "r-1", x)
	wantApproved(t, d.a, "the request", itemSession(sr, 0, x))
	for range 3 {
		wantApproved(t, d.a, "a retried session", itemSession(sr, 0, x))
	}
	if person.asked != 1 {
		t.Fatalf("the person was asked %d times for one request, want once", person.asked)
	}
	wantApproved(t, d.a, "another request", itemSession(signedReq(t, d.wallet, "k1", "r-2", y), 0, y))
	if person.asked != 2 {
		t.Fatalf("the person was asked %d times for two requests, want twice", person.asked)
	}
}

// An approved session ends when its signed request expires, however long
// the coordinator's deadline; the name a coordinator claims is bounded.
func TestSessionBoundsFromTheRequest(t *testing.T) {
	d := newReqDevice(t, 0)
	x := testDigest("x")
	exp := time.Now().Add(3 * time.Minute).Truncate(time.Second)
	sr := signedReqExp(t, d.wallet, "k1", "r-1", exp, x)
	until, ok := signedUntil(&mpcv1.SessionStart{Request: sr})
	if !ok || !until.Equal(exp.Add(signreq.ClockSkew)) {
		t.Fatalf("signedUntil = %v %v, want %v", until, ok, exp.Add(signreq.ClockSkew))
	}
	if _, ok := signedUntil(&mpcv1.SessionStart{}); ok {
		t.Fatal("signedUntil of an unsigned session")
	}
	long := strings.Repeat("<", 1<<20)
	if got := sessionRequest(&mpcv1.SessionStart{Requester: long}).Requester; len(got) > maxClaimedRequester+3 {
		t.Fatalf("a claimed requester of %d bytes is kept as %d bytes", len(long), len(got))
	}
}
