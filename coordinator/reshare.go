package coordinator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mpcsign/mpcsign/coordinator/relay"
	"github.com/mpcsign/mpcsign/internal/auditlog"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// step times fn as step name of report r.
func step(r *ReshareReport, name StepName, fn func() (string, error)) error {
	began := time.Now()
	detail, err := fn()
	st := ReshareStep{Name: name, Duration: time.Since(began), OK: err == nil, Detail: detail}
	if err != nil && st.Detail == "" {
		st.Detail = errorText(err) // reports reach clients: never raw internal errors
	}
	r.Steps = append(r.Steps, st)
	return err
}

// reached says whether report r got to step name (failed there or later).
func reached(r *ReshareReport, name StepName) bool {
	return r != nil && slices.ContainsFunc(r.Steps, func(st ReshareStep) bool { return st.Name == name })
}

// keyGate orders work on one key: signatures share it (read side); the
// commit of a reshare takes it alone, so that no signature is running with
// an epoch while its holders are told to erase it. reshare allows one
// reshare of the key at a time.
type keyGate struct {
	rw      sync.RWMutex
	reshare sync.Mutex
}

type keyGates struct{ m sync.Map }

func (g *keyGates) get(keyID string) *keyGate {
	v, _ := g.m.LoadOrStore(keyID, &keyGate{})
	return v.(*keyGate)
}

// Crash points of a reshare.
const (
	CrashBeforeCommit  CrashPoint = "reshare.before-commit"
	CrashAfterCommit   CrashPoint = "reshare.after-commit"
	CrashDuringErasure CrashPoint = "reshare.during-erasure" // the first participant was told, the others not
)

func (s *Server) crashAt(p CrashPoint) {
	if s.opts.CrashAt != nil {
		s.opts.CrashAt(p)
	}
}

// reshareSpec is a planned committee change.
type reshareSpec struct {
	kind         ReshareKind
	newHolders   []Device
	newThreshold int
	// auth is the operators' signed ceremony (with a roster).
	auth *mpcv1.Authorization
}

// runReshare moves key keyID to a new committee and threshold with the same
// public key, by two-phase commit:
//  1. the reshare to a fresh epoch number is recorded as in flight;
//  2. tss-lib resharing runs; new holders store their share as pending
//     (synchronously), then sign an attestation of it, before they report;
//  3. every new holder's attestation must hold (its key, epoch, public key,
//     threshold and committee);
//  4. a labelled test digest is signed with the pending shares, and the
//     commit certificate (the attestations and that signature) is checked
//     as devices will check it;
//  5. the new epoch is recorded as committed with its certificate and audit
//     entry in one transaction (the commit point);
//  6. every online participant is told (KeySync, with the certificate):
//     new holders promote and old holders erase, each only once the
//     certificate verifies against its own roster; devices offline now are
//     told when they reconnect.
//
// Before the commit point a failure abandons the attempt and the old epoch
// keeps signing. The report says how far it got.
func (s *Server) runReshare(ctx context.Context, keyID string, spec reshareSpec) (Key, *ReshareReport, error) {
	g := s.gates.get(keyID)
	if !g.reshare.TryLock() {
		return Key{}, nil, failedPrecondition("a reshare of key %s is already running", keyID)
	}
	defer g.reshare.Unlock()
	k, err := s.getKey(keyID)
	if err != nil {
		return Key{}, nil, err
	}
	r := &reshareRun{s: s, gate: g, spec: spec, k: k,
		rep: &ReshareReport{KeyID: k.ID, Kind: spec.kind, FromEpoch: k.Epoch, OldThreshold: k.Threshold,
			NewThreshold: spec.newThreshold, NewCommittee: names(spec.newHolders), PublicKey: k.PublicKey, Started: s.opts.Now()},
		entry: auditlog.Entry{Action: "key." + string(spec.kind), KeyID: k.ID}}
	if err := step(r.rep, StepPlan, r.plan); err != nil {
		return r.k, r.rep, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.KeygenTimeout)
	defer cancel()
	if err := step(r.rep, StepWaitDevices, func() (string, error) {
		return "", s.waitReady(ctx, spec.newHolders, !k.IsEd25519())
	}); err != nil {
		return r.k, r.rep, err
	}
	if err := r.record(); err != nil {
		return r.k, r.rep, err
	}
	if err := step(r.rep, StepProtocol, func() (string, error) { return r.protocol(ctx) }); err != nil {
		return r.k, r.rep, r.abandon(ctx, r.entry, err)
	}
	reshareSession := r.session // before the test signature's own
	if err := step(r.rep, StepTestSignature, func() (string, error) { return r.testSignature(ctx) }); err != nil {
		return r.k, r.rep, r.abandon(ctx, r.entry, err)
	}
	s.crashAt(CrashBeforeCommit)
	if err := step(r.rep, StepCommit, func() (string, error) { return r.commit(ctx) }); err != nil {
		if !r.rep.Committed {
			return r.k, r.rep, r.abandon(ctx, auditlog.Entry{Action: "key." + string(spec.kind), KeyID: k.ID}, err)
		}
		r.rep.Error = errorText(err)
		return r.k, r.rep, err
	}
	s.log.Info("reshare committed", "session", reshareSession, "key", k.ID, "epoch", r.epoch, "holders", r.rep.NewCommittee, "threshold", spec.newThreshold)
	r.rep.OK = true
	k, err = s.store.UpdateKey(k.ID, func(k *Key) error { k.LastReshare = r.rep; return nil }, nil)
	if err != nil {
		return k, r.rep, err
	}
	return k, r.rep, nil
}

// lastDrill is the report of k's last drill: LastDrill, or for a key whose
// last drill came before drills were kept apart, LastReshare when that was
// a drill.
func lastDrill(k Key) *ReshareReport {
	if k.LastDrill == nil && k.LastReshare != nil && k.LastReshare.Kind == KindDrill {
		return k.LastReshare
	}
	return k.LastDrill
}

// recordDrill keeps a drill's final report with its key (Key.LastDrill),
// whatever its outcome, and returns the key as stored; k if it could not.
func (s *Server) recordDrill(k Key, rep *ReshareReport) Key {
	k2, err := s.store.UpdateKey(rep.KeyID, func(k *Key) error { k.LastDrill = rep; return nil }, nil)
	if err != nil {
		s.log.Warn("could not record the drill's report with its key", "key", rep.KeyID, "err", err)
		return k
	}
	return k2
}

// planReshare checks the new committee and picks the old one: threshold+1
// online, active holders of the current epoch, preferring those that stay.
func (s *Server) planReshare(k Key, spec reshareSpec) ([]Device, error) {
	n, t := len(spec.newHolders), spec.newThreshold
	if n < 2 || n > 64 {
		return nil, invalidArg("a key needs 2 to 64 devices, got %d", n)
	}
	if t < 1 || t >= n {
		return nil, invalidArg("threshold %d does not fit %d devices: t+1 devices sign, so 1 <= t <= %d", t, n, n-1)
	}
	var offline []string
	for _, d := range spec.newHolders {
		if d.Status != DeviceActive {
			return nil, failedPrecondition("device %q is %s", d.Name, d.Status)
		}
		if s.links.Get(d.ID) == nil {
			offline = append(offline, d.Name)
		}
	}
	if len(offline) > 0 {
		return nil, unavailable("every device of the new committee must be online; offline: %s", strings.Join(offline, ", "))
	}
	stays := map[string]bool{}
	for _, d := range spec.newHolders {
		stays[d.ID] = true
	}
	holders := slices.Clone(k.Holders)
	slices.SortStableFunc(holders, func(a, b string) int {
		switch {
		case stays[a] == stays[b]:
			return 0
		case stays[a]:
			return -1
		}
		return 1
	})
	return s.pickSigners(Key{ID: k.ID, Threshold: k.Threshold, Holders: holders}, nil)
}

// abandonReshare ends an attempt before its commit point: the attempt is
// cleared (its epoch number is never used again) with a failed audit entry,
// and the participants drop their pending shares of it.
func (s *Server) abandonReshare(ctx context.Context, session, keyID string, epoch uint64, members []Device, entry auditlog.Entry, cause error) error {
	entry.Result = "failed"
	var se *SessionError
	if errors.As(cause, &se) {
		entry.Culprits = se.Culprits
	}
	entry.Detail = fmt.Sprintf("reshare to epoch %d abandoned: %s", epoch, cause)
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	k, err := s.updateKeyAudited(context.WithoutCancel(ctx), keyID, func(k *Key) error {
		if k.InFlight != nil && k.InFlight.Epoch == epoch {
			k.InFlight = nil
		}
		return nil
	}, &entry)
	if err != nil {
		return err
	}
	s.pushKeySync(k, members)
	s.log.Warn("reshare abandoned; the old epoch still signs", "session", session, "key", keyID, "epoch", epoch, "err", cause)
	return cause
}

// recoverReshares abandons reshares that a previous run of the coordinator
// left in flight: nothing can finish them, and their pending shares must go.
func (s *Server) recoverReshares() error {
	keys, err := s.store.ListKeysInFlight()
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.InFlight == nil {
			continue
		}
		e := auditlog.Entry{Action: "key." + string(cmp.Or(k.InFlight.Kind, KindReshare)), KeyID: k.ID, Result: "failed", Actor: "system:recovery",
			Detail: fmt.Sprintf("reshare to epoch %d abandoned: the coordinator restarted before its commit point", k.InFlight.Epoch)}
		if _, err := s.updateKeyAudited(context.Background(), k.ID, func(k *Key) error { k.InFlight = nil; return nil }, &e); err != nil {
			return err
		}
		s.log.Warn("abandoned a reshare left in flight by the last run", "key", k.ID, "epoch", k.InFlight.Epoch)
	}
	return nil
}

// updateKeyAudited changes a key and appends its audit entry in one
// transaction.
func (s *Server) updateKeyAudited(ctx context.Context, keyID string, fn func(*Key) error, e *auditlog.Entry) (Key, error) {
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	if e.Actor == "" {
		e.Actor = actor(ctx)
	}
	if e.Result == "" {
		e.Result = "ok"
	}
	e.Time = s.opts.Now().UTC()
	k, err := s.store.UpdateKey(keyID, fn, e)
	if err != nil {
		var ce *clientError
		if !errors.As(err, &ce) {
			s.log.Error("could not update the key with its audit entry", "key", keyID, "action", e.Action, "err", err)
		}
		return k, err
	}
	s.metrics.audited(e.Seq)
	return k, nil
}

func keyEpoch(k Key) *mpcv1.KeyEpoch {
	ke := &mpcv1.KeyEpoch{KeyId: k.ID, CommittedEpoch: k.Epoch, NextEpoch: k.Next(), Certificate: k.Certificate, Authorization: authProto(k.CommitAuth)}
	if k.InFlight != nil {
		ke.InFlightEpoch = k.InFlight.Epoch
	}
	return ke
}

// pushKeySync tells the online devices among members where k stands.
func (s *Server) pushKeySync(k Key, members []Device) {
	msg := &mpcv1.ConnectResponse{Msg: &mpcv1.ConnectResponse_KeySync{KeySync: &mpcv1.KeySync{Keys: []*mpcv1.KeyEpoch{keyEpoch(k)}}}}
	for _, d := range members {
		if l := s.links.Get(d.ID); l != nil {
			l.Send(msg)
		}
	}
}

// keySyncBatch bounds the keys in one KeySync message.
const keySyncBatch = 1000

// sendKeySync queues where the device's keys stand on a new link (keys it
// holds, held, or may hold after a running reshare), before the link can
// carry any session. The caller holds syncMu.
func (s *Server) sendKeySync(l *relay.Link) error {
	keys, err := s.store.ListKeysOfDevice(l.DeviceID())
	if err != nil {
		return err
	}
	// A device whose only tie to a key is a restored share waiting for
	// approval is not told of it: it holds no share of the key yet.
	keys = slices.DeleteFunc(keys, func(k Key) bool {
		return !slices.Contains(k.Holders, l.DeviceID()) && !slices.Contains(k.PastHolders, l.DeviceID()) &&
			(k.InFlight == nil || !slices.Contains(k.InFlight.Holders, l.DeviceID()))
	})
	for len(keys) > 0 {
		n := min(len(keys), keySyncBatch)
		ks := &mpcv1.KeySync{}
		for _, k := range keys[:n] {
			ks.Keys = append(ks.Keys, compromisedKeyEpoch(keyEpoch(k)))
		}
		keys = keys[n:]
		if !l.Send(&mpcv1.ConnectResponse{Msg: &mpcv1.ConnectResponse_KeySync{KeySync: ks}}) {
			return unavailable("link closed")
		}
	}
	return nil
}

// drillPath is the derived key a derivation-only key's drills sign with.
const drillPath = "m/2147483647"

func ids(ds []Device) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func union(a, b []Device) []Device {
	seen := map[string]bool{}
	var out []Device
	for _, d := range append(slices.Clone(a), b...) {
		if !seen[d.ID] {
			seen[d.ID] = true
			out = append(out, d)
		}
	}
	return out
}

// devicesOf looks up devices by id, skipping unknown ones.
func (s *Server) devicesOf(idList []string) []Device {
	var out []Device
	for _, id := range idList {
		if d, err := s.store.GetDevice(id); err == nil {
			out = append(out, d)
		}
	}
	return out
}

// ReshareKey moves a key to a new committee and threshold.
func (s *Server) ReshareKey(ctx context.Context, req *mpcv1.ReshareKeyRequest) (*mpcv1.ReshareKeyResponse, error) {
	if s.draining.Load() {
		return nil, ErrShuttingDown
	}
	k, err := s.getKey(req.GetKeyId())
	if err != nil {
		return nil, err
	}
	refs := req.GetDevices()
	if len(refs) == 0 {
		refs = k.Holders
	}
	var devs []Device
	seen := map[string]bool{}
	for _, ref := range refs {
		d, err := s.resolveDevice(ref)
		if err != nil {
			return nil, err
		}
		if seen[d.ID] {
			return nil, invalidArg("device %q is listed twice", ref)
		}
		seen[d.ID] = true
		devs = append(devs, d)
	}
	t := k.Threshold
	if req.Threshold != nil {
		t = int(req.GetThreshold())
	}
	k, rep, err := s.runReshare(ctx, k.ID, reshareSpec{kind: KindReshare, newHolders: devs, newThreshold: t, auth: req.GetAuthorization()})
	if rep == nil {
		return nil, err
	}
	if err != nil && !rep.Committed {
		return nil, err
	}
	return &mpcv1.ReshareKeyResponse{Key: s.keyProto(k), Report: reportProto(rep)}, nil
}

// DrillKey reshares a key to its own committee (a proactive refresh) and
// checks that the new shares sign under the same public key. A drill that
// fails before its commit leaves the key as it was; the report says why.
func (s *Server) DrillKey(ctx context.Context, req *mpcv1.DrillKeyRequest) (*mpcv1.DrillKeyResponse, error) {
	if s.draining.Load() {
		return nil, ErrShuttingDown
	}
	k, err := s.getKey(req.GetKeyId())
	if err != nil {
		return nil, err
	}
	holders := k.Holders
	if ids := compromisedDrillHolders(req.GetAuthorization()); ids != nil {
		holders = ids // a test build's attacker (compromised_on.go)
	}
	var devs []Device
	for _, id := range holders {
		d, err := s.store.GetDevice(id)
		if err != nil {
			return nil, err
		}
		devs = append(devs, d)
	}
	k2, rep, err := s.runReshare(ctx, k.ID, reshareSpec{kind: KindDrill, newHolders: devs, newThreshold: k.Threshold, auth: req.GetAuthorization()})
	if rep == nil {
		return nil, err
	}
	if err != nil {
		rep.OK = false
		if rep.Error == "" {
			rep.Error = errorText(err)
		}
		if !rep.Committed {
			k2 = k
		}
	}
	k2 = s.recordDrill(k2, rep)
	return &mpcv1.DrillKeyResponse{Key: s.keyProto(k2), Report: reportProto(rep)}, nil
}

func reportProto(r *ReshareReport) *mpcv1.ReshareReport {
	if r == nil {
		return nil
	}
	out := &mpcv1.ReshareReport{KeyId: r.KeyID, Ok: r.OK, Error: r.Error, FromEpoch: r.FromEpoch, ToEpoch: r.ToEpoch,
		OldThreshold: uint32(r.OldThreshold), NewThreshold: uint32(r.NewThreshold), OldCommittee: r.OldCommittee,
		NewCommittee: r.NewCommittee, Committed: r.Committed, PublicKey: r.PublicKey, TestDigest: r.TestDigest, TestSignature: r.TestSig, TestPath: r.TestPath,
		Kind: string(r.Kind)}
	if !r.Started.IsZero() {
		out.StartedAt = timestamppb.New(r.Started)
	}
	for _, st := range r.Steps {
		out.Steps = append(out.Steps, &mpcv1.ReshareStep{Name: string(st.Name), DurationMs: uint64(st.Duration.Milliseconds()), Ok: st.OK, Detail: st.Detail})
	}
	return out
}
