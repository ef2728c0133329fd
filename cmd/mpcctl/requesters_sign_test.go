package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/keystore"
	"github.com/mpcsign/mpcsign/signreq"
	"github.com/mpcsign/mpcsign/testkit"
)

// TestSignRequesterKey: 'mpcctl sign --requester-key' signs the request it
// sends with the key file; without the flag the request is as before.
func TestSignRequesterKey(t *testing.T) {
	t.Setenv(requesterPassphraseEnv, "")
	dir := t.TempDir()
	k, err := keyfile.Generate(keyfile.KindRequester, "wallet")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "wallet.json")
	if err := keyfile.Write(keyFile, k, keystore.NewPassphrase([]byte(testRequesterPassphrase)), testkit.TestKDF); err != nil {
		t.Fatal(err)
	}
	alg, pub, id, err := signreq.KeyOf(k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	r := roster.Requester{ID: id, Name: "wallet", Algorithm: alg, PublicKey: pub, Keys: []string{"k1"}}
	pass := requesterPassFile(t)
	d1, d2 := strings.Repeat("11", 32), strings.Repeat("22", 32)

	now := time.Now()
	f := signFlags{keyID: "k1", digests: []string{d1}, path: "44/60/0/0/7", requestID: "pay-1", requesterKey: keyFile, requesterPass: requesterPassFlag{file: pass}}
	req, err := f.request(now)
	if err != nil {
		t.Fatal(err)
	}
	if req.GetSigned() == nil || req.GetDigest() == nil || req.GetPath() != "m/44/60/0/0/7" || req.GetRequestId() != "pay-1" {
		t.Fatalf("signed request: %v", req)
	}
	b, err := signreq.Decode(req.GetSigned().GetBody())
	if err != nil {
		t.Fatal(err)
	}
	if err := signreq.VerifySignature(r, req.GetSigned().GetBody(), req.GetSigned().GetSignature()); err != nil {
		t.Fatal(err)
	}
	if err := signreq.Check(b, r, signreq.Session{KeyID: "k1", Path: "m/44/60/0/0/7", Data: req.GetDigest()}, now); err != nil {
		t.Fatal(err)
	}
	if b.Requester != id || b.RequestID != "pay-1" || b.Expires != now.Add(signreq.DefaultLifetime).Unix() {
		t.Fatalf("body: %+v", b)
	}

	// A batch, with a random request id; the passphrase from the environment.
	t.Setenv(requesterPassphraseEnv, testRequesterPassphrase)
	f = signFlags{keyID: "k1", digests: []string{d1, d2}, requesterKey: keyFile}
	if req, err = f.request(now); err != nil {
		t.Fatal(err)
	}
	if len(req.GetDigests()) != 2 || len(req.GetRequestId()) != 32 || req.GetSigned() == nil {
		t.Fatalf("signed batch: %v", req)
	}
	if b, err = signreq.Decode(req.GetSigned().GetBody()); err != nil || len(b.Items) != 2 || b.RequestID != req.GetRequestId() {
		t.Fatalf("batch body: %+v, %v", b, err)
	}

	// Errors: no passphrase, a wrong one, an operator's key file.
	t.Setenv(requesterPassphraseEnv, "")
	if _, err := f.request(now); err == nil || !strings.Contains(err.Error(), "no passphrase for the requester key") {
		t.Fatalf("no passphrase: %v", err)
	}
	t.Setenv(requesterPassphraseEnv, "wrong passphrase")
	if _, err := f.request(now); !errors.Is(err, keystore.ErrWrongPassphrase) || !strings.Contains(err.Error(), requesterPassphraseEnv) {
		t.Fatalf("a wrong passphrase: %v", err)
	}
	op, _ := keyfile.Generate(keyfile.KindOperator, "alice")
	opFile := filepath.Join(dir, "operator.key")
	if err := keyfile.Write(opFile, op, keystore.NewPassphrase([]byte("wrong passphrase")), testkit.TestKDF); err != nil {
		t.Fatal(err)
	}
	f.requesterKey = opFile
	if _, err := f.request(now); err == nil || !strings.Contains(err.Error(), "not a requester key") {
		t.Fatalf("an operator key: %v", err)
	}

	// Without --requester-key: unsigned, as before.
	f = signFlags{keyID: "k1", digests: []string{d1}, path: "m/44/60/0/0/7"}
	if req, err = f.request(now); err != nil {
		t.Fatal(err)
	}
	if req.GetSigned() != nil || req.GetDigest() == nil || req.GetDigests() != nil || req.GetRequestId() != "" || req.GetPath() != "m/44/60/0/0/7" {
		t.Fatalf("unsigned request: %v", req)
	}
	f = signFlags{keyID: "e1", messages: []string{"00ff", "01"}}
	if req, err = f.request(now); err != nil || len(req.GetMessages()) != 2 || req.GetSigned() != nil {
		t.Fatalf("unsigned batch of messages: %v, %v", req, err)
	}

	// The help says how.
	cmd, _, err := newRootCmd().Find([]string{"sign"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cmd.Long, "--requester-key FILE") || !strings.Contains(cmd.Long, requesterPassphraseEnv) {
		t.Errorf("sign --help does not explain --requester-key:\n%s", cmd.Long)
	}
}

// TestSignWithRequesterKeyEndToEnd: under a roster, 'mpcctl sign' without
// a requester key is refused; with the key file 'requesters create' wrote,
// the request is signed, and a retry with the same request id (signed
// afresh) returns the first signature.
func TestSignWithRequesterKeyEndToEnd(t *testing.T) {
	e := newRequesterEnv(t)
	alice := e.operator("alice")
	e.ceremonyCluster(1, []string{"phone", "laptop", "server"}, alice)
	out, errOut, err := e.run(alice.with("--json", "keys", "create", "--curve", "ed25519", "--threshold", "1", "--devices", "phone,laptop,server")...)
	if err != nil {
		t.Fatalf("keys create: %v\n%s%s", err, out, errOut)
	}
	keyID := createdKeyID(t, out)
	keyFile := filepath.Join(t.TempDir(), "wallet.json")
	pass := requesterPassFile(t)
	e.mustRun(alice.with("requesters", "create", "wallet", "--keys", keyID, "--out", keyFile, "--requester-passphrase-file", pass)...)

	if _, _, err := e.run("sign", "--key", keyID, "--message", "00ff"); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("an unsigned request under a roster: %v", err)
	}
	type signed struct {
		Signature string
		PublicKey string `json:"public_key"`
		Replayed  bool
	}
	sign := func() signed {
		t.Helper()
		out, errOut, err := e.run("--json", "sign", "--key", keyID, "--message", "00ff", "--requester-key", keyFile, "--requester-passphrase-file", pass, "--request-id", "pay-1")
		if err != nil {
			t.Fatalf("sign --requester-key: %v\n%s%s", err, out, errOut)
		}
		var s signed
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("sign --json: %v\n%s", err, out)
		}
		return s
	}
	first := sign()
	pub, _ := hex.DecodeString(first.PublicKey)
	sig, _ := hex.DecodeString(first.Signature)
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, []byte{0x00, 0xff}, sig) || first.Replayed {
		t.Fatalf("signature %+v does not verify", first)
	}
	if again := sign(); !again.Replayed || again.Signature != first.Signature {
		t.Fatalf("a retry with the same request id: %+v, want the first signature, replayed", again)
	}
}
