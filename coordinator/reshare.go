package coordinator

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/resharing"
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

// CrashPoint names a point of a reshare where a test may crash the
// coordinator (Options.CrashAt); the product never sets it.
type CrashPoint string

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
	rep := &ReshareReport{KeyID: k.ID, Kind: spec.kind, FromEpoch: k.Epoch, OldThreshold: k.Threshold,
		NewThreshold: spec.newThreshold, NewCommittee: names(spec.newHolders), PublicKey: k.PublicKey, Started: s.opts.Now()}
	entry := auditlog.Entry{Action: "key." + string(spec.kind), KeyID: k.ID}

	var old []Device
	if err := step(rep, StepPlan, func() (string, error) {
		var err error
		old, err = s.planReshare(k, spec)
		if err != nil {
			return "", err
		}
		rep.OldCommittee = names(old)
		if spec.auth, err = s.checkCeremony(spec.auth, roster.Session{KeyID: k.ID, Curve: rosterCurve(k), Epoch: k.Epoch, Threshold: k.Threshold,
			Committee: ids(old), NewThreshold: spec.newThreshold, NewCommittee: ids(spec.newHolders)}); err != nil {
			return "", err
		}
		return fmt.Sprintf("old committee %s (t=%d), new committee %s (t=%d)",
			strings.Join(rep.OldCommittee, ","), k.Threshold, strings.Join(rep.NewCommittee, ","), spec.newThreshold), nil
	}); err != nil {
		return k, rep, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.KeygenTimeout)
	defer cancel()
	if err := step(rep, StepWaitDevices, func() (string, error) {
		return "", s.waitReady(ctx, spec.newHolders, !k.IsEd25519())
	}); err != nil {
		return k, rep, err
	}
	// 1. Record the attempt before any device stores anything for it.
	var epoch uint64
	k, err = s.store.UpdateKey(k.ID, func(k *Key) error {
		if k.InFlight != nil {
			return failedPrecondition("a reshare of key %s to epoch %d is already recorded", k.ID, k.InFlight.Epoch)
		}
		epoch = k.Next()
		k.NextEpoch = epoch + 1
		k.InFlight = &InFlightReshare{Epoch: epoch, Kind: spec.kind, Holders: ids(spec.newHolders), Threshold: spec.newThreshold, Started: s.opts.Now()}
		return nil
	}, nil)
	if err != nil {
		return k, rep, err
	}
	rep.ToEpoch = epoch
	members := union(old, spec.newHolders)
	// Told of the outcome: every participant and every current holder (a
	// holder left out of the old committee must erase its share too).
	told := union(members, s.devicesOf(k.Holders))
	// 2. The protocol.
	var atts []resharing.SignedAttestation
	var keyPublic []byte // the new epoch's public key data, if every new holder reported the same
	var session string   // the log id of the last session run: the protocol's, then the test signature's
	err = step(rep, StepProtocol, func() (string, error) {
		res, err := s.sessions.run(ctx, &mpcv1.SessionStart{
			Requester:     requester(ctx),
			Kind:          mpcv1.SessionKind_SESSION_KIND_RESHARE,
			Curve:         curveProto(k),
			ChainCode:     k.ChainCode,
			KeyId:         k.ID,
			Epoch:         k.Epoch,
			Threshold:     uint32(k.Threshold),
			NewEpoch:      epoch,
			NewThreshold:  uint32(spec.newThreshold),
			OldCommittee:  ids(old),
			NewCommittee:  ids(spec.newHolders),
			Authorization: spec.auth,
		}, members, &k)
		session = res.id
		if err != nil {
			return "", err
		}
		results := res.results
		// 3. Every new holder stored a share of this very key, and says so.
		for _, d := range spec.newHolders {
			if r := results[d.ID]; r == nil || !bytes.Equal(r.GetPublicKey(), k.PublicKey) {
				return "", &SessionError{Kind: "reshare", Reason: "a new holder reported another public key", Culprits: []string{d.Name}, Blame: BlameProven, ids: []string{d.ID}}
			}
		}
		newResults := map[string]*mpcv1.SessionResult{}
		for _, d := range spec.newHolders {
			newResults[d.ID] = results[d.ID]
		}
		keyPublic = sameKeyPublic(newResults)
		atts, err = s.attestations("reshare", k.ID, rosterCurve(k), epoch, k.PublicKey, k.ChainCode, spec.newThreshold, spec.newHolders, results)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d new shares stored as pending and attested", len(spec.newHolders)), nil
	})
	if err != nil {
		rep.Error = errorText(err)
		return k, rep, s.abandonReshare(ctx, session, k.ID, epoch, told, entry, err)
	}
	reshareSession := session // before the test signature's own
	// 4. The pending shares sign, under the same public key, before anything
	// is committed: old holders erase only on this proof.
	var cert []byte
	err = step(rep, StepTestSignature, func() (string, error) {
		nonce := make([]byte, 16)
		if _, err := rand.Read(nonce); err != nil {
			return "", err
		}
		digest, err := resharing.TestDigest(k.ID, epoch, nonce)
		if err != nil {
			return "", err
		}
		rep.TestDigest = digest
		it := signItem{digest: digest, testNonce: nonce}
		if k.IsEd25519() {
			it = signItem{message: digest, testNonce: nonce} // Ed25519 signs the message itself
		}
		if k.DerivationOnly {
			it.path = drillPath // the root key never signs
			rep.TestPath = drillPath
		}
		pending := Key{ID: k.ID, Curve: k.Curve, PublicKey: k.PublicKey, ChainCode: k.ChainCode, DerivationOnly: k.DerivationOnly,
			Epoch: epoch, Threshold: spec.newThreshold, Holders: ids(spec.newHolders), KeyPublic: keyPublic}
		out, err := s.signWithKey(ctx, pending, it)
		session = out.session
		if err != nil {
			return "", err
		}
		sig, signers := out.sig, out.signers
		if sig.ed != nil {
			rep.TestSig = sig.ed
		} else {
			rep.TestSig = sig.ecdsa.RSV[:]
		}
		if cert, err = s.certificate(k, epoch, atts, nonce, it.path, sig); err != nil {
			return "", err
		}
		return "signed with the pending shares by " + strings.Join(names(signers), ","), nil
	})
	if err != nil {
		rep.Error = errorText(err)
		return k, rep, s.abandonReshare(ctx, session, k.ID, epoch, told, entry, err)
	}
	s.crashAt(CrashBeforeCommit)
	// 5. The commit point, atomically with its certificate and audit entry.
	err = step(rep, StepCommit, func() (string, error) {
		g.rw.Lock()
		defer g.rw.Unlock()
		entry.Devices = rep.NewCommittee
		entry.Detail = fmt.Sprintf("epoch %d -> %d; old committee %s (t=%d); new committee %s (t=%d); attested by every new holder, test signature with epoch %d verified",
			rep.FromEpoch, epoch, strings.Join(rep.OldCommittee, ","), k.Threshold, strings.Join(rep.NewCommittee, ","), spec.newThreshold, epoch)
		// A device revoked while the protocol ran must not become a holder.
		for _, d := range spec.newHolders {
			if cur, err := s.store.GetDevice(d.ID); err != nil || cur.Status != DeviceActive {
				return "", failedPrecondition("device %s was revoked during the reshare", d.Name)
			}
		}
		// No device connects between the commit and its KeySync push: one
		// that does gets the committed state in its connect-time sync.
		s.syncMu.Lock()
		defer s.syncMu.Unlock()
		var err error
		k, err = s.updateKeyAudited(ctx, k.ID, func(k *Key) error {
			if k.InFlight == nil || k.InFlight.Epoch != epoch {
				return errors.New("the reshare was abandoned meanwhile")
			}
			for _, h := range k.Holders {
				if !slices.Contains(ids(spec.newHolders), h) && !slices.Contains(k.PastHolders, h) {
					k.PastHolders = append(k.PastHolders, h)
				}
			}
			k.PastHolders = slices.DeleteFunc(k.PastHolders, func(h string) bool { return slices.Contains(ids(spec.newHolders), h) })
			k.Epoch, k.Holders, k.Threshold, k.InFlight = epoch, ids(spec.newHolders), spec.newThreshold, nil
			k.Certificate, k.Attestations, k.CommitAuth = cert, attRecords(atts), authRecord(spec.auth)
			// The new epoch's party keys derive from each holder's own identity,
			// and restores of the old epoch can never be bound any more.
			k.PartyKeyIdentity, k.PendingRestores = nil, nil
			k.KeyPublic = keyPublic
			return nil
		}, &entry)
		if err != nil {
			return "", err
		}
		rep.Committed = true
		s.crashAt(CrashAfterCommit)
		// 6. Old holders erase, new holders promote, each on the certificate
		// (the rest on reconnect).
		s.pushKeySync(k, told[:1])
		if s.opts.CrashAt != nil {
			// Test only: let that first message leave before the crash.
			s.links.drained(told[0].ID, 2*time.Second)
		}
		s.crashAt(CrashDuringErasure)
		s.pushKeySync(k, told[1:])
		return fmt.Sprintf("epoch %d committed", epoch), nil
	})
	if err != nil {
		rep.Error = errorText(err)
		if !rep.Committed {
			return k, rep, s.abandonReshare(ctx, session, k.ID, epoch, told, auditlog.Entry{Action: "key." + string(spec.kind), KeyID: k.ID}, err)
		}
		return k, rep, err
	}
	s.log.Info("reshare committed", "session", reshareSession, "key", k.ID, "epoch", epoch, "holders", rep.NewCommittee, "threshold", spec.newThreshold)
	rep.OK = true
	k, err = s.store.UpdateKey(k.ID, func(k *Key) error { k.LastReshare = rep; return nil }, nil)
	if err != nil {
		return k, rep, err
	}
	return k, rep, nil
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
		if s.links.get(d.ID) == nil {
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
	keys, err := s.store.ListKeys()
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
		if l := s.links.get(d.ID); l != nil {
			l.send(msg)
		}
	}
}

// keySyncBatch bounds the keys in one KeySync message.
const keySyncBatch = 1000

// sendKeySync queues where the device's keys stand on a new link (keys it
// holds, held, or may hold after a running reshare), before the link can
// carry any session. The caller holds syncMu.
func (s *Server) sendKeySync(l *link) error {
	all, err := s.store.ListKeys()
	if err != nil {
		return err
	}
	var keys []Key
	for _, k := range all {
		if slices.Contains(k.Holders, l.deviceID) || slices.Contains(k.PastHolders, l.deviceID) ||
			k.InFlight != nil && slices.Contains(k.InFlight.Holders, l.deviceID) {
			keys = append(keys, k)
		}
	}
	for len(keys) > 0 {
		n := min(len(keys), keySyncBatch)
		ks := &mpcv1.KeySync{}
		for _, k := range keys[:n] {
			ks.Keys = append(ks.Keys, compromisedKeyEpoch(keyEpoch(k)))
		}
		keys = keys[n:]
		if !l.send(&mpcv1.ConnectResponse{Msg: &mpcv1.ConnectResponse_KeySync{KeySync: ks}}) {
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
