package e2e

// The compromised coordinator against the devices' own checks of who asked
// for a signature: Sign calls with no requester signature, with a valid one
// over other content, replayed, expired, by a requester not on the roster
// or revoked, outside the requester's grants, and a coordinator that
// withholds the last round's echo to dodge the hourly limit
// (skip-request-checks, withhold-echo). See compromised_test.go for the
// harness.

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/sigfmt"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/signclient"
)

// requesterKey is a wallet backend's key file made by 'mpcctl requesters
// create', and its passphrase.
type requesterKey struct {
	name, file, pass string
}

// signer loads the key, as a wallet backend does.
func (r *requesterKey) signer(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := signclient.LoadKeyFile(r.file, []byte(r.pass))
	if err != nil {
		t.Fatalf("load requester key %s: %v", r.file, err)
	}
	return k
}

// newRequester registers a new requester with 'mpcctl requesters create
// NAME args...' as the operator, and returns its key file. The first one
// becomes the key c.sign signs with.
func (c *cluster) newRequester(t testing.TB, op *operator, name string, args ...string) *requesterKey {
	t.Helper()
	r := &requesterKey{name: name, file: filepath.Join(c.dir, name+".requester.json"), pass: "req-" + randomHex(t, 16)}
	var out struct {
		Appended  bool `json:"appended"`
		Requester struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"requester"`
		KeyFile string `json:"key_file"`
	}
	full := append([]string{bin("mpcctl"), "--coordinator-dir", c.coordDir, "--json", "requesters", "create", name, "--out", r.file}, args...)
	full = append(full, "--operator-dir", op.dir)
	res := c.runOnce(t, "mpcctl-op-requesters-create", c.env("MPC_OPERATOR_PASSPHRASE="+op.pass, "MPC_REQUESTER_PASSPHRASE="+r.pass), ctlTimeout, full...)
	if res.code != 0 {
		t.Fatalf("mpcctl requesters create %s: exit %d\nstdout: %s\nstderr: %s", name, res.code, res.stdout, res.stderr)
	}
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil || !out.Appended || out.Requester.Name != name || len(out.Requester.ID) != 32 || out.KeyFile != r.file {
		t.Fatalf("mpcctl requesters create %s printed %s (%v): want it appended, with its id and key file", name, res.stdout, err)
	}
	if c.requester == nil {
		c.requester = r
	}
	return r
}

func sha(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// TestCompromisedCoordinatorSignRequests: the operator signs phone and
// laptop onto the roster, makes two 2-of-2 keys (a and b), and registers
// requesters: "wallet" for key a only, "limited" for key a under
// m/44/60/0/0 at most one signature per hour, and "old-wallet", then
// revoked. Then the coordinator is taken over (skip-request-checks: it
// passes every Sign call to the devices, and has no request-id store) and
// tries to have the devices sign what no active requester asked for. Every
// attempt is refused by the devices themselves, with the reason in the
// caller's error, on the coordinator's audit trail and in the devices'
// approval logs, and nothing is signed; a request the wallet did sign still
// signs. Last, the coordinator also withholds the signing protocol's echo
// (so that the devices see the session fail while it could assemble the
// signature from the broadcast shares): the hourly limit still holds,
// since a signature counts when the device approves it.
func TestCompromisedCoordinatorSignRequests(t *testing.T) {
	evil := compromisedCoordinator(t)
	c := newCluster(t)
	c.startCoordinator(t)
	op := c.newOperator(t, "alice")
	genesis := c.initRoster(t, op)
	phone := c.enrollSigned(t, op, "phone", genesis)
	laptop := c.enrollSigned(t, op, "laptop", genesis)
	devs := []*device{phone.device, laptop.device}
	c.runParty(t, phone.device)
	c.runParty(t, laptop.device)
	c.waitReady(t, "phone", "laptop")
	var keyA, keyB keyInfo
	c.opJSON(t, op, &keyA, "keys", "create", "--threshold", "1", "--devices", "phone,laptop")
	c.opJSON(t, op, &keyB, "keys", "create", "--threshold", "1", "--devices", "phone,laptop")
	wallet := c.newRequester(t, op, "wallet", "--keys", keyA.ID)
	limited := c.newRequester(t, op, "limited", "--keys", keyA.ID, "--paths", "m/44/60/0/0", "--max-per-hour", "1")
	old := c.newRequester(t, op, "old-wallet", "--keys", "*")
	var revoked map[string]any
	c.opJSON(t, op, &revoked, "requesters", "revoke", "old-wallet", "--reason", "rotated")

	// The honest path: mpcctl sign --requester-key.
	s := signAndVerify(t, c, keyA, "signed requests: before")
	checkSigners(t, s.Signers, "phone", "laptop")
	// The honest coordinator refuses an unsigned call itself.
	signer := mpcv1.NewSignerServiceClient(c.dialGRPC(t, "signer.token"))
	_, err := signer.Sign(context.Background(), &mpcv1.SignRequest{KeyId: keyA.ID, Digest: sha("unsigned")})
	expectRPC(t, grpcErr(t, err), codes.FailedPrecondition, "must be signed by a requester key")

	walletKey, limitedKey, oldKey := wallet.signer(t), limited.signer(t), old.signer(t)
	_, strangerKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	build := func(t *testing.T, key crypto.Signer, r signclient.Request, now time.Time) *mpcv1.SignRequest {
		t.Helper()
		req, err := signclient.NewSignRequest(key, r, now)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}

	// The coordinator's machine is taken over.
	c.restartAs(t, evil, compromisedEnv+"=skip-request-checks")
	c.waitReady(t, "phone", "laptop")
	signer = mpcv1.NewSignerServiceClient(c.dialGRPC(t, "signer.token"))
	sign := func(req *mpcv1.SignRequest) (*mpcv1.SignResponse, error) {
		var resp *mpcv1.SignResponse
		err := attackWith(t, func(ctx context.Context) error {
			var err error
			resp, err = signer.Sign(ctx, req)
			return err
		})
		return resp, err
	}
	// refused requires every device to refuse the call with want, on the
	// caller's error, the audit trail and each device's log, and no
	// signature of data to exist.
	refused := func(t *testing.T, req *mpcv1.SignRequest, data []byte, want string) {
		t.Helper()
		before := make(map[string]int, len(devs))
		for _, d := range devs {
			before[d.name] = logLines(d, `msg="request decided"`, "approved=false", want)
		}
		resp, err := sign(req)
		if err == nil {
			t.Fatalf("signed: %x", resp.GetSignatureRsv())
		}
		e := grpcErr(t, err)
		expectRPC(t, e, codes.PermissionDenied, "not enough devices approved", want)
		// A 2-of-2 key: the first refusal leaves no other subset to ask.
		if !strings.Contains(e.Msg, "phone (") && !strings.Contains(e.Msg, "laptop (") {
			t.Errorf("%q names no refusing device", e.Msg)
		}
		for _, d := range devs {
			c.waitLogLines(t, d, before[d.name]+1, `msg="request decided"`, "approved=false", want)
		}
		entries := c.auditLog(t)
		if got := auditWith(entries, "sign", func(e auditlog.Entry) bool {
			return e.Result == "failed" && strings.Contains(e.Detail, want)
		}); len(got) == 0 {
			t.Errorf("no failed sign on the audit trail mentions %q:\n%s", want, auditDump(entries))
		}
		if got := auditWith(entries, "sign", func(e auditlog.Entry) bool {
			return e.Result == "ok" && strings.Contains(e.Detail, fmt.Sprintf("%x", data))
		}); len(got) != 0 {
			t.Errorf("the audit trail shows a signature of %x:\n%s", data, auditDump(got))
		}
	}

	t.Run("no requester signature", func(t *testing.T) {
		refused(t, &mpcv1.SignRequest{KeyId: keyA.ID, Digest: sha("no signature")}, sha("no signature"), "not signed")
	})
	t.Run("a valid signature over another digest", func(t *testing.T) {
		req := build(t, walletKey, signclient.Request{KeyID: keyA.ID, Digests: [][]byte{sha("what the wallet signed")}}, time.Now())
		req.Digest = sha("what the coordinator wants")
		refused(t, req, req.Digest, "not the one the requester signed")
	})
	t.Run("a valid signature over another path", func(t *testing.T) {
		req := build(t, walletKey, signclient.Request{KeyID: keyA.ID, Digests: [][]byte{sha("path")}, Path: "m/44/60/0/0/1"}, time.Now())
		req.Path = "m/44/60/0/0/2"
		refused(t, req, sha("path"), "the request's path is m/44/60/0/0/1, the session's m/44/60/0/0/2")
	})
	t.Run("a valid signature for another key", func(t *testing.T) {
		req := build(t, walletKey, signclient.Request{KeyID: keyA.ID, Digests: [][]byte{sha("other key")}}, time.Now())
		req.KeyId = keyB.ID
		refused(t, req, sha("other key"), "the request is for key "+keyA.ID)
	})
	t.Run("a key the requester may not use", func(t *testing.T) {
		req := build(t, walletKey, signclient.Request{KeyID: keyB.ID, Digests: [][]byte{sha("key b")}}, time.Now())
		refused(t, req, sha("key b"), "requester wallet may not sign with key "+keyB.ID)
	})
	t.Run("a path the requester may not use", func(t *testing.T) {
		req := build(t, limitedKey, signclient.Request{KeyID: keyA.ID, Digests: [][]byte{sha("other path")}, Path: "m/44/61/0"}, time.Now())
		refused(t, req, sha("other path"), "requester limited may not sign with m/44/61/0")
	})
	t.Run("an expired request", func(t *testing.T) {
		req := build(t, walletKey, signclient.Request{KeyID: keyA.ID, Digests: [][]byte{sha("expired")}, Lifetime: time.Minute}, time.Now().Add(-5*time.Minute))
		refused(t, req, sha("expired"), "expired")
	})
	t.Run("a requester not on the roster", func(t *testing.T) {
		req := build(t, strangerKey, signclient.Request{KeyID: keyA.ID, Digests: [][]byte{sha("stranger")}}, time.Now())
		refused(t, req, sha("stranger"), "requester is not on the roster")
	})
	t.Run("a revoked requester", func(t *testing.T) {
		req := build(t, oldKey, signclient.Request{KeyID: keyA.ID, Digests: [][]byte{sha("revoked")}}, time.Now())
		refused(t, req, sha("revoked"), "requester was revoked")
	})
	t.Run("a request id used again for other content", func(t *testing.T) {
		first := build(t, walletKey, signclient.Request{KeyID: keyA.ID, Digests: [][]byte{sha("pay 7")}, RequestID: "pay-7"}, time.Now())
		resp, err := sign(first)
		if err != nil {
			t.Fatalf("the wallet's own request: %v", err)
		}
		if err := sigfmt.VerifyDER(mustHex(t, "public key", keyA.PublicKey, 33), sha("pay 7"), resp.GetSignatureDer()); err != nil {
			t.Fatalf("the wallet's own request: the signature does not verify: %v", err)
		}
		// The same request again (the coordinator replays it): the same
		// content, so the devices sign it again, counting it once.
		if _, err := sign(first); err != nil {
			t.Fatalf("the same request again: %v", err)
		}
		other := build(t, walletKey, signclient.Request{KeyID: keyA.ID, Digests: [][]byte{sha("pay 8")}, RequestID: "pay-7"}, time.Now())
		refused(t, other, sha("pay 8"), "already used request id pay-7 for another request")
	})

	// Withholding the echo: the devices see the session fail, yet each
	// approved it and counted it at once, so the limit (one an hour) holds.
	c.restartAs(t, evil, compromisedEnv+"=skip-request-checks,withhold-echo")
	c.waitReady(t, "phone", "laptop")
	signer = mpcv1.NewSignerServiceClient(c.dialGRPC(t, "signer.token"))
	t.Run("withholding the echo does not dodge the hourly limit", func(t *testing.T) {
		first := build(t, limitedKey, signclient.Request{KeyID: keyA.ID, Digests: [][]byte{sha("limited 1")}, Path: "m/44/60/0/0/1"}, time.Now())
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := signer.Sign(ctx, first)
		cancel()
		if err == nil {
			t.Fatal("signed with the echo withheld: the attack hook did nothing")
		}
		for _, d := range devs {
			c.waitLogLines(t, d, 1, `msg="request decided"`, "approved=true", "requester=limited")
		}
		second := build(t, limitedKey, signclient.Request{KeyID: keyA.ID, Digests: [][]byte{sha("limited 2")}, Path: "m/44/60/0/0/2"}, time.Now())
		refused(t, second, sha("limited 2"), "requester limited's limit of 1 signatures per hour")
	})

	// Back to the honest coordinator: the wallet's requests sign.
	c.restartAs(t, bin("coordinator"))
	c.waitReady(t, "phone", "laptop")
	s = signAndVerify(t, c, keyA, "signed requests: after")
	checkSigners(t, s.Signers, "phone", "laptop")
}
