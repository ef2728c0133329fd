package coordinator_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/coordinator"
	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/pairing"
	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/internal/testcluster"
	"github.com/mpcsign/mpcsign/party"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// With a roster, devices are admitted by the operators' signatures only:
// pairing codes carry the genesis, the coordinator's own approval is
// refused, devices verify the roster, and a keygen with a device that is not
// on it (here one approved before the roster existed) is refused by the
// devices that pin it, while a keygen of roster members signs.
func TestRosterAdmitsAndRefuses(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{AutoApprove: true, SignTimeout: 20 * time.Second, KeygenTimeout: 40 * time.Second})
	ctx := context.Background()
	// Approved by the coordinator alone, before the roster: on no roster.
	c.AddDevice(t, "legacy", testcluster.FixtureSets(t, 3)[:1])

	op := testcluster.NewOperator("alice")
	genesis := c.StartRoster(t, op)
	pc, err := c.Admin.CreatePairingCode(ctx, &mpcv1.CreatePairingCodeRequest{Name: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := pairing.Parse(pc.GetCode()); err != nil || roster.Hash(code.Genesis) != genesis {
		t.Fatalf("the pairing code does not carry the genesis: %v", err)
	}
	// A second genesis is refused.
	g2, _ := roster.NewGenesis([]roster.Operator{op.Info()}, 1, false, time.Now())
	g2.Sign(op)
	if _, err := c.Admin.SubmitRosterEntry(ctx, &mpcv1.SubmitRosterEntryRequest{Entry: coordinator.EntryProto(g2)}); code(err) != codes.FailedPrecondition {
		t.Fatalf("second genesis: %v", err)
	}

	phone := c.AddDevice(t, "phone", testcluster.FixtureSets(t, 1)[:2])
	c.AddDevice(t, "laptop", testcluster.FixtureSets(t, 2)[:2])
	waitRosterHeight(t, phone.Agent, 2)

	// The coordinator's own approval path is closed: a device enrolled now
	// stays pending until an operator signs it onto the roster.
	intruder, err := party.Enroll(ctx, newKeystore(t), pc.GetCode())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Admin.ApproveDevice(ctx, &mpcv1.ApproveDeviceRequest{Device: "probe", Sas: intruder.SAS}); code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "mpcctl devices approve") {
		t.Fatalf("ApproveDevice with a roster: %v", err)
	}
	if d := deviceByName(t, c, "probe"); d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_PENDING || d.GetOnRoster() {
		t.Fatalf("probe is %v (on roster %v)", d.GetStatus(), d.GetOnRoster())
	}
	// An entry signed by a key that is not an operator's is refused.
	mallory := testcluster.NewOperator("mallory")
	if _, err := c.Admin.SubmitRosterEntry(ctx, &mpcv1.SubmitRosterEntryRequest{Entry: coordinator.EntryProto(c.SignAddDevice(t, mallory, "probe"))}); code(err) != codes.PermissionDenied {
		t.Fatalf("entry signed by a non-operator: %v", err)
	}

	// "legacy" is active at the coordinator but not on the roster: the
	// devices that pin the roster refuse a keygen with it.
	kctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err = c.Admin.CreateKey(kctx, &mpcv1.CreateKeyRequest{Curve: mpcv1.Curve_CURVE_SECP256K1, Threshold: 1, Devices: []string{"phone", "laptop", "legacy"}})
	if err == nil || !strings.Contains(err.Error(), "roster") {
		t.Fatalf("keygen with a device not on the roster: %v", err)
	}
	key := c.CreateKey(t, 1, "phone", "laptop")
	signAndVerify(t, c, key, "signed by roster members")

	// Revocation is a signed entry; the coordinator carries it out.
	laptop := deviceByName(t, c, "laptop")
	if _, err := c.Admin.RevokeDevice(ctx, &mpcv1.RevokeDeviceRequest{Device: "laptop"}); code(err) != codes.FailedPrecondition {
		t.Fatalf("unsigned revocation with a roster: %v", err)
	}
	resp, err := c.Admin.RevokeDevice(ctx, &mpcv1.RevokeDeviceRequest{Device: "laptop", RosterEntry: coordinator.EntryProto(c.SignRevoke(t, op, laptop.GetId(), "lost"))})
	if err != nil || !resp.GetRoster().GetAppended() || resp.GetDevice().GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_REVOKED {
		t.Fatalf("signed revocation: %v %v", resp, err)
	}
	waitRosterHeight(t, phone.Agent, 3)
	if st := c.Roster(t); st.Active(laptop.GetId()) {
		t.Fatal("laptop still active on the roster")
	}
	// Every roster change is on the audit trail.
	audit, err := c.Admin.ExportAudit(ctx, &mpcv1.ExportAuditRequest{SinceSeq: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"roster.genesis": false, "roster.add_device": false, "roster.revoke_device": false}
	for _, raw := range audit.GetEntries() {
		var e auditlog.Entry
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		if _, ok := want[e.Action]; ok {
			want[e.Action] = true
		}
	}
	for a, seen := range want {
		if !seen {
			t.Errorf("no %s entry on the audit trail", a)
		}
	}
}

func waitRosterHeight(t *testing.T, a *party.Agent, h uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r, ok := a.Roster(); ok && r.Verified && r.Height >= h {
			return
		}
		if time.Now().After(deadline) {
			r, _ := a.Roster()
			t.Fatalf("the device's verified roster is %+v, want height %d", r, h)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
