package coordinator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/pairing"
	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/party"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// With a roster, devices are admitted by the operators' signatures only:
// pairing codes carry the genesis, the coordinator's own approval is
// refused, devices verify the roster, and a keygen with a device that is not
// on it (here one approved before the roster existed) is refused by the
// devices that pin it, while a keygen of roster members signs.
func TestRosterAdmitsAndRefuses(t *testing.T) {
	c := testkit.New(t, testkit.Options{AutoApprove: true, SignTimeout: 20 * time.Second, KeygenTimeout: 2 * time.Minute})
	ctx := context.Background()
	// Approved by the coordinator alone, before the roster: on no roster.
	c.AddDevice(t, "legacy", testkit.FixtureSets(t, 3)[:1])

	op := testkit.NewOperator("alice")
	genesis := c.StartRoster(t, op)
	c.AddRequester(t, op, "wallet", roster.Requester{})
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
	if _, err := c.Admin.SubmitRosterEntry(ctx, &mpcv1.SubmitRosterEntryRequest{Entry: roster.EntryProto(g2)}); code(err) != codes.FailedPrecondition {
		t.Fatalf("second genesis: %v", err)
	}

	phone := c.AddDevice(t, "phone", testkit.FixtureSets(t, 1)[:3])
	c.AddDevice(t, "laptop", testkit.FixtureSets(t, 2)[:3])
	c.AddDevice(t, "server", testkit.FixtureSets(t, 4)[:2])
	waitRosterHeight(t, phone.Agent, 3)

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
	mallory := testkit.NewOperator("mallory")
	if _, err := c.Admin.SubmitRosterEntry(ctx, &mpcv1.SubmitRosterEntryRequest{Entry: roster.EntryProto(c.SignAddDevice(t, mallory, "probe"))}); code(err) != codes.PermissionDenied {
		t.Fatalf("entry signed by a non-operator: %v", err)
	}

	// Keygens need the operators' authorization: none, one that names a
	// device not on the roster ("legacy" is active at the coordinator
	// only), or one for another committee are refused before anything runs.
	kctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	keygen := func(auth *mpcv1.Authorization, devices ...string) error {
		_, err := c.Admin.CreateKey(kctx, &mpcv1.CreateKeyRequest{Curve: mpcv1.Curve_CURVE_SECP256K1, Threshold: 1, Devices: devices, Authorization: auth})
		return err
	}
	if err := keygen(nil, "phone", "laptop", "server"); code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "operators must sign") {
		t.Fatalf("keygen without authorization: %v", err)
	}
	ids := c.DeviceIDs(t, "phone", "laptop", "legacy")
	withLegacy := c.SignCeremony(t, op, roster.CeremonyKeygen, func(cer *roster.Ceremony) {
		cer.Curve, cer.Threshold, cer.Committee = roster.CurveSecp256k1, 1, ids
	})
	if err := keygen(withLegacy, "phone", "laptop", "legacy"); code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "not active") {
		t.Fatalf("keygen with a device not on the roster: %v", err)
	}
	trio := c.SignKeygen(t, op, 1, "phone", "laptop", "server")
	if err := keygen(trio, "phone", "laptop", "legacy"); code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "committee") {
		t.Fatalf("keygen with an authorization for another committee: %v", err)
	}
	created, err := c.Admin.CreateKey(kctx, &mpcv1.CreateKeyRequest{Curve: mpcv1.Curve_CURVE_SECP256K1, Threshold: 1, Devices: []string{"phone", "laptop", "server"}, Authorization: trio})
	if err != nil {
		t.Fatalf("authorized keygen: %v", err)
	}
	key := created.GetKey()
	signAndVerify(t, c, key, "signed by roster members")
	// The devices themselves refuse to run a second keygen under the same
	// authorization (the coordinator does not track it: they do).
	if err := keygen(trio, "phone", "laptop", "server"); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("a replayed keygen authorization: %v", err)
	}

	// A reshare needs its own authorization, for exactly this key, epoch
	// and committees.
	if _, err := c.Admin.ReshareKey(kctx, &mpcv1.ReshareKeyRequest{KeyId: key.GetId()}); code(err) != codes.FailedPrecondition {
		t.Fatalf("unauthorized drill-like reshare: %v", err)
	}
	drill := c.SignCeremony(t, op, roster.CeremonyDrill, func(cer *roster.Ceremony) {
		cer.KeyID, cer.Curve, cer.Epoch, cer.Threshold, cer.Committee = key.GetId(), roster.CurveSecp256k1, 0, 1, c.DeviceIDs(t, "phone", "laptop", "server")
		cer.NewThreshold, cer.NewCommittee = 1, cer.Committee
	})
	dr, err := c.Admin.DrillKey(kctx, &mpcv1.DrillKeyRequest{KeyId: key.GetId(), Authorization: drill})
	if err != nil || !dr.GetReport().GetOk() {
		t.Fatalf("authorized drill: %v %v", dr.GetReport(), err)
	}
	// The same drill again: the key's epoch moved on, so it no longer matches.
	// (A drill reports its failure rather than returning an error.)
	if again, err := c.Admin.DrillKey(kctx, &mpcv1.DrillKeyRequest{KeyId: key.GetId(), Authorization: drill}); err != nil || again.GetReport().GetOk() ||
		!strings.Contains(again.GetReport().GetError(), "epoch") || again.GetKey().GetEpoch() != dr.GetKey().GetEpoch() {
		t.Fatalf("a replayed drill authorization: %v %v", again.GetReport(), err)
	}
	key = dr.GetKey()
	signAndVerify(t, c, key, "signed after the drill")

	// Revocation is a signed entry with a signed plan per key; the
	// coordinator carries both out.
	c.AddDevice(t, "tablet", testkit.FixtureSets(t, 3)[1:2])
	server := deviceByName(t, c, "server")
	if _, err := c.Admin.RevokeDevice(ctx, &mpcv1.RevokeDeviceRequest{Device: "server"}); code(err) != codes.FailedPrecondition {
		t.Fatalf("unsigned revocation with a roster: %v", err)
	}
	plan := c.SignCeremony(t, op, roster.CeremonyReshare, func(cer *roster.Ceremony) {
		cer.KeyID, cer.Curve, cer.Epoch, cer.Threshold, cer.Committee = key.GetId(), roster.CurveSecp256k1, key.GetEpoch(), 1, c.DeviceIDs(t, "phone", "laptop")
		cer.NewThreshold, cer.NewCommittee = 1, c.DeviceIDs(t, "phone", "laptop", "tablet")
	})
	revoke := c.SignRevoke(t, op, server.GetId(), "lost")
	resp, err := c.Admin.RevokeDevice(ctx, &mpcv1.RevokeDeviceRequest{Device: "server", ReplaceWith: "tablet", RosterEntry: roster.EntryProto(revoke), Plans: []*mpcv1.Authorization{plan}})
	if err != nil || !resp.GetRoster().GetAppended() || resp.GetDevice().GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_REVOKED {
		t.Fatalf("signed revocation: %v %v", resp, err)
	}
	waitRosterHeight(t, phone.Agent, 5)
	if st := c.Roster(t); st.Active(server.GetId()) {
		t.Fatal("server still active on the roster")
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		k, err := c.Admin.GetKey(ctx, &mpcv1.GetKeyRequest{KeyId: key.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		if k.GetKey().GetEpoch() > key.GetEpoch() {
			key = k.GetKey()
			break
		}
		if time.Now().After(deadline) {
			jobs, _ := c.Admin.ListReshareJobs(ctx, &mpcv1.ListReshareJobsRequest{})
			t.Fatalf("the revocation's reshare did not commit: %v", jobs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !sameNames(holderNames(key), "laptop", "phone", "tablet") {
		t.Fatalf("holders after the revocation: %v", holderNames(key))
	}
	signAndVerify(t, c, key, "signed after the revocation")
	// The old holders erased their older shares on the certificate and the
	// operators' plan, checked against their own roster: one share is left.
	deadline = time.Now().Add(20 * time.Second)
	for {
		shares, err := phone.Agent.Shares()
		if err != nil {
			t.Fatal(err)
		}
		var mine []string
		for _, sh := range shares {
			if sh.KeyID == key.GetId() {
				mine = append(mine, fmt.Sprintf("%d:%s", sh.Epoch, sh.State))
			}
		}
		if len(mine) == 1 && mine[0] == fmt.Sprintf("%d:committed", key.GetEpoch()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("phone's shares of the key: %v, want only epoch %d committed", mine, key.GetEpoch())
		}
		time.Sleep(50 * time.Millisecond)
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

func holderNames(k *mpcv1.Key) []string {
	var out []string
	for _, h := range k.GetHolders() {
		out = append(out, h.GetDeviceName())
	}
	slices.Sort(out)
	return out
}

func sameNames(got []string, want ...string) bool {
	slices.Sort(want)
	return slices.Equal(got, want)
}
