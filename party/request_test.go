package party

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"
)

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
