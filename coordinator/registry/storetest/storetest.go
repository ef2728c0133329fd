// Package storetest is the conformance suite of registry.Store: what every
// store (Badger and PostgreSQL) must do alike, run against each
// implementation by its own test. It tests the store's contract only; the
// coordinator's rules on top (pairing attempts, who may do what) are tested
// in the coordinator.
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/internal/auditlog"
)

// Run runs the suite; open returns a fresh, empty store (closed by the
// suite, perhaps twice: Close must allow that).
func Run(t *testing.T, open func(t *testing.T) registry.Store) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, registry.Store)
	}{
		{"Enrolment", enrolment},
		{"Devices", devices},
		{"Keys", keys},
		{"SignResultFirstWins", signResults},
		{"Sessions", sessions},
		{"Tokens", tokens},
		{"ReshareJobs", reshareJobs},
		{"ActionsSealTheirAuditEntry", actionsSealTheirAuditEntry},
		{"AuditChainNeverForks", auditChain},
		{"Roster", rosterRecords},
		{"AnyBytes", anyBytes},
		{"ConcurrentUpdatesLoseNothing", concurrentUpdates},
		{"RosterAppendsRace", rosterRace},
		{"PingAfterClose", pingAfterClose},
		{"KeysPaged", keysPaged},
		{"DevicesPaged", devicesPaged},
		{"KeysAddedBetweenPages", keysAddedBetweenPages},
		{"SessionsPaged", sessionsPaged},
		{"PruneSignResults", pruneSignResults},
		{"PruneSessions", pruneSessions},
		{"KeysOfDevice", keysOfDevice},
		{"KeysInFlight", keysInFlight},
		{"KeyMemberIDs", memberIDs},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := open(t)
			t.Cleanup(func() { st.Close() })
			if err := st.Ping(); err != nil {
				t.Fatalf("ping a fresh store: %v", err)
			}
			c.fn(t, st)
		})
	}
}

var now = time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)

func entry(action string) *auditlog.Entry {
	return &auditlog.Entry{Action: action, Result: "ok", Time: now}
}

func height(t *testing.T, st registry.Store) uint64 {
	t.Helper()
	h, err := st.AuditHeight()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// enrolment: EnrollDevice writes the code as decide left it and the device
// decide returned, and hands back decide's error.
func enrolment(t *testing.T, st registry.Store) {
	refused := errors.New("refused")
	var sawFound bool
	if _, err := st.EnrollDevice([]byte("none"), func(p *registry.Pairing, found bool, _ func(string) (registry.Device, bool, error)) (*registry.Device, error) {
		sawFound = found
		p.Attempts = 99
		return nil, refused
	}, nil); !errors.Is(err, refused) || sawFound {
		t.Fatalf("unknown code: err %v, found %v", err, sawFound)
	}
	if ps, err := st.ListPairings(); err != nil || len(ps) != 0 {
		t.Fatalf("an unknown code was written: %+v %v", ps, err)
	}
	if err := st.CreatePairing([]byte("c1"), registry.Pairing{Name: "phone", SecretHash: []byte("h"), ExpiresAt: now.Add(time.Minute)}, nil); err != nil {
		t.Fatal(err)
	}
	// A refusal that changes the code is recorded with it, and seals no
	// audit entry (no device was written).
	before := height(t, st)
	if _, err := st.EnrollDevice([]byte("c1"), func(p *registry.Pairing, found bool, _ func(string) (registry.Device, bool, error)) (*registry.Device, error) {
		if !found || p.Name != "phone" {
			return nil, fmt.Errorf("decide saw found=%v %+v", found, p)
		}
		p.Attempts++
		return nil, refused
	}, entry("device.enroll")); !errors.Is(err, refused) {
		t.Fatalf("refused enrolment: %v", err)
	}
	if h := height(t, st); h != before {
		t.Fatalf("a refused enrolment sealed an audit entry: height %d, was %d", h, before)
	}
	if ps, err := st.ListPairings(); err != nil || len(ps) != 1 || ps[0].Attempts != 1 || ps[0].Used {
		t.Fatalf("the refusal's count was not kept: %+v %v", ps, err)
	}
	if _, err := st.GetDevice("d1"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("a refused enrolment stored a device: %v", err)
	}
	// An accepted one stores the device, the used code and its audit entry
	// (which decide may fill in) together.
	d1 := registry.Device{ID: "d1", Name: "phone", Status: registry.DevicePending, IdentityPublicKey: []byte("key 1")}
	enrolled := entry("device.enroll")
	got, err := st.EnrollDevice([]byte("c1"), func(p *registry.Pairing, _ bool, device func(string) (registry.Device, bool, error)) (*registry.Device, error) {
		if _, ok, err := device("d1"); ok || err != nil {
			return nil, fmt.Errorf("lookup of a device not stored: %v %v", ok, err)
		}
		p.Used = true
		enrolled.Devices = []string{p.Name}
		return &d1, nil
	}, enrolled)
	if err != nil || got.ID != "d1" {
		t.Fatalf("enrol: %+v %v", got, err)
	}
	if enrolled.Seq != before+1 || height(t, st) != before+1 {
		t.Fatalf("the enrolment's audit entry: seq %d, height %d; want both %d", enrolled.Seq, height(t, st), before+1)
	}
	if es, err := st.ListAudit(enrolled.Seq, 1); err != nil || len(es) != 1 || es[0].Action != "device.enroll" || len(es[0].Devices) != 1 || es[0].Devices[0] != "phone" || es[0].Hash != enrolled.Hash {
		t.Fatalf("the sealed enrolment entry: %+v %v", es, err)
	}
	if d, err := st.GetDevice("d1"); err != nil || !bytes.Equal(d.IdentityPublicKey, d1.IdentityPublicKey) || d.Status != registry.DevicePending {
		t.Fatalf("stored device: %+v %v", d, err)
	}
	if ps, _ := st.ListPairings(); len(ps) != 1 || !ps[0].Used {
		t.Fatalf("the code was not marked used: %+v", ps)
	}
	// decide sees stored devices.
	if err := st.CreatePairing([]byte("c2"), registry.Pairing{Name: "laptop", ExpiresAt: now.Add(time.Minute)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnrollDevice([]byte("c2"), func(_ *registry.Pairing, _ bool, device func(string) (registry.Device, bool, error)) (*registry.Device, error) {
		d, ok, err := device("d1")
		if !ok || err != nil || d.Name != "phone" {
			return nil, fmt.Errorf("lookup of d1: %+v %v %v", d, ok, err)
		}
		return nil, refused
	}, nil); !errors.Is(err, refused) {
		t.Fatalf("lookup: %v", err)
	}
}

func devices(t *testing.T, st registry.Store) {
	if err := st.CreatePairing([]byte("c"), registry.Pairing{Name: "a", ExpiresAt: now.Add(time.Minute)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnrollDevice([]byte("c"), func(p *registry.Pairing, _ bool, _ func(string) (registry.Device, bool, error)) (*registry.Device, error) {
		p.Used = true
		return &registry.Device{ID: "d", Name: "a", Status: registry.DeviceActive}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateDevice("d", func(d *registry.Device) error { d.Status = registry.DeviceRevoked; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateDevice("d", func(d *registry.Device) error { d.LastSeen = now; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	d, err := st.GetDevice("d")
	if err != nil || d.Status != registry.DeviceRevoked || !d.LastSeen.Equal(now) {
		t.Fatalf("a later update must see the earlier one: %+v %v", d, err)
	}
	refused := errors.New("refused")
	if _, err := st.UpdateDevice("d", func(d *registry.Device) error { d.Name = "changed"; return refused }, nil); !errors.Is(err, refused) {
		t.Fatalf("refused update: %v", err)
	}
	if d, _ := st.GetDevice("d"); d.Name != "a" {
		t.Fatalf("a refused update was written: %+v", d)
	}
	if _, err := st.UpdateDevice("missing", func(*registry.Device) error { return nil }, nil); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("missing device: %v", err)
	}
	if ds, err := st.ListDevices(); err != nil || len(ds) != 1 || ds[0].ID != "d" {
		t.Fatalf("devices: %+v %v", ds, err)
	}
}

func keys(t *testing.T, st registry.Store) {
	if _, err := st.GetKey("k1"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	k := registry.Key{ID: "k1", Curve: registry.CurveSecp256k1, Threshold: 1, PublicKey: []byte{2, 3}, Holders: []string{"a", "b"}, CreatedAt: now}
	if err := st.PutKey(k, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateKey("k1", func(k *registry.Key) error {
		k.InFlight = &registry.InFlightReshare{Epoch: k.Next(), Kind: registry.KindDrill}
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetKey("k1")
	if err != nil || got.InFlight == nil || got.InFlight.Epoch != 1 || got.InFlight.Kind != registry.KindDrill || !slices.Equal(got.Holders, k.Holders) {
		t.Fatalf("key after update: %+v %v", got, err)
	}
	refused := errors.New("refused")
	before := height(t, st)
	if _, err := st.UpdateKey("k1", func(k *registry.Key) error { k.Epoch = 7; return refused }, entry("key.refused")); !errors.Is(err, refused) {
		t.Fatalf("refused key update: %v", err)
	}
	if got, _ := st.GetKey("k1"); got.Epoch != 0 || height(t, st) != before {
		t.Fatalf("a refused key update left a trace: epoch %d, audit %d -> %d", got.Epoch, before, height(t, st))
	}
	if ks, err := st.ListKeys(); err != nil || len(ks) != 1 {
		t.Fatalf("keys: %+v %v", ks, err)
	}
}

func signResults(t *testing.T, st registry.Store) {
	if _, err := st.GetSignResult("r"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("missing result: %v", err)
	}
	e1 := auditlog.Entry{Action: "sign", KeyID: "k", Detail: "first"}
	first, err := st.PutSignResult("r", registry.SignRecord{KeyID: "k", R: []byte{1}}, &e1)
	if err != nil || first.R[0] != 1 {
		t.Fatal(err)
	}
	if e1.Seq != 1 || len(e1.Hash) == 0 {
		t.Fatalf("the stored result's audit entry was not sealed with it: %+v", e1)
	}
	e2 := auditlog.Entry{Action: "sign", KeyID: "k", Detail: "second"}
	second, err := st.PutSignResult("r", registry.SignRecord{KeyID: "k", R: []byte{2}}, &e2)
	if err != nil || second.R[0] != 1 {
		t.Fatalf("a second write replaced the first: %+v %v", second, err)
	}
	if h, err := st.AuditHeight(); err != nil || h != 1 || e2.Seq != 0 {
		t.Fatalf("a result not stored sealed an audit entry: height %d (%v), entry %+v", h, err, e2)
	}
	if got, err := st.GetSignResult("r"); err != nil || got.R[0] != 1 {
		t.Fatalf("stored result: %+v %v", got, err)
	}
}

func sessions(t *testing.T, st registry.Store) {
	for _, id := range []string{"s3", "s1", "s2"} {
		started := map[string]int{"s1": 1, "s2": 2, "s3": 3}[id]
		if err := st.PutSession(registry.SessionRecord{ID: id, Kind: "sign", Started: now.Add(time.Duration(started) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	newest, err := st.ListSessionsBefore(nil, 2)
	if err != nil || len(newest) != 2 || newest[0].ID != "s3" || newest[1].ID != "s2" {
		t.Fatalf("newest sessions: %+v %v", newest, err)
	}
	if all, err := st.ListSessionsBefore(nil, 10); err != nil || len(all) != 3 || all[2].ID != "s1" {
		t.Fatalf("a limit above the count: %+v %v", all, err)
	}
	if none, err := st.ListSessionsBefore(nil, 0); err != nil || len(none) != 0 {
		t.Fatalf("limit 0: %+v %v", none, err)
	}
}

func tokens(t *testing.T, st registry.Store) {
	if err := st.PutToken([]byte("hash-1"), registry.Token{ID: "t1", Role: registry.RoleAdmin, Name: "first"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.PutToken([]byte("hash-2"), registry.Token{ID: "t2", Role: registry.RoleSigner, Name: "second"}, nil); err != nil {
		t.Fatal(err)
	}
	if tok, err := st.GetToken([]byte("hash-1")); err != nil || tok.ID != "t1" || tok.Role != registry.RoleAdmin {
		t.Fatalf("token: %+v %v", tok, err)
	}
	if _, err := st.GetToken([]byte("other")); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
	var seen int
	if _, err := st.UpdateToken("t2", func(tok *registry.Token, all []registry.Token) error {
		seen = len(all)
		tok.Revoked = true
		return nil
	}, nil); err != nil || seen != 2 {
		t.Fatalf("update saw %d tokens: %v", seen, err)
	}
	if tok, _ := st.GetToken([]byte("hash-2")); !tok.Revoked {
		t.Fatal("the revocation was not written")
	}
	if _, err := st.UpdateToken("t9", func(*registry.Token, []registry.Token) error { return nil }, nil); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("unknown token id: %v", err)
	}
	if ts, err := st.ListTokens(); err != nil || len(ts) != 2 {
		t.Fatalf("tokens: %+v %v", ts, err)
	}
}

func reshareJobs(t *testing.T, st registry.Store) {
	j, err := st.UpdateReshareJob("k1", func(j *registry.ReshareJob) error {
		if j.KeyID != "k1" || j.State != "" || j.Attempts != 0 {
			return fmt.Errorf("a new job is not the zero job of its key: %+v", j)
		}
		j.State, j.Remove = registry.JobPending, []string{"d"}
		return nil
	})
	if err != nil || j.State != registry.JobPending {
		t.Fatalf("create job: %+v %v", j, err)
	}
	if _, err := st.UpdateReshareJob("k1", func(j *registry.ReshareJob) error {
		j.State, j.Attempts = registry.JobRunning, j.Attempts+1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	js, err := st.ListReshareJobs()
	if err != nil || len(js) != 1 || js[0].State != registry.JobRunning || js[0].Attempts != 1 || !slices.Equal(js[0].Remove, []string{"d"}) {
		t.Fatalf("jobs: %+v %v", js, err)
	}
}

// actionsSealTheirAuditEntry: an action and its audit entry are one
// transaction, written together or (when refused) neither.
func actionsSealTheirAuditEntry(t *testing.T, st registry.Store) {
	refused := errors.New("refused")
	steps := []struct {
		name   string
		do     func(e *auditlog.Entry) error
		sealed bool
	}{
		{"pairing", func(e *auditlog.Entry) error {
			return st.CreatePairing([]byte("p"), registry.Pairing{Name: "phone", ExpiresAt: now.Add(time.Minute)}, e)
		}, true},
		{"key", func(e *auditlog.Entry) error {
			return st.PutKey(registry.Key{ID: "k1", Curve: registry.CurveSecp256k1}, e)
		}, true},
		{"key update", func(e *auditlog.Entry) error {
			_, err := st.UpdateKey("k1", func(k *registry.Key) error { k.Epoch = 1; return nil }, e)
			return err
		}, true},
		{"token", func(e *auditlog.Entry) error {
			return st.PutToken([]byte("h"), registry.Token{ID: "t1", Role: registry.RoleSigner}, e)
		}, true},
		{"token refused", func(e *auditlog.Entry) error {
			_, err := st.UpdateToken("t1", func(*registry.Token, []registry.Token) error { return refused }, e)
			return err
		}, false},
		{"token revoked", func(e *auditlog.Entry) error {
			_, err := st.UpdateToken("t1", func(t *registry.Token, _ []registry.Token) error { t.Revoked = true; return nil }, e)
			return err
		}, true},
		{"device missing", func(e *auditlog.Entry) error {
			_, err := st.UpdateDevice("missing", func(*registry.Device) error { return nil }, e)
			return err
		}, false},
	}
	for _, s := range steps {
		before := height(t, st)
		e := entry(s.name)
		err := s.do(e)
		if s.sealed != (err == nil) {
			t.Fatalf("%s: %v", s.name, err)
		}
		want := before
		if s.sealed {
			want++
			if e.Seq != want || e.Hash == "" {
				t.Fatalf("%s: the entry was not sealed in place: %+v", s.name, e)
			}
		}
		if got := height(t, st); got != want {
			t.Fatalf("%s: audit height %d, want %d", s.name, got, want)
		}
	}
	if tok, err := st.ListTokens(); err != nil || len(tok) != 1 || !tok[0].Revoked {
		t.Fatalf("tokens: %+v %v", tok, err)
	}
}

func rosterRecords(t *testing.T, st registry.Store) {
	if err := st.CreatePairing([]byte("c"), registry.Pairing{Name: "a", ExpiresAt: now.Add(time.Minute)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnrollDevice([]byte("c"), func(p *registry.Pairing, _ bool, _ func(string) (registry.Device, bool, error)) (*registry.Device, error) {
		p.Used = true
		return &registry.Device{ID: "d", Name: "a", Status: registry.DevicePending}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.PutPendingRoster("p1", registry.RosterRecord{Body: []byte("add d"), ReplaceWith: "x"}); err != nil {
		t.Fatal(err)
	}
	if pend, err := st.ListPendingRoster(); err != nil || len(pend) != 1 || pend["p1"].ReplaceWith != "x" {
		t.Fatalf("pending: %+v %v", pend, err)
	}
	if err := st.AppendRoster(registry.RosterRecord{Height: 0, Body: []byte("genesis")}, "", nil, nil); err != nil {
		t.Fatal(err)
	}
	before := height(t, st)
	e := entry("roster.append")
	plan := &registry.AuthRecord{Body: []byte("plan"), Signatures: []registry.RosterSig{{Key: []byte("op"), Sig: []byte("sig")}}}
	if err := st.AppendRoster(registry.RosterRecord{Height: 1, Body: []byte("add d"), ReplaceWith: "x", Plans: map[string]*registry.AuthRecord{"k": plan}}, "p1", &registry.DeviceChange{ID: "d", Status: registry.DeviceActive}, e); err != nil {
		t.Fatal(err)
	}
	if e.Seq != before+1 {
		t.Fatalf("the append's audit entry was not sealed: %+v", e)
	}
	if d, _ := st.GetDevice("d"); d.Status != registry.DeviceActive {
		t.Fatalf("the device change was not applied: %+v", d)
	}
	if pend, _ := st.ListPendingRoster(); len(pend) != 0 {
		t.Fatalf("the pending entry was not deleted: %+v", pend)
	}
	if err := st.AppendRoster(registry.RosterRecord{Height: 1, Body: []byte("late")}, "", nil, nil); !errors.Is(err, registry.ErrRosterConflict) {
		t.Fatalf("an append at a taken height: %v", err)
	}
	recs, err := st.ListRoster(1)
	if err != nil || len(recs) != 1 || string(recs[0].Body) != "add d" || recs[0].ReplaceWith != "x" || len(recs[0].Plans) != 1 ||
		recs[0].Plans["k"] == nil || string(recs[0].Plans["k"].Body) != "plan" || string(recs[0].Plans["k"].Signatures[0].Sig) != "sig" {
		t.Fatalf("roster from 1 (the coordinator's notes, a revocation's replacement and plans, are kept to carry it out after a crash): %+v %v", recs, err)
	}
	if err := st.PutPendingRoster("p2", registry.RosterRecord{Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := st.DeletePendingRoster("p2"); err != nil {
		t.Fatal(err)
	}
	if pend, _ := st.ListPendingRoster(); len(pend) != 0 {
		t.Fatalf("delete pending: %+v", pend)
	}
}
