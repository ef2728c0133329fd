package party

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
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
