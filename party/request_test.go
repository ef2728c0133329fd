package party

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/keystore"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/signreq"
)

// reqDevice is a device that pins a roster (operator chain c) on which it
// is active, with an active requester "wallet" whose Ed25519 key the test
// holds.
type reqDevice struct {
	a      *Agent
	c      *testChain
	wallet ed25519.PrivateKey
}

func newReqDevice(t *testing.T, walletMaxPerHour int) *reqDevice {
	t.Helper()
	c := newTestChain(t)
	d := &reqDevice{a: rosterAgent(t, t.TempDir(), c), c: c}
	d.push(t, c.next(t, addDevice("dev", d.a.id.PublicKey(), d.a.id.EncryptionPublicKey())))
	d.wallet = d.addRequester(t, "wallet", walletMaxPerHour)
	return d
}

// push adds an entry to the operators' chain and sends the device what it
// has not verified yet.
func (d *reqDevice) push(t *testing.T, e roster.Entry) {
	t.Helper()
	d.c.add(t, e)
	first := d.a.rosterEntries()
	if err := d.a.applyRoster(update(first, d.c.st.Height(), d.c.entries[first:]...)); err != nil {
		t.Fatalf("the device refused the roster: %v", err)
	}
}

// addRequester registers a new Ed25519 requester, allowed every key and
// path, and returns its key.
func (d *reqDevice) addRequester(t *testing.T, name string, maxPerHour int) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	alg, key, id, err := signreq.KeyOf(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	d.push(t, d.c.next(t, func(b *roster.Body) {
		b.Kind = roster.KindAddRequester
		b.Requester = &roster.Requester{ID: id, Name: name, Algorithm: alg, PublicKey: key,
			Keys: []string{roster.AllKeysGrant}, MaxPerHour: maxPerHour}
	}))
	return priv
}

func (d *reqDevice) revokeRequester(t *testing.T, priv ed25519.PrivateKey) {
	t.Helper()
	_, _, id, err := signreq.KeyOf(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	d.push(t, d.c.next(t, func(b *roster.Body) {
		b.Kind, b.RequesterID = roster.KindRevokeRequester, id
	}))
}

// testDigest is a 32-byte digest named by s.
func testDigest(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// signedReq is a digest request by signer for keyID, of the digests, with a
// fresh nonce, expiring in signreq.DefaultLifetime.
func signedReq(t *testing.T, signer ed25519.PrivateKey, keyID, requestID string, digests ...[]byte) *mpcv1.SignedRequest {
	t.Helper()
	return signedReqExp(t, signer, keyID, requestID, time.Now().Add(signreq.DefaultLifetime), digests...)
}

func signedReqExp(t *testing.T, signer ed25519.PrivateKey, keyID, requestID string, expires time.Time, digests ...[]byte) *mpcv1.SignedRequest {
	t.Helper()
	items := make([]string, len(digests))
	for i, dg := range digests {
		items[i] = signreq.ItemOf(signreq.KindDigest, dg)
	}
	sr, err := signreq.Sign(signer, signreq.Body{Version: signreq.Version, KeyID: keyID, Kind: signreq.KindDigest,
		Items: items, RequestID: requestID, Expires: expires.Unix(), Nonce: signreq.NewNonce()})
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

// itemSession is the SignRequest of a session signing item i of sr, whose
// coordinator reports the API token "token".
func itemSession(sr *mpcv1.SignedRequest, i int, digest []byte) SignRequest {
	return SignRequest{KeyID: "k1", Digest: digest, Requester: "token", Signed: sr, Item: i}
}

// mustDecide runs the device's decision, failing the test on an error.
func mustDecide(t *testing.T, a *Agent, req SignRequest) (bool, string) {
	t.Helper()
	ok, reason, err := a.decide(context.Background(), quiet, req)
	if err != nil {
		t.Fatalf("decide: %v", err)
	}
	return ok, reason
}

func wantApproved(t *testing.T, a *Agent, what string, req SignRequest) {
	t.Helper()
	if ok, reason := mustDecide(t, a, req); !ok {
		t.Fatalf("%s: refused (%s), want approved", what, reason)
	}
}

// wantRefused checks that req is refused with a reason containing each of
// want.
func wantRefused(t *testing.T, a *Agent, what string, req SignRequest, want ...string) string {
	t.Helper()
	ok, reason := mustDecide(t, a, req)
	if ok {
		t.Fatalf("%s: approved, want refused", what)
	}
	for _, w := range want {
		if !strings.Contains(reason, w) {
			t.Fatalf("%s: refused with %q, want a reason mentioning %q", what, reason, w)
		}
	}
	return reason
}

func lastDecision(t *testing.T, ks *keystore.Store) Decision {
	t.Helper()
	ds, err := Decisions(ks)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) == 0 {
		t.Fatal("the decision log is empty")
	}
	return ds[len(ds)-1]
}

func countKeys(t *testing.T, ks *keystore.Store, prefix string) int {
	t.Helper()
	keys, err := ks.List(prefix)
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

func setPolicy(t *testing.T, ks *keystore.Store, keyID string, p Policy) {
	t.Helper()
	if err := SetPolicy(ks, keyID, p); err != nil {
		t.Fatal(err)
	}
}

// A device that pins a roster refuses a request that is not signed by a
// requester on it, and logs the refusal.
func TestDecideRefusesUnsignedRequest(t *testing.T) {
	d := newReqDevice(t, 0)
	req := SignRequest{KeyID: "k1", Digest: testDigest("tx"), Requester: "token"}
	reason := wantRefused(t, d.a, "an unsigned request", req, "not signed")
	dec := lastDecision(t, d.a.ks)
	if dec.Approved || dec.Reason != reason || dec.KeyID != "k1" || dec.RequestID != "" {
		t.Fatalf("the log records %+v for the refusal %q", dec, reason)
	}
	if n := countKeys(t, d.a.ks, signedPrefix); n != 0 {
		t.Fatalf("a refusal counted %d signatures", n)
	}

	// Signed by a key that is not on the roster, or with a broken signature.
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	wantRefused(t, d.a, "a stranger's request", itemSession(signedReq(t, stranger, "k1", "s-1", req.Digest), 0, req.Digest), "not on the roster")
	forged := signedReq(t, d.wallet, "k1", "f-1", req.Digest)
	forged.Signature[0] ^= 1
	wantRefused(t, d.a, "a forged signature", itemSession(forged, 0, req.Digest), "does not verify")
	if ds, _ := Decisions(d.a.ks); len(ds) != 3 {
		t.Fatalf("the log has %d decisions, want 3", len(ds))
	}
}

// A valid signed request is approved, and the log names its request id and
// the requester on the roster (not the coordinator's token name).
func TestDecideApprovesSignedRequest(t *testing.T) {
	d := newReqDevice(t, 0)
	dg := testDigest("tx")
	wantApproved(t, d.a, "a signed request", itemSession(signedReq(t, d.wallet, "k1", "pay-1", dg), 0, dg))
	dec := lastDecision(t, d.a.ks)
	if !dec.Approved || dec.RequestID != "pay-1" || dec.Requester != "wallet" || dec.KeyID != "k1" {
		t.Fatalf("the log records %+v", dec)
	}
	// The session must be the one the requester signed.
	other := testDigest("other tx")
	wantRefused(t, d.a, "another digest than the signed one", itemSession(signedReq(t, d.wallet, "k1", "pay-2", dg), 0, other), "not the one the requester signed")
	s := itemSession(signedReq(t, d.wallet, "k1", "pay-3", dg), 0, dg)
	s.KeyID = "k2"
	wantRefused(t, d.a, "another key than the signed one", s, "for key k1")
}

// A request id used again for other content is a replay; the same content
// signed afresh is a retry, approved and not counted again.
func TestDecideRequestReplayAndRetry(t *testing.T) {
	d := newReqDevice(t, 0)
	a, b := testDigest("tx a"), testDigest("tx b")
	wantApproved(t, d.a, "the request", itemSession(signedReq(t, d.wallet, "k1", "pay-1", a), 0, a))
	wantRefused(t, d.a, "the same request id for another digest", itemSession(signedReq(t, d.wallet, "k1", "pay-1", b), 0, b), "replay", "pay-1")

	setPolicy(t, d.a.ks, AllKeys, Policy{Mode: PolicyAuto, MaxPerHour: 1})
	retry := signedReqExp(t, d.wallet, "k1", "pay-1", time.Now().Add(10*time.Minute), a)
	wantApproved(t, d.a, "the same request signed again (new nonce and expiry)", itemSession(retry, 0, a))
	if dec := lastDecision(t, d.a.ks); dec.RequestID != "pay-1" || dec.Requester != "wallet" {
		t.Fatalf("the retry is logged as %+v", dec)
	}
	for _, p := range []string{signedPrefix, signedByPrefix, countedPrefix, requestPrefix} {
		if n := countKeys(t, d.a.ks, p); n != 1 {
			t.Fatalf("%d records under %s after a request and its retry, want 1", n, p)
		}
	}
	wantRefused(t, d.a, "a new request over the device's limit", itemSession(signedReq(t, d.wallet, "k1", "pay-2", b), 0, b), "limit of 1 signatures per hour")
}

// The requester's max_per_hour, set on the roster, caps what the device
// approves for it; retries of approved items are not new signatures.
func TestDecideRequesterMaxPerHour(t *testing.T) {
	d := newReqDevice(t, 2)
	x, y, z := testDigest("x"), testDigest("y"), testDigest("z")
	first := signedReq(t, d.wallet, "k1", "r-1", x)
	wantApproved(t, d.a, "request 1", itemSession(first, 0, x))
	s := itemSession(signedReq(t, d.wallet, "k2", "r-2", y), 0, y)
	s.KeyID = "k2" // the cap is over all keys
	wantApproved(t, d.a, "request 2", s)
	s = itemSession(signedReq(t, d.wallet, "k2", "r-3", z), 0, z)
	s.KeyID = "k2"
	wantRefused(t, d.a, "request 3", s, "requester wallet's limit of 2 signatures per hour")
	wantApproved(t, d.a, "a retry of request 1", itemSession(first, 0, x))
	wantApproved(t, d.a, "a retry of request 1 signed afresh", itemSession(signedReq(t, d.wallet, "k1", "r-1", x), 0, x))

	// Another requester has its own count.
	other := d.addRequester(t, "other", 2)
	wantApproved(t, d.a, "another requester's request", itemSession(signedReq(t, other, "k1", "o-1", z), 0, z))
}

// An approval counts against the device's limit when it is decided, before
// any session runs.
func TestDecidePolicyCountsAtApproval(t *testing.T) {
	d := newReqDevice(t, 0)
	setPolicy(t, d.a.ks, "k1", Policy{Mode: PolicyAuto, MaxPerHour: 1})
	x, y := testDigest("x"), testDigest("y")
	wantApproved(t, d.a, "request 1", itemSession(signedReq(t, d.wallet, "k1", "r-1", x), 0, x))
	if n, err := d.a.countSince(signedPrefix, "k1", time.Now().Add(-time.Hour)); err != nil || n != 1 {
		t.Fatalf("after the approval, %d signatures counted (%v), want 1", n, err)
	}
	wantRefused(t, d.a, "request 2", itemSession(signedReq(t, d.wallet, "k1", "r-2", y), 0, y), "limit of 1 signatures per hour for this key")
	// The limit is the key's: another key (default policy: auto) is not capped.
	s := itemSession(signedReq(t, d.wallet, "k2", "r-3", y), 0, y)
	s.KeyID = "k2"
	wantApproved(t, d.a, "a request for another key", s)
}

// Policy.Requesters names requesters on the roster: the device matches the
// name of the requester whose signature it verified, never the name the
// coordinator reports.
func TestDecidePolicyRequesters(t *testing.T) {
	d := newReqDevice(t, 0)
	other := d.addRequester(t, "other", 0)
	setPolicy(t, d.a.ks, AllKeys, Policy{Mode: PolicyAuto, Requesters: []string{"wallet"}})
	x := testDigest("x")

	s := itemSession(signedReq(t, d.wallet, "k1", "w-1", x), 0, x)
	s.Requester = "other"
	wantApproved(t, d.a, "an allowed requester (the coordinator names another)", s)
	if dec := lastDecision(t, d.a.ks); dec.Requester != "wallet" {
		t.Fatalf("logged requester %q, want wallet", dec.Requester)
	}
	s = itemSession(signedReq(t, other, "k1", "o-1", x), 0, x)
	s.Requester = "wallet" // the coordinator's claim does not help
	wantRefused(t, d.a, "a requester the policy does not list", s, `requester "other" is not allowed`)
	if dec := lastDecision(t, d.a.ks); dec.Requester != "other" || dec.RequestID != "o-1" {
		t.Fatalf("the refusal is logged as %+v", dec)
	}

	// A token name in the policy does not match a roster requester, even
	// when the coordinator reports it.
	setPolicy(t, d.a.ks, AllKeys, Policy{Mode: PolicyAuto, Requesters: []string{"token"}})
	wantRefused(t, d.a, "the coordinator's token name", itemSession(signedReq(t, d.wallet, "k1", "w-2", x), 0, x), `requester "wallet" is not allowed`)

	// Without a roster the policy names API tokens, as the coordinator
	// reports them.
	legacy, ks := newTestAgent(t, t.TempDir())
	setPolicy(t, ks, AllKeys, Policy{Mode: PolicyAuto, Requesters: []string{"token"}})
	wantApproved(t, legacy, "an allowed token", SignRequest{KeyID: "k1", Digest: x, Requester: "token"})
	wantRefused(t, legacy, "another token", SignRequest{KeyID: "k1", Digest: x, Requester: "other-token"}, `requester "other-token" is not allowed`)
}

// A requester revoked on the roster is refused, retries included.
func TestDecideRevokedRequester(t *testing.T) {
	d := newReqDevice(t, 0)
	x, y := testDigest("x"), testDigest("y")
	sr := signedReq(t, d.wallet, "k1", "r-1", x)
	wantApproved(t, d.a, "before the revocation", itemSession(sr, 0, x))
	d.revokeRequester(t, d.wallet)
	wantRefused(t, d.a, "a retry after the revocation", itemSession(sr, 0, x), "revoked")
	wantRefused(t, d.a, "a new request after the revocation", itemSession(signedReq(t, d.wallet, "k1", "r-2", y), 0, y), "revoked")
}

// A device without a roster signs unsigned requests under its policy; its
// limit counts each key, path and digest once.
func TestDecideLegacyDevice(t *testing.T) {
	a, ks := newTestAgent(t, t.TempDir())
	x, y := testDigest("x"), testDigest("y")
	wantApproved(t, a, "an unsigned request under auto", SignRequest{KeyID: "k1", Digest: x, Requester: "token"})
	if dec := lastDecision(t, ks); !dec.Approved || dec.Requester != "token" || dec.RequestID != "" {
		t.Fatalf("logged %+v", dec)
	}

	b, ks := newTestAgent(t, t.TempDir())
	setPolicy(t, ks, AllKeys, Policy{Mode: PolicyAuto, MaxPerHour: 1})
	wantApproved(t, b, "digest 1", SignRequest{KeyID: "k1", Digest: x, Requester: "token"})
	wantRefused(t, b, "digest 2", SignRequest{KeyID: "k1", Digest: y, Requester: "token"}, "limit of 1 signatures per hour")
	wantApproved(t, b, "a retry of digest 1", SignRequest{KeyID: "k1", Digest: x, Requester: "token"})
	wantRefused(t, b, "digest 1 with a derived key", SignRequest{KeyID: "k1", Digest: x, Path: "m/0/1", Requester: "token"}, "limit of 1 signatures per hour")
	if n := countKeys(t, ks, signedPrefix); n != 1 {
		t.Fatalf("%d signatures counted, want 1", n)
	}
}

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
