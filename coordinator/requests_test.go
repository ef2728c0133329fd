package coordinator_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/signclient"
	"github.com/mpcsign/mpcsign/testkit"
)

// Under a roster every Sign call is a requester's signed request: the
// honest coordinator refuses what the devices would refuse (with the
// reason), keeps request ids per requester for idempotency (a retry of the
// same content, even signed afresh, gets the first signature), signs a
// batch under one signature, and takes Ed25519 and P-256 requester keys
// for both curves. (A compromised coordinator that skips these checks is
// refused by the devices: e2e TestCompromisedCoordinatorSignRequests.)
func TestSignedRequests(t *testing.T) {
	relay := &holdRelay{}
	c := testkit.New(t, testkit.Options{SignTimeout: time.Minute, KeygenTimeout: 2 * time.Minute, Relay: relay.relay})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	op := testkit.NewOperator("alice")
	c.StartRoster(t, op)
	names := []string{"phone", "laptop", "server"}
	for i, n := range names {
		c.AddDevice(t, n, testkit.FixtureSets(t, i+1)[:1])
	}
	key := c.CreateKey(t, 1, names...)
	ids := c.DeviceIDs(t, names...)
	edAuth := c.SignCeremony(t, op, roster.CeremonyKeygen, func(cer *roster.Ceremony) {
		cer.Curve, cer.Threshold, cer.Committee = roster.CurveEd25519, 1, ids
	})
	edResp, err := c.Admin.CreateKey(ctx, &mpcv1.CreateKeyRequest{Curve: mpcv1.Curve_CURVE_ED25519, Threshold: 1, Devices: names, Authorization: edAuth})
	if err != nil {
		t.Fatal(err)
	}
	edKey := edResp.GetKey()

	wallet := c.AddRequester(t, op, "wallet", roster.Requester{}) // every key
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kms := c.RegisterRequester(t, op, "kms", p256, roster.Requester{Keys: []string{key.GetId()}, Paths: []string{"m/44/60/0/0"}})
	walletClient, err := signclient.New(c.Dial(t, c.Token(t, "signer")), wallet.Key)
	if err != nil {
		t.Fatal(err)
	}
	// The registrations are on the audit trail, with their grants.
	audit, err := c.Admin.ExportAudit(ctx, &mpcv1.ExportAuditRequest{SinceSeq: 1})
	if err != nil {
		t.Fatal(err)
	}
	var registered []string
	for _, raw := range audit.GetEntries() {
		var e auditlog.Entry
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		if e.Action == "roster.add_requester" {
			registered = append(registered, e.Detail)
		}
	}
	if len(registered) != 2 || !strings.Contains(registered[0], "requester wallet ("+wallet.ID) || !strings.Contains(registered[1], "requester kms ("+kms.ID+", ecdsa-p256), keys "+key.GetId()+", paths m/44/60/0/0") {
		t.Fatalf("audited registrations: %q", registered)
	}

	t.Run("unsigned is refused", func(t *testing.T) {
		_, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("unsigned")})
		if code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "requester key") {
			t.Fatalf("unsigned Sign under a roster: %v", err)
		}
	})

	var first *mpcv1.SignResponse
	firstReq := wallet.Signed(t, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("pay 1"), RequestId: "pay-1"})
	t.Run("signed, then idempotent", func(t *testing.T) {
		first, err = c.Signer.Sign(ctx, firstReq)
		if err != nil {
			t.Fatal(err)
		}
		verify(t, key.GetPublicKey(), digest("pay 1"), first)
		again, err := c.Signer.Sign(ctx, firstReq)
		if err != nil || !again.GetReplayed() || !bytes.Equal(again.GetSignatureRsv(), first.GetSignatureRsv()) {
			t.Fatalf("the same signed request again: replayed %v, %v", again.GetReplayed(), err)
		}
		// Signed afresh (new nonce and expiry), same content: still the first signature.
		resigned := wallet.Signed(t, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("pay 1"), RequestId: "pay-1"})
		if bytes.Equal(resigned.GetSigned().GetBody(), firstReq.GetSigned().GetBody()) {
			t.Fatal("the re-signed request has the same body")
		}
		again, err = c.Signer.Sign(ctx, resigned)
		if err != nil || !again.GetReplayed() || !bytes.Equal(again.GetSignatureRsv(), first.GetSignatureRsv()) {
			t.Fatalf("the re-signed request: replayed %v, %v", again.GetReplayed(), err)
		}
	})
	t.Run("same request id, other content", func(t *testing.T) {
		other := wallet.Signed(t, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("pay 2"), RequestId: "pay-1"})
		if _, err := c.Signer.Sign(ctx, other); code(err) != codes.AlreadyExists {
			t.Fatalf("request id reused for another digest: %v", err)
		}
	})
	t.Run("request ids are per requester", func(t *testing.T) {
		theirs := kms.Signed(t, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("kms pay 1"), Path: "m/44/60/0/0/3", RequestId: "pay-1"})
		r, err := c.Signer.Sign(ctx, theirs)
		if err != nil || r.GetReplayed() {
			t.Fatalf("another requester's pay-1: replayed %v, %v", r.GetReplayed(), err)
		}
		verify(t, r.GetPublicKey(), digest("kms pay 1"), r)
		if bytes.Equal(r.GetPublicKey(), key.GetPublicKey()) {
			t.Fatal("signed with the root key, not the derived one")
		}
	})
	t.Run("the call must match what was signed", func(t *testing.T) {
		req := wallet.Signed(t, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("signed")})
		req.Digest = digest("swapped")
		if _, err := c.Signer.Sign(ctx, req); code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "does not match") {
			t.Fatalf("swapped digest: %v", err)
		}
		req = wallet.Signed(t, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("signed")})
		req.RequestId = "another-id"
		if _, err := c.Signer.Sign(ctx, req); code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "request id") {
			t.Fatalf("other request id: %v", err)
		}
	})
	t.Run("grants and expiry", func(t *testing.T) {
		req := kms.Signed(t, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("kms root")})
		if _, err := c.Signer.Sign(ctx, req); code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "may not sign with the root key") {
			t.Fatalf("root key outside the kms requester's paths: %v", err)
		}
		req = kms.Signed(t, &mpcv1.SignRequest{KeyId: edKey.GetId(), Message: []byte("not my key")})
		if _, err := c.Signer.Sign(ctx, req); code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "may not sign with key") {
			t.Fatalf("a key outside the kms requester's keys: %v", err)
		}
		old, err := wallet.SignedAt(&mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("old")}, time.Now().Add(-2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Signer.Sign(ctx, old); code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("expired: %v", err)
		}
	})
	t.Run("an approved session ends at its request's expiry", func(t *testing.T) {
		// Valid for ten more seconds (expired 50 s ago, within the minute of
		// clock skew a device allows): the devices approve it, then the
		// coordinator holds the protocol's messages past that.
		dg := digest("held past expiry")
		req, err := wallet.SignedAt(&mpcv1.SignRequest{KeyId: key.GetId(), Digest: dg}, time.Now().Add(-50*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		until := time.Now().Add(10 * time.Second)
		relay.hold()
		type outcome struct {
			r   *mpcv1.SignResponse
			err error
		}
		done := make(chan outcome, 1)
		go func() {
			r, err := c.Signer.Sign(ctx, req)
			done <- outcome{r, err}
		}()
		for relay.sessions() == 0 {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Until(until) + 2*time.Second)
		relay.release()
		o := <-done
		if o.err == nil {
			t.Fatalf("signed after the request expired: %x", o.r.GetSignatureRsv())
		}
		t.Logf("held past expiry: %v", o.err)
	})
	t.Run("a batch under one signature", func(t *testing.T) {
		ds := [][]byte{digest("batch 0"), digest("batch 1"), digest("batch 2")}
		r, err := walletClient.Sign(ctx, signclient.Request{KeyID: key.GetId(), Digests: ds, RequestID: "batch-1"})
		if err != nil || len(r.GetResults()) != len(ds) {
			t.Fatalf("batch: %v %v", r, err)
		}
		for i, res := range r.GetResults() {
			if res.GetSignature() == nil {
				t.Fatalf("item %d: %s %s", i, res.GetErrorCode(), res.GetErrorMessage())
			}
			verify(t, key.GetPublicKey(), ds[i], res.GetSignature())
		}
	})
	t.Run("an Ed25519 key signs a signed message", func(t *testing.T) {
		msg := []byte("an Ed25519 message, hashed into the signed request")
		r, err := walletClient.SignMessage(ctx, edKey.GetId(), msg)
		if err != nil {
			t.Fatal(err)
		}
		if !ed25519.Verify(ed25519.PublicKey(edKey.GetPublicKey()), msg, r.GetSignature()) {
			t.Fatal("the Ed25519 signature does not verify")
		}
	})
}
