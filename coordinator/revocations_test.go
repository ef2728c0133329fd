package coordinator

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// failJobs is a store whose reshare-job writes fail while fail is set, as
// they do for a coordinator that lost the leader lease (or was killed)
// right after recording a revocation.
type failJobs struct {
	Store
	fail atomic.Bool
}

func (f *failJobs) UpdateReshareJob(keyID string, fn func(*ReshareJob) error) (ReshareJob, error) {
	if f.fail.Load() {
		return ReshareJob{}, registry.ErrFenced
	}
	return f.Store.UpdateReshareJob(keyID, fn)
}

type testOperator struct{ priv ed25519.PrivateKey }

func (o testOperator) PublicKey() ed25519.PublicKey { return o.priv.Public().(ed25519.PublicKey) }
func (o testOperator) Sign(msg []byte) []byte       { return ed25519.Sign(o.priv, msg) }

// revokeFixture is a coordinator (without Serve: no job runs) on a Badger
// store at dir, with devices d1..d4 and keys k1, k2 held by d1, d2, d3 and
// k3 held by d1, d2, d4.
type revokeFixture struct {
	dir  string
	st   *failJobs
	srv  *Server
	op   testOperator
	devs map[string]Device // by name
}

func newRevokeFixture(t *testing.T) *revokeFixture {
	t.Helper()
	f := &revokeFixture{dir: t.TempDir(), devs: map[string]Device{}}
	f.open(t)
	for _, name := range []string{"d1", "d2", "d3", "d4"} {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		enc := make([]byte, 32)
		rand.Read(enc)
		d := Device{ID: identity.DeviceID(pub), Name: name, Status: DeviceActive, IdentityPublicKey: pub, EncryptionPublicKey: enc}
		code := []byte("code-" + name)
		if err := f.st.CreatePairing(code, Pairing{Name: name, ExpiresAt: time.Now().Add(time.Hour)}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.EnrollDevice(code, func(p *Pairing, _ bool, _ func(string) (Device, bool, error)) (*Device, error) {
			p.Used = true
			return &d, nil
		}, nil); err != nil {
			t.Fatal(err)
		}
		f.devs[name] = d
	}
	for id, holders := range map[string][]string{"k1": {"d1", "d2", "d3"}, "k2": {"d1", "d2", "d3"}, "k3": {"d1", "d2", "d4"}} {
		if err := f.st.PutKey(Key{ID: id, Curve: curveSecp256k1, Threshold: 1, Holders: f.ids(holders...)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// open (re)starts the coordinator on the store in dir.
func (f *revokeFixture) open(t *testing.T) {
	t.Helper()
	bs, err := OpenBadgerStore(filepath.Join(f.dir, "store"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	f.st = &failJobs{Store: bs}
	if f.srv, err = New(Options{DataDir: f.dir, Store: f.st}); err != nil {
		bs.Close()
		t.Fatal(err)
	}
}

// restart stops the coordinator and starts it again on the same store.
func (f *revokeFixture) restart(t *testing.T) {
	t.Helper()
	if err := f.srv.Close(); err != nil {
		t.Fatal(err)
	}
	f.open(t)
}

func (f *revokeFixture) ids(names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, f.devs[n].ID)
	}
	return out
}

// startRoster makes a roster (one operator, quorum 1) with d1..d4 on it.
func (f *revokeFixture) startRoster(t *testing.T) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	f.op = testOperator{priv}
	g, err := roster.NewGenesis([]roster.Operator{{Name: "alice", Key: f.op.PublicKey()}}, 1, false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	g.Sign(f.op)
	f.submit(t, g)
	for _, name := range []string{"d1", "d2", "d3", "d4"} {
		d := f.devs[name]
		b := f.srv.roster.state.Next(roster.KindAddDevice, time.Now())
		b.Device = &roster.Device{ID: d.ID, Name: d.Name, IdentityKey: d.IdentityPublicKey, EncryptionKey: d.EncryptionPublicKey}
		f.submit(t, f.entry(t, b))
	}
}

func (f *revokeFixture) entry(t *testing.T, b roster.Body) roster.Entry {
	t.Helper()
	raw, err := roster.EncodeBody(b)
	if err != nil {
		t.Fatal(err)
	}
	e := roster.Entry{Body: raw}
	e.Sign(f.op)
	return e
}

func (f *revokeFixture) submit(t *testing.T, e roster.Entry) {
	t.Helper()
	resp, err := f.srv.SubmitRosterEntry(context.Background(), &mpcv1.SubmitRosterEntryRequest{Entry: roster.EntryProto(e)})
	if err != nil || !resp.GetAppended() {
		t.Fatalf("roster entry: %v %v", resp, err)
	}
}

// revocation is the operator's revoke entry of d3 and the reshare plans
// of k1 and k2 to d1, d2.
func (f *revokeFixture) revocation(t *testing.T) *mpcv1.RevokeDeviceRequest {
	t.Helper()
	st := f.srv.roster.state
	b := st.Next(roster.KindRevokeDevice, time.Now())
	b.DeviceID = f.devs["d3"].ID
	req := &mpcv1.RevokeDeviceRequest{Device: "d3", RosterEntry: roster.EntryProto(f.entry(t, b))}
	for _, k := range []string{"k1", "k2"} {
		c := st.NewCeremony(roster.CeremonyReshare, time.Hour, time.Now())
		c.KeyID, c.Curve, c.Threshold, c.Committee = k, roster.CurveSecp256k1, 1, f.ids("d1", "d2", "d3")
		c.NewThreshold, c.NewCommittee = 1, f.ids("d1", "d2")
		raw, err := roster.EncodeCeremony(c)
		if err != nil {
			t.Fatal(err)
		}
		a := roster.Authorization{Body: raw}
		a.Sign(f.op)
		req.Plans = append(req.Plans, roster.AuthorizationProto(a))
	}
	return req
}

// revokeCrashing revokes with req while job writes fail: the revocation
// is recorded, its jobs are not, and the error says what happens next.
func (f *revokeFixture) revokeCrashing(t *testing.T, req *mpcv1.RevokeDeviceRequest) {
	t.Helper()
	f.st.fail.Store(true)
	_, err := f.srv.RevokeDevice(context.Background(), req)
	f.st.fail.Store(false)
	st, _ := status.FromError(toStatus(f.srv.log, "RevokeDevice", err))
	if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "mpcctl keys jobs") {
		t.Fatalf("revoke while jobs cannot be written: %v", err)
	}
	if d, err := f.st.GetDevice(f.devs["d3"].ID); err != nil || d.Status != DeviceRevoked {
		t.Fatalf("d3 after the revocation: %+v %v", d, err)
	}
	if jobs, err := f.st.ListReshareJobs(); err != nil || len(jobs) != 0 {
		t.Fatalf("jobs written by a failing store: %+v %v", jobs, err)
	}
}

// checkJobs checks that k1 and k2, and only they, have a pending job
// removing d3 (adding add, if set), under the plans of req when it has any.
func (f *revokeFixture) checkJobs(t *testing.T, req *mpcv1.RevokeDeviceRequest, add ...string) {
	t.Helper()
	jobs, err := f.st.ListReshareJobs()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, j := range jobs {
		keys = append(keys, j.KeyID)
		if j.State != JobPending || !slices.Equal(j.Remove, f.ids("d3")) || !slices.Equal(j.Add, f.ids(add...)) || j.Reason != "revoked d3" {
			t.Errorf("job of %s: %+v", j.KeyID, j)
		}
		if req == nil || len(req.GetPlans()) == 0 {
			continue
		}
		i := map[string]int{"k1": 0, "k2": 1}[j.KeyID]
		if j.Plan == nil || string(j.Plan.Body) != string(req.GetPlans()[i].GetBody()) {
			t.Errorf("job of %s has no plan or another plan: %+v", j.KeyID, j.Plan)
		}
	}
	if !slices.Equal(keys, []string{"k1", "k2"}) {
		t.Fatalf("jobs of keys %v, want k1 and k2 (d3 does not hold k3)", keys)
	}
}

// TestRevocationJobsAfterCrashOnRoster: a revocation whose roster entry is
// appended but whose reshare jobs were never written (the coordinator
// stopped, or lost the leader lease, in between) gets its jobs, with the
// operators' plans, when the coordinator starts again, and when the same
// revocation is submitted again.
func TestRevocationJobsAfterCrashOnRoster(t *testing.T) {
	t.Run("restart", func(t *testing.T) {
		f := newRevokeFixture(t)
		f.startRoster(t)
		req := f.revocation(t)
		req.ReplaceWith = f.devs["d4"].ID
		f.revokeCrashing(t, req)
		f.restart(t)
		f.checkJobs(t, req, "d4")
		// Starting again changes nothing.
		f.restart(t)
		f.checkJobs(t, req, "d4")
		f.srv.Close()
	})
	t.Run("resubmit", func(t *testing.T) {
		f := newRevokeFixture(t)
		f.startRoster(t)
		req := f.revocation(t)
		f.revokeCrashing(t, req)
		resp, err := f.srv.RevokeDevice(context.Background(), req)
		if err != nil || !resp.GetRoster().GetAppended() || len(resp.GetJobs()) != 2 {
			t.Fatalf("the revocation submitted again: %v %v", resp, err)
		}
		f.checkJobs(t, req)
		// And again: idempotent (the reason is not repeated, the jobs stay).
		if _, err := f.srv.RevokeDevice(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		f.checkJobs(t, req)
		f.srv.Close()
	})
	t.Run("resubmit entry only", func(t *testing.T) {
		// An operator's signature arriving for the entry (no plans with it):
		// the plans kept with the entry are used.
		f := newRevokeFixture(t)
		f.startRoster(t)
		req := f.revocation(t)
		f.revokeCrashing(t, req)
		f.submit(t, roster.EntryFromProto(req.GetRosterEntry()))
		f.checkJobs(t, req)
		f.srv.Close()
	})
}

// TestRevocationJobsAfterCrashWithoutRoster: the same without a roster:
// the device's revoked status is recorded with its replacement, and the
// next start queues the jobs.
func TestRevocationJobsAfterCrashWithoutRoster(t *testing.T) {
	f := newRevokeFixture(t)
	f.revokeCrashing(t, &mpcv1.RevokeDeviceRequest{Device: "d3", ReplaceWith: "d4"})
	f.restart(t)
	f.checkJobs(t, nil, "d4")
	f.srv.Close()
}

// TestRevokeDeviceInFlightHolder: a device revoked while a reshare that
// makes it a holder is in flight (the commit checks the new holders before
// its transaction) gets a job for that key, and the job waits for the
// reshare to end instead of finding nothing to do.
func TestRevokeDeviceInFlightHolder(t *testing.T) {
	f := newRevokeFixture(t)
	defer f.srv.Close()
	k, err := f.st.UpdateKey("k3", func(k *Key) error {
		k.InFlight = &InFlightReshare{Epoch: 1, Kind: KindReshare, Holders: f.ids("d1", "d2", "d3", "d4"), Threshold: 1}
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.srv.RevokeDevice(context.Background(), &mpcv1.RevokeDeviceRequest{Device: "d3"})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, j := range resp.GetJobs() {
		keys = append(keys, j.GetKeyId())
	}
	if !slices.Equal(keys, []string{"k1", "k2", "k3"}) {
		t.Fatalf("jobs of %v, want k1, k2 and k3 (d3 may hold k3 once its reshare commits)", keys)
	}
	jobs, err := f.st.ListReshareJobs()
	if err != nil {
		t.Fatal(err)
	}
	job := jobs[2]
	if job.KeyID != "k3" || !slices.Equal(job.Remove, f.ids("d3")) {
		t.Fatalf("job %+v", job)
	}
	holders, _, _, err := f.srv.planJob(k, job)
	var blocked *jobBlocked
	if holders != nil || err == nil || errors.As(err, &blocked) || !strings.Contains(err.Error(), "in flight") {
		t.Fatalf("the job while the reshare is in flight: %v, %v", holders, err)
	}
	// Once the reshare commits with d3, the job removes it.
	k.Holders, k.InFlight = k.InFlight.Holders, nil
	if !jobLeft(k, job) {
		t.Fatal("the job has nothing left to do after the commit")
	}
}
