package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// TestRosterQuorumRevoke: with a quorum of two, an approval and a
// revocation each wait until the second operator signs them.
func TestRosterQuorumRevoke(t *testing.T) {
	e := newRosterEnv(t)
	alice, bob, carol := e.operator("alice"), e.operator("bob"), e.operator("carol")
	genesis := e.startRoster(2, alice, bob)

	// Approving a device waits for bob.
	cfg := e.enroll(alice, "phone")
	out := e.mustRun(alice.with("devices", "approve", "phone", "--sas", cfg.SAS)...)
	if !strings.Contains(out, "waits for more operator signatures") {
		t.Fatalf("approve with quorum 2:\n%s", out)
	}
	if d := e.device("phone"); d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_PENDING {
		t.Fatalf("approved with one of two signatures: %v", d.GetStatus())
	}
	id := e.pendingID()
	out = e.mustRun(bob.dirOnly("roster", "pending")...)
	if !strings.Contains(out, id) || !strings.Contains(out, "add_device") || !strings.Contains(out, "1 of 2") {
		t.Fatalf("roster pending:\n%s", out)
	}
	out = e.mustRun(bob.with("roster", "sign", id)...)
	if !strings.Contains(out, cfg.DeviceID) || !strings.Contains(out, "appended to the roster (height 1)") {
		t.Fatalf("bob signs the approval:\n%s", out)
	}
	if d := e.device("phone"); d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE {
		t.Fatalf("approved by both: %v", d.GetStatus())
	}

	// The revocation waits for bob too.
	out = e.mustRun(alice.with("devices", "revoke", "phone", "--reason", "lost on a train", "--wait", "0")...)
	if !strings.Contains(out, "waits for more operator signatures") || !strings.Contains(out, "mpcctl roster sign") {
		t.Fatalf("revoke with quorum 2:\n%s", out)
	}
	if d := e.device("phone"); d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE {
		t.Fatalf("revoked with one of two signatures: %v", d.GetStatus())
	}
	id = e.pendingID()

	// An entry no operator signed (the coordinator, or anyone with an admin
	// token, can submit one) is not co-signed: it came from none of them.
	st, _, err := verifiedRoster(e.ctx, e.c.Admin, alice.dir)
	if err != nil {
		t.Fatal(err)
	}
	forged := st.Next(roster.KindRevokeDevice, time.Now())
	forged.DeviceID, forged.Reason = cfg.DeviceID, "forged"
	raw, err := roster.EncodeBody(forged)
	if err != nil {
		t.Fatal(err)
	}
	unsigned := roster.Entry{Body: raw}
	if _, err := e.c.Admin.SubmitRosterEntry(e.ctx, &mpcv1.SubmitRosterEntryRequest{Entry: roster.EntryProto(unsigned)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.run(bob.with("roster", "sign", entryID(unsigned.Hash()))...); err == nil || !strings.Contains(err.Error(), "no operator has signed") {
		t.Fatalf("bob co-signs an entry no operator signed: %v", err)
	}

	// An operator who is not on the roster cannot sign it.
	e.mustRun(carol.dirOnly("roster", "pin", "--genesis", genesis)...)
	if _, _, err := e.run(carol.with("roster", "sign", id)...); err == nil || !strings.Contains(err.Error(), "not one of the roster's operators") {
		t.Fatalf("carol signs: %v", err)
	}

	out = e.mustRun(bob.with("roster", "sign", id)...)
	if !strings.Contains(out, "revoke_device") || !strings.Contains(out, "appended to the roster (height 2)") {
		t.Fatalf("bob signs the revocation:\n%s", out)
	}
	if d := e.device("phone"); d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_REVOKED {
		t.Fatalf("revoked by both: %v", d.GetStatus())
	}
	out = e.mustRun(alice.dirOnly("roster", "show")...)
	for _, want := range []string{"revoke_device", `reason: "lost on a train"`, "alice, bob"} {
		if !strings.Contains(out, want) {
			t.Fatalf("roster show does not say %q:\n%s", want, out)
		}
	}
	// Alice had not seen the last entry; her pin follows it now.
	if p := readPin(t, alice.dir); p.Height != 2 {
		t.Fatalf("alice's pin: %+v", p)
	}

	// Operators change by a quorum of those in office: carol replaces bob
	// and the quorum drops to one; from then on bob's key signs nothing.
	out = e.mustRun(alice.with("roster", "operators", "--operator", "alice="+alice.pub, "--operator", "carol="+carol.pub, "--quorum", "1")...)
	if !strings.Contains(out, "waits for more operator signatures") {
		t.Fatalf("roster operators with one of two signatures:\n%s", out)
	}
	out = e.mustRun(bob.with("roster", "sign", e.pendingID())...)
	if !strings.Contains(out, "set_operators") || !strings.Contains(out, "appended to the roster (height 3)") {
		t.Fatalf("bob signs the change of operators:\n%s", out)
	}
	e.mustRun(alice.dirOnly("roster", "verify")...)
	e.mustRun(bob.dirOnly("roster", "verify")...)
	tablet := e.enroll(bob, "tablet")
	if _, _, err := e.run(bob.with("devices", "approve", "tablet", "--sas", tablet.SAS)...); err == nil || !strings.Contains(err.Error(), "not one of the roster's operators") {
		t.Fatalf("bob signs after he was retired: %v", err)
	}
	watch := e.enroll(carol, "watch")
	out = e.mustRun(carol.with("devices", "approve", "watch", "--sas", watch.SAS)...)
	if !strings.Contains(out, "appended to the roster (height 4)") {
		t.Fatalf("carol approves alone (quorum 1):\n%s", out)
	}
}

// TestRosterAddDevice: a device approved before the roster existed is put
// on it only with the id read on the device.
func TestRosterAddDevice(t *testing.T) {
	e := newRosterEnv(t)
	alice := e.operator("alice")

	// Before the roster: the old approval, unchanged.
	cfg := e.enroll(alice, "phone")
	if _, _, err := e.run(alice.with("devices", "approve", "phone", "--sas", otherSAS(cfg.SAS))...); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("approve with a wrong SAS, no roster: %v", err)
	}
	out := e.mustRun(alice.with("devices", "approve", "phone", "--sas", cfg.SAS)...)
	if !strings.Contains(out, "approved") {
		t.Fatalf("approve without a roster: %s", out)
	}

	e.mustRun(alice.with("roster", "init")...)
	if d := e.device("phone"); d.GetOnRoster() {
		t.Fatal("a device approved before the roster is on it")
	}
	if _, _, err := e.run(alice.with("devices", "approve", "phone", "--sas", cfg.SAS)...); err == nil || !strings.Contains(err.Error(), "mpcctl roster add-device phone") {
		t.Fatalf("approving an adopted-to-be device: %v", err)
	}
	wrong := strings.Repeat("0", len(cfg.DeviceID))
	if _, _, err := e.run(alice.with("roster", "add-device", "phone", "--device-id", wrong)...); err == nil || !strings.Contains(err.Error(), "do not adopt it") {
		t.Fatalf("add-device with a wrong id: %v", err)
	}
	if r := e.roster(); r.GetHeight() != 0 || len(r.GetPending()) != 0 {
		t.Fatalf("a refused add-device changed the roster: height %d", r.GetHeight())
	}
	out = e.mustRun(alice.with("roster", "add-device", "phone", "--device-id", cfg.DeviceID)...)
	if !strings.Contains(out, "appended to the roster (height 1)") {
		t.Fatalf("add-device:\n%s", out)
	}
	if d := e.device("phone"); !d.GetOnRoster() || d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE {
		t.Fatalf("after add-device: on roster %v, %v", d.GetOnRoster(), d.GetStatus())
	}
	if _, _, err := e.run(alice.with("roster", "add-device", "phone", "--device-id", cfg.DeviceID)...); err == nil || !strings.Contains(err.Error(), "on the roster already") {
		t.Fatalf("add-device twice: %v", err)
	}
	// With quorum 1 a revocation takes effect at once.
	out = e.mustRun(alice.with("devices", "revoke", "phone", "--wait", "0")...)
	if !strings.Contains(out, "revocation appended to the roster (height 2)") || !strings.Contains(out, `device "phone"`) {
		t.Fatalf("revoke:\n%s", out)
	}
	if d := e.device("phone"); d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_REVOKED {
		t.Fatalf("after revoke: %v", d.GetStatus())
	}
}
