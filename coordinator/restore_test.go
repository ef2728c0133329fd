package coordinator_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/internal/backup"
	"github.com/mpcsign/mpcsign/party"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// makeBackup exports a device's current share of a key and opens it again
// with the words, as a person would on a new device.
func makeBackup(t *testing.T, d *testkit.Device, keyID string) (backup.Header, []byte, []byte, backup.Mnemonic) {
	t.Helper()
	h, plain, err := party.BackupPayload(d.Store, keyID)
	if err != nil {
		t.Fatal(err)
	}
	file, words, err := backup.Seal(h, plain)
	if err != nil {
		t.Fatal(err)
	}
	oh, opened, err := backup.Open(file, words)
	if err != nil {
		t.Fatal(err)
	}
	return oh, opened, file, words
}

func waitRestore(t *testing.T, c *testkit.Cluster, device string, want int) *mpcv1.Device {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := c.Admin.ListDevices(context.Background(), &mpcv1.ListDevicesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range resp.GetDevices() {
			if d.GetName() == device && len(d.GetPendingRestores()) == want {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %d pending restores", device, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The paper-key path: a lost device's share, restored from its backup on a
// new device, signs once an operator binds it; a drill then refreshes every
// share; a backup of a retired epoch is refused.
func TestRestoreFromBackup(t *testing.T) {
	c := testkit.New(t, testkit.Options{SignTimeout: 30 * time.Second})
	ctx := context.Background()
	devs := map[string]*testkit.Device{}
	for i, name := range []string{"phone", "laptop", "server", "tablet"} {
		devs[name] = c.AddDevice(t, name, testkit.FixtureSets(t, i+1))
	}
	key := c.CreateKey(t, 1, "phone", "laptop", "server")
	phoneH, phonePlain, _, _ := makeBackup(t, devs["phone"], key.GetId()) // epoch 0, for the stale case below
	h, plain, _, _ := makeBackup(t, devs["server"], key.GetId())
	if h.Epoch != 0 || h.KeyID != key.GetId() {
		t.Fatalf("backup header %+v", h)
	}

	// The server is lost; its backup is restored on the tablet.
	c.StopDevice(t, "server")
	c.StopDevice(t, "tablet")
	if _, err := party.RestoreShare(devs["tablet"].Store, h, plain); err != nil {
		t.Fatal(err)
	}
	if _, err := party.RestoreShare(devs["tablet"].Store, h, plain); err == nil {
		t.Fatal("restoring the same share twice worked")
	}
	waitEpochs(t, devs["tablet"], key.GetId(), "0:restored")
	c.RestartDevice(t, "tablet")
	waitRestore(t, c, "tablet", 1)
	// Not bound yet: the restored share cannot sign.
	waitEpochs(t, devs["tablet"], key.GetId(), "0:restored")

	if _, err := c.Admin.ApproveDevice(ctx, &mpcv1.ApproveDeviceRequest{Device: "phone", RestoreKeyId: key.GetId()}); code(err) != codes.FailedPrecondition {
		t.Fatalf("binding a restore the phone never made: %v", err)
	}
	if _, err := c.Admin.ApproveDevice(ctx, &mpcv1.ApproveDeviceRequest{Device: "tablet", RestoreKeyId: key.GetId()}); err != nil {
		t.Fatalf("approve restore: %v", err)
	}
	waitEpochs(t, devs["tablet"], key.GetId(), "0:committed")
	waitRestore(t, c, "tablet", 0)

	// The tablet signs with the server's share (the laptop is off).
	c.StopDevice(t, "laptop")
	r := signAndVerify(t, c, key, "signed by a restored share")
	if len(r.GetSigners()) != 2 || (r.GetSigners()[0] != "tablet" && r.GetSigners()[1] != "tablet") {
		t.Fatalf("signers %v", r.GetSigners())
	}
	c.RestartDevice(t, "laptop")

	// A drill right after: fresh shares everywhere, the backup's epoch retired.
	dr, err := c.Admin.DrillKey(ctx, &mpcv1.DrillKeyRequest{KeyId: key.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, key, dr.GetReport())
	for _, n := range []string{"phone", "laptop", "tablet"} {
		waitEpochs(t, devs[n], key.GetId(), "1:committed")
	}
	signAndVerify(t, c, key, "after the drill")

	// A backup of the retired epoch is refused when its device reports it,
	// and the restored copy is deleted.
	spare := c.AddDevice(t, "spare", nil)
	c.StopDevice(t, "spare")
	if _, err := party.RestoreShare(spare.Store, phoneH, phonePlain); err != nil {
		t.Fatal(err)
	}
	c.RestartDevice(t, "spare")
	waitEpochs(t, spare, key.GetId())
	if d := waitRestore(t, c, "spare", 0); len(d.GetKeyIds()) != 0 {
		t.Fatalf("spare holds %v", d.GetKeyIds())
	}
}
