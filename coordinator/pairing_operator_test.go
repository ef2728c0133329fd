package coordinator_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/coordinator"
	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/pairing"
	"github.com/mpcsign/mpcsign/party"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// An operator-made code: the coordinator gets only the secret's AuthKey,
// the device proves it holds the code with a MAC, and the coordinator
// never sees the secret, so it knows no SAS (only the device and the
// operator can compute it).
func TestOperatorMadePairingCode(t *testing.T) {
	c := testkit.New(t, testkit.Options{})
	ctx := context.Background()
	genesis := c.StartRoster(t, testkit.NewOperator("alice"))
	mk := func(name string) (pairing.Code, string) {
		var code pairing.Code
		rand.Read(code.Secret[:])
		resp, err := c.Admin.CreatePairingCode(ctx, &mpcv1.CreatePairingCodeRequest{Name: name, AuthKey: pairing.AuthKey(code.Secret[:])})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetCode() != "" {
			t.Fatal("the coordinator returned a whole code for an operator-made one")
		}
		copy(code.ID[:], resp.GetPairingId())
		fp, _ := hex.DecodeString(c.Server.Fingerprint())
		copy(code.Fingerprint[:], fp)
		code.Genesis, code.Address, code.OperatorMade = genesis, resp.GetAddress(), true
		return code, code.String()
	}
	made, text := mk("phone")
	ks := newKeystore(t)
	cfg, err := party.Enroll(ctx, ks, text)
	if err != nil {
		t.Fatalf("enrol with an operator-made code: %v", err)
	}
	d := deviceByName(t, c, "phone")
	if d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_PENDING || d.GetSas() != "" {
		t.Fatalf("the coordinator lists %v with SAS %q; want pending and no SAS (it never saw the secret)", d.GetStatus(), d.GetSas())
	}
	if want := pairing.SAS(made.Secret[:], d.GetIdentityPublicKey(), d.GetEncryptionPublicKey()); cfg.SAS != want {
		t.Fatalf("the device shows %s, the operator computes %s", cfg.SAS, want)
	}
	if cfg.RosterGenesis != genesis.String() {
		t.Fatalf("the device pins %q", cfg.RosterGenesis)
	}

	// A device holding another secret (a wrong MAC) is refused, and it
	// counts against the code.
	_, text2 := mk("laptop")
	bad, _ := pairing.Parse(text2)
	bad.Secret[0] ^= 1
	if _, err := party.Enroll(ctx, newKeystore(t), bad.String()); err == nil || !strings.Contains(err.Error(), "PermissionDenied: pairing code is not valid") {
		t.Fatalf("enrol with a wrong secret: %v", err)
	}
	// The secret itself is refused for an operator-made code (the device
	// never sends it; a coordinator-made code is the other kind).
	id, _ := identity.New()
	good, _ := pairing.Parse(text2)
	req := &mpcv1.EnrollRequest{PairingId: good.ID[:], PairingSecret: good.Secret[:], IdentityPublicKey: id.PublicKey(), EncryptionPublicKey: id.EncryptionPublicKey()}
	req.Proof = id.Sign(identity.EnrollTranscript(pairing.SecretHash(good.Secret[:]), id.PublicKey(), id.EncryptionPublicKey()))
	if _, err := c.Server.Enroll(ctx, req); code(err) != codes.PermissionDenied && err != coordinator.ErrPairingInvalid {
		t.Fatal("an operator-made code accepted its secret in clear")
	}
	// The right device still enrols (two failures left the code usable).
	if _, err := party.Enroll(ctx, newKeystore(t), text2); err != nil {
		t.Fatalf("enrol after the refusals: %v", err)
	}
}
