package coordinator_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/internal/pairing"
	"github.com/mpcsign/mpcsign/keystore"
	"github.com/mpcsign/mpcsign/party"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

func newKeystore(t *testing.T) *keystore.Store {
	t.Helper()
	ks, err := keystore.Open(t.TempDir(), keystore.NewPassphrase([]byte("pw")), keystore.Options{KDF: testkit.TestKDF})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ks.Close() })
	return ks
}

func deviceByName(t *testing.T, c *testkit.Cluster, name string) *mpcv1.Device {
	t.Helper()
	resp, err := c.Admin.ListDevices(context.Background(), &mpcv1.ListDevicesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range resp.GetDevices() {
		if d.GetName() == name {
			return d
		}
	}
	t.Fatalf("no device %s", name)
	return nil
}

func TestPairingNeedsTheOperatorsApproval(t *testing.T) {
	c := testkit.New(t, testkit.Options{})
	ctx := context.Background()
	pc, err := c.Admin.CreatePairingCode(ctx, &mpcv1.CreatePairingCodeRequest{Name: "tablet"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Admin.CreatePairingCode(ctx, &mpcv1.CreatePairingCodeRequest{Name: "tablet"}); code(err) != codes.AlreadyExists {
		t.Fatalf("a second code for a name with a pending code: %v", err)
	}
	ks := newKeystore(t)
	cfg, err := party.Enroll(ctx, ks, pc.GetCode())
	if err != nil {
		t.Fatal(err)
	}
	d := deviceByName(t, c, "tablet")
	if !cfg.PendingApproval || d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_PENDING || d.GetSas() != cfg.SAS || cfg.SAS == "" {
		t.Fatalf("after enrolment: device shows %q (pending=%v), coordinator lists %v %q", cfg.SAS, cfg.PendingApproval, d.GetStatus(), d.GetSas())
	}

	a, err := party.New(party.Options{Store: ks, PoolTarget: 1})
	if err != nil {
		t.Fatal(err)
	}
	a.Pool().FixturesOnly() // it never generates
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	defer func() { stop(); <-done }()
	time.Sleep(700 * time.Millisecond)
	if deviceByName(t, c, "tablet").GetOnline() {
		t.Fatal("a pending device was let in")
	}
	if _, err := c.Admin.CreateKey(ctx, &mpcv1.CreateKeyRequest{Threshold: 1, Devices: []string{"tablet", "tablet2"}}); err == nil {
		t.Fatal("keygen accepted a pending device")
	}

	wrong := "000-000"
	if cfg.SAS == wrong {
		wrong = "111-111"
	}
	if _, err := c.Admin.ApproveDevice(ctx, &mpcv1.ApproveDeviceRequest{Device: "tablet", Sas: wrong}); code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("approval with the wrong string: %v", err)
	}
	if _, err := c.Admin.ApproveDevice(ctx, &mpcv1.ApproveDeviceRequest{Device: "tablet", Sas: cfg.SAS}); err != nil {
		t.Fatal(err)
	}
	c.WaitOnline(t, "tablet")
	if d := deviceByName(t, c, "tablet"); d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE || d.GetSas() != "" {
		t.Fatalf("approved device: %v sas %q", d.GetStatus(), d.GetSas())
	}
}

func TestPairingCodeBurnsAfterWrongAttempts(t *testing.T) {
	c := testkit.New(t, testkit.Options{})
	ctx := context.Background()
	resp, err := c.Admin.CreatePairingCode(ctx, &mpcv1.CreatePairingCodeRequest{Name: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	genuine, err := pairing.Parse(resp.GetCode())
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		guess := genuine
		rand.Read(guess.Secret[:])
		_, err := party.Enroll(ctx, newKeystore(t), guess.String())
		if err == nil {
			t.Fatal("enrolled with a wrong secret")
		}
		if i == 3 && !strings.Contains(err.Error(), "too many wrong attempts") {
			t.Fatalf("third wrong attempt: %v", err)
		}
	}
	if _, err := party.Enroll(ctx, newKeystore(t), resp.GetCode()); err == nil || !strings.Contains(err.Error(), "too many wrong attempts") {
		t.Fatalf("the genuine code must be burned after three wrong attempts, got %v", err)
	}
}

func TestAutoApprove(t *testing.T) {
	c := testkit.New(t, testkit.Options{AutoApprove: true})
	resp, err := c.Admin.CreatePairingCode(context.Background(), &mpcv1.CreatePairingCodeRequest{Name: "lab1"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := party.Enroll(context.Background(), newKeystore(t), resp.GetCode())
	if err != nil || cfg.PendingApproval {
		t.Fatalf("auto-approved enrolment: pending=%v %v", cfg.PendingApproval, err)
	}
	if d := deviceByName(t, c, "lab1"); d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE {
		t.Fatalf("status %v", d.GetStatus())
	}
}
