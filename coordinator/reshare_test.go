package coordinator_test

import (
	"bytes"
	"context"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/internal/envelope"
	"github.com/mpcsign/mpcsign/party"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// epochs lists a device's share records of a key as "epoch:state".
func epochs(t *testing.T, d *testkit.Device, keyID string) []string {
	t.Helper()
	metas, err := d.Agent.Shares()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range metas {
		if m.KeyID == keyID {
			out = append(out, string(rune('0'+m.Epoch))+":"+string(m.State))
		}
	}
	sort.Strings(out)
	return out
}

// waitEpochs waits until a device holds exactly want for the key (KeySync
// reaches devices asynchronously).
func waitEpochs(t *testing.T, d *testkit.Device, keyID string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute) // a hang guard: reshares are slow on a loaded machine
	for {
		got := epochs(t, d, keyID)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %v of key %s, want %v", d.Name, got, keyID, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func signAndVerify(t *testing.T, c *testkit.Cluster, key *mpcv1.Key, msg string) *mpcv1.SignResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dg := digest(msg)
	r, err := c.Sign(ctx, t, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: dg})
	if err != nil {
		t.Fatalf("sign %q: %v", msg, err)
	}
	if !bytes.Equal(r.GetPublicKey(), key.GetPublicKey()) {
		t.Fatal("the public key changed")
	}
	verify(t, key.GetPublicKey(), dg, r)
	return r
}

// checkReport checks a successful reshare report, including its test
// signature, independently of the service's code.
func checkReport(t *testing.T, key *mpcv1.Key, rep *mpcv1.ReshareReport) {
	t.Helper()
	if !rep.GetOk() || !rep.GetCommitted() || rep.GetError() != "" {
		t.Fatalf("report not ok: %+v", rep)
	}
	if !bytes.Equal(rep.GetPublicKey(), key.GetPublicKey()) {
		t.Fatal("report public key differs")
	}
	pub, err := secp256k1.ParsePubKey(key.GetPublicKey())
	if err != nil {
		t.Fatal(err)
	}
	sig := rep.GetTestSignature()
	if len(sig) != 65 || len(rep.GetTestDigest()) != 32 {
		t.Fatalf("test signature %d bytes, digest %d bytes", len(sig), len(rep.GetTestDigest()))
	}
	rec, _, err := ecdsa.RecoverCompact(append([]byte{27 + 4 + sig[64]}, sig[:64]...), rep.GetTestDigest())
	if err != nil || !rec.IsEqual(pub) {
		t.Fatalf("test signature does not verify under the key: %v", err)
	}
	var names []string
	for _, s := range rep.GetSteps() {
		names = append(names, s.GetName())
		if !s.GetOk() {
			t.Fatalf("step %s failed in an ok report", s.GetName())
		}
	}
	if !slices.Equal(names, []string{"plan", "wait for devices", "reshare protocol", "test signature", "commit"}) {
		t.Fatalf("steps %v", names)
	}
}

func TestRevokeAndReshare(t *testing.T) {
	c := testkit.New(t, testkit.Options{SignTimeout: 30 * time.Second, JobRetry: 200 * time.Millisecond})
	ctx := context.Background()
	devs := map[string]*testkit.Device{}
	for i, name := range []string{"phone", "laptop", "server", "tablet"} {
		devs[name] = c.AddDevice(t, name, testkit.FixtureSets(t, i+1))
	}
	key := c.CreateKey(t, 1, "phone", "laptop", "server")
	signAndVerify(t, c, key, "before any reshare")

	// Revoke the server, replacing it with the tablet.
	rv, err := c.Admin.RevokeDevice(ctx, &mpcv1.RevokeDeviceRequest{Device: "server", ReplaceWith: "tablet"})
	if err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if len(rv.GetJobs()) != 1 || rv.GetJobs()[0].GetKeyId() != key.GetId() {
		t.Fatalf("jobs %v", rv.GetJobs())
	}
	job := waitJob(t, c, key.GetId(), mpcv1.ReshareJobState_RESHARE_JOB_STATE_DONE)
	if job.GetEpoch() != 1 {
		t.Fatalf("job finished at epoch %d: %s", job.GetEpoch(), job.GetDetail())
	}
	got, err := c.Admin.GetKey(ctx, &mpcv1.GetKeyRequest{KeyId: key.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	var holders []string
	for _, h := range got.GetKey().GetHolders() {
		holders = append(holders, h.GetDeviceName())
	}
	sort.Strings(holders)
	if !slices.Equal(holders, []string{"laptop", "phone", "tablet"}) || got.GetKey().GetThreshold() != 1 || got.GetKey().GetEpoch() != 1 {
		t.Fatalf("after revocation: holders %v, t=%d, epoch %d", holders, got.GetKey().GetThreshold(), got.GetKey().GetEpoch())
	}
	for _, n := range []string{"phone", "laptop", "tablet"} {
		waitEpochs(t, devs[n], key.GetId(), "1:committed") // epoch 0 erased
	}
	// The revoked server still has its copy of epoch 0, but nobody else does:
	// it can take part in nothing (refused by the coordinator, and no other
	// device holds a share of that epoch to combine it with).
	if e := epochs(t, devs["server"], key.GetId()); !slices.Equal(e, []string{"0:committed"}) {
		t.Fatalf("server holds %v", e)
	}
	c.WaitOffline(t, "server")
	// The new holder signs: stop the laptop so phone and tablet must.
	c.StopDevice(t, "laptop")
	r := signAndVerify(t, c, key, "after revoking the server")
	s := append([]string(nil), r.GetSigners()...)
	sort.Strings(s)
	if !slices.Equal(s, []string{"phone", "tablet"}) {
		t.Fatalf("signed by %v", s)
	}
	c.RestartDevice(t, "laptop")

	// An explicit reshare to 3-of-3 on the same devices.
	rs, err := c.Admin.ReshareKey(ctx, &mpcv1.ReshareKeyRequest{KeyId: key.GetId(), Devices: []string{"phone", "laptop", "tablet"}, Threshold: u32(2)})
	if err != nil {
		t.Fatalf("reshare: %v", err)
	}
	checkReport(t, key, rs.GetReport())
	if rs.GetKey().GetThreshold() != 2 || rs.GetKey().GetEpoch() != 2 {
		t.Fatalf("after reshare: t=%d epoch %d", rs.GetKey().GetThreshold(), rs.GetKey().GetEpoch())
	}
	r = signAndVerify(t, c, key, "3-of-3")
	if len(r.GetSigners()) != 3 {
		t.Fatalf("signed by %v", r.GetSigners())
	}

	// Bad requests get clear errors.
	for _, tc := range []struct {
		req  *mpcv1.ReshareKeyRequest
		want codes.Code
	}{
		{&mpcv1.ReshareKeyRequest{KeyId: key.GetId(), Devices: []string{"phone"}}, codes.InvalidArgument},
		{&mpcv1.ReshareKeyRequest{KeyId: key.GetId(), Devices: []string{"phone", "laptop"}, Threshold: u32(2)}, codes.InvalidArgument},
		{&mpcv1.ReshareKeyRequest{KeyId: key.GetId(), Devices: []string{"phone", "server"}, Threshold: u32(1)}, codes.FailedPrecondition},
		{&mpcv1.ReshareKeyRequest{KeyId: key.GetId(), Devices: []string{"phone", "nobody"}}, codes.NotFound},
		{&mpcv1.ReshareKeyRequest{KeyId: "knope"}, codes.NotFound},
	} {
		if _, err := c.Admin.ReshareKey(ctx, tc.req); code(err) != tc.want {
			t.Errorf("reshare %v: got %v, want %v", tc.req, err, tc.want)
		}
	}
}

func u32(v uint32) *uint32 { return &v }

func waitJob(t *testing.T, c *testkit.Cluster, keyID string, want mpcv1.ReshareJobState) *mpcv1.ReshareJob {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		resp, err := c.Admin.ListReshareJobs(context.Background(), &mpcv1.ListReshareJobsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range resp.GetJobs() {
			if j.GetKeyId() == keyID && j.GetState() == want {
				return j
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job of %s did not reach %v: %v", keyID, want, resp.GetJobs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A reshare that fails before its commit point leaves the key as it was:
// the old epoch signs, and pending shares of the attempt are dropped.
func TestReshareAbandonedBeforeCommit(t *testing.T) {
	var laptopID atomic.Value
	var phoneID atomic.Value
	dropped := make(chan struct{}, 1)
	c := testkit.New(t, testkit.Options{SignTimeout: 30 * time.Second,
		Relay: func(to string, m *mpcv1.SessionMessage, deliver func(*mpcv1.SessionMessage)) {
			// The laptop never gets the phone's echo of the reshare: the
			// phone and the server store their new shares as pending, the
			// laptop cannot finish, and the coordinator never commits.
			if m.GetType() == envelope.EchoType && to == laptopID.Load() && m.GetFrom() == phoneID.Load() && m.GetRound() == 0 {
				select {
				case dropped <- struct{}{}:
				default:
				}
				return
			}
			deliver(m)
		}})
	ctx := context.Background()
	devs := map[string]*testkit.Device{}
	for i, name := range []string{"phone", "laptop", "server"} {
		devs[name] = c.AddDevice(t, name, testkit.FixtureSets(t, i+1))
	}
	key := c.CreateKey(t, 1, "phone", "laptop", "server")
	// A device whose policy denies the key refuses to take part in a
	// reshare too: a coordinator cannot hand the key to others behind its back.
	if err := party.SetPolicy(devs["server"].Store, key.GetId(), party.Policy{Mode: party.PolicyDeny}); err != nil {
		t.Fatal(err)
	}
	dr, err := c.Admin.DrillKey(ctx, &mpcv1.DrillKeyRequest{KeyId: key.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if rep := dr.GetReport(); rep.GetOk() || rep.GetCommitted() || !strings.Contains(rep.GetError(), "server refused") || dr.GetKey().GetEpoch() != 0 {
		t.Fatalf("drill with a denying device: %+v (epoch %d)", rep, dr.GetKey().GetEpoch())
	}
	signAndVerify(t, c, key, "after a refused drill")
	if err := party.SetPolicy(devs["server"].Store, key.GetId(), party.Policy{Mode: party.PolicyAuto}); err != nil {
		t.Fatal(err)
	}
	list, err := c.Admin.ListDevices(ctx, &mpcv1.ListDevicesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list.GetDevices() {
		switch d.GetName() {
		case "laptop":
			laptopID.Store(d.GetId())
		case "phone":
			phoneID.Store(d.GetId())
		}
	}
	type drillResult struct {
		resp *mpcv1.DrillKeyResponse
		err  error
	}
	drilled := make(chan drillResult, 1)
	go func() {
		r, err := c.Admin.DrillKey(ctx, &mpcv1.DrillKeyRequest{KeyId: key.GetId()})
		drilled <- drillResult{r, err}
	}()
	// The phone and the server hold the new epoch as pending; then the
	// laptop dies before it could finish, so the coordinator never commits.
	// (Epoch 1 went to the refused attempt above: numbers are never reused.)
	waitEpochs(t, devs["phone"], key.GetId(), "0:committed", "2:pending")
	waitEpochs(t, devs["server"], key.GetId(), "0:committed", "2:pending")
	c.StopDevice(t, "laptop")
	res := <-drilled
	dr, err = res.resp, res.err
	if err != nil {
		t.Fatalf("drill: %v", err)
	}
	rep := dr.GetReport()
	if rep.GetOk() || rep.GetCommitted() || rep.GetError() == "" || dr.GetKey().GetEpoch() != 0 {
		t.Fatalf("a failed drill reported %+v (key epoch %d)", rep, dr.GetKey().GetEpoch())
	}
	select {
	case <-dropped:
	default:
		t.Fatal("the relay never dropped the echo")
	}
	for _, n := range []string{"phone", "laptop", "server"} {
		waitEpochs(t, devs[n], key.GetId(), "0:committed")
	}
	laptopID.Store("") // the relay lets everything through from now on
	c.RestartDevice(t, "laptop")
	signAndVerify(t, c, key, "after an abandoned drill")
	// The abandoned epoch number is never reused: the next drill makes epoch 3.
	dr, err = c.Admin.DrillKey(ctx, &mpcv1.DrillKeyRequest{KeyId: key.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, key, dr.GetReport())
	if dr.GetKey().GetEpoch() != 3 {
		t.Fatalf("second drill made epoch %d", dr.GetKey().GetEpoch())
	}
	for _, n := range []string{"phone", "laptop", "server"} {
		waitEpochs(t, devs[n], key.GetId(), "3:committed")
	}

}
