package coordinator

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/resharing"
)

// reshareRun is one attempt of runReshare: the plan, and what each step
// found and made.
type reshareRun struct {
	s     *Server
	gate  *keyGate
	spec  reshareSpec
	k     Key // the key: as read, then as recorded and committed
	rep   *ReshareReport
	entry auditlog.Entry

	old     []Device // the old committee
	epoch   uint64   // the new epoch's number
	members []Device // the session's: old and new committees
	told    []Device // told of the outcome
	atts    []resharing.SignedAttestation
	// keyPublic is the new epoch's public key data, if every new holder
	// reported the same.
	keyPublic []byte
	cert      []byte
	// session is the log id of the last session run: the protocol's, then
	// the test signature's.
	session string
}

// plan picks the old committee and checks the operators' ceremony.
func (r *reshareRun) plan() (string, error) {
	k, spec := r.k, r.spec
	var err error
	r.old, err = r.s.planReshare(k, spec)
	if err != nil {
		return "", err
	}
	r.rep.OldCommittee = names(r.old)
	if r.spec.auth, err = r.s.checkCeremony(spec.auth, roster.Session{KeyID: k.ID, Curve: rosterCurve(k), Epoch: k.Epoch, Threshold: k.Threshold,
		Committee: ids(r.old), NewThreshold: spec.newThreshold, NewCommittee: ids(spec.newHolders)}); err != nil {
		return "", err
	}
	return fmt.Sprintf("old committee %s (t=%d), new committee %s (t=%d)",
		strings.Join(r.rep.OldCommittee, ","), k.Threshold, strings.Join(r.rep.NewCommittee, ","), spec.newThreshold), nil
}

// record notes the attempt (1.) before any device stores anything for it.
func (r *reshareRun) record() error {
	spec := r.spec
	k, err := r.s.store.UpdateKey(r.k.ID, func(k *Key) error {
		if k.InFlight != nil {
			return failedPrecondition("a reshare of key %s to epoch %d is already recorded", k.ID, k.InFlight.Epoch)
		}
		r.epoch = k.Next()
		k.NextEpoch = r.epoch + 1
		k.InFlight = &InFlightReshare{Epoch: r.epoch, Kind: spec.kind, Holders: ids(spec.newHolders), Threshold: spec.newThreshold, Started: r.s.opts.Now()}
		return nil
	}, nil)
	if err != nil {
		return err
	}
	r.k = k
	r.rep.ToEpoch = r.epoch
	r.members = union(r.old, spec.newHolders)
	// Told of the outcome: every participant and every current holder (a
	// holder left out of the old committee must erase its share too).
	r.told = union(r.members, r.s.devicesOf(k.Holders))
	return nil
}

// protocol runs tss-lib's resharing (2.) and checks that every new holder
// stored a share of this very key and attests it (3.).
func (r *reshareRun) protocol(ctx context.Context) (string, error) {
	k, spec := r.k, r.spec
	res, err := r.s.sessions.Run(ctx, &mpcv1.SessionStart{
		Requester:     requester(ctx),
		Kind:          mpcv1.SessionKind_SESSION_KIND_RESHARE,
		Curve:         curveProto(k),
		ChainCode:     k.ChainCode,
		KeyId:         k.ID,
		Epoch:         k.Epoch,
		Threshold:     uint32(k.Threshold),
		NewEpoch:      r.epoch,
		NewThreshold:  uint32(spec.newThreshold),
		OldCommittee:  ids(r.old),
		NewCommittee:  ids(spec.newHolders),
		Authorization: spec.auth,
	}, r.members, &k)
	r.session = res.ID
	if err != nil {
		return "", err
	}
	newResults := map[string]*mpcv1.SessionResult{}
	for _, d := range spec.newHolders {
		res := res.Results[d.ID]
		if res == nil || !bytes.Equal(res.GetPublicKey(), k.PublicKey) {
			return "", &SessionError{Kind: "reshare", Reason: "a new holder reported another public key", Culprits: []string{d.Name}, Blame: BlameProven, CulpritIDs: []string{d.ID}}
		}
		newResults[d.ID] = res
	}
	r.keyPublic = sameKeyPublic(newResults)
	r.atts, err = r.s.attestations("reshare", k.ID, rosterCurve(k), r.epoch, k.PublicKey, k.ChainCode, spec.newThreshold, spec.newHolders, res.Results)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d new shares stored as pending and attested", len(spec.newHolders)), nil
}

// testSignature has the pending shares sign (4.), under the same public
// key, before anything is committed: old holders erase only on this proof.
func (r *reshareRun) testSignature(ctx context.Context) (string, error) {
	k, spec := r.k, r.spec
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	digest, err := resharing.TestDigest(k.ID, r.epoch, nonce)
	if err != nil {
		return "", err
	}
	r.rep.TestDigest = digest
	it := signItem{digest: digest, testNonce: nonce}
	if k.IsEd25519() {
		it = signItem{message: digest, testNonce: nonce} // Ed25519 signs the message itself
	}
	if k.DerivationOnly {
		it.path = drillPath // the root key never signs
		r.rep.TestPath = drillPath
	}
	pending := Key{ID: k.ID, Curve: k.Curve, PublicKey: k.PublicKey, ChainCode: k.ChainCode, DerivationOnly: k.DerivationOnly,
		Epoch: r.epoch, Threshold: spec.newThreshold, Holders: ids(spec.newHolders), KeyPublic: r.keyPublic}
	out, err := r.s.signWithKey(ctx, pending, it)
	r.session = out.session
	if err != nil {
		return "", err
	}
	if out.sig.ed != nil {
		r.rep.TestSig = out.sig.ed
	} else {
		r.rep.TestSig = out.sig.ecdsa.RSV[:]
	}
	if r.cert, err = r.s.certificate(k, r.epoch, r.atts, nonce, it.path, out.sig); err != nil {
		return "", err
	}
	return "signed with the pending shares by " + strings.Join(names(out.signers), ","), nil
}

// commit is the commit point (5.), atomically with its certificate and
// audit entry; then old holders erase and new holders promote (6.), each on
// the certificate (the rest on reconnect).
func (r *reshareRun) commit(ctx context.Context) (string, error) {
	s, spec, rep, epoch := r.s, r.spec, r.rep, r.epoch
	r.gate.rw.Lock()
	defer r.gate.rw.Unlock()
	r.entry.Devices = rep.NewCommittee
	r.entry.Detail = fmt.Sprintf("epoch %d -> %d; old committee %s (t=%d); new committee %s (t=%d); attested by every new holder, test signature with epoch %d verified",
		rep.FromEpoch, epoch, strings.Join(rep.OldCommittee, ","), r.k.Threshold, strings.Join(rep.NewCommittee, ","), spec.newThreshold, epoch)
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
	newHolders := ids(spec.newHolders)
	k, err := s.updateKeyAudited(ctx, r.k.ID, func(k *Key) error {
		if k.InFlight == nil || k.InFlight.Epoch != epoch {
			return errors.New("the reshare was abandoned meanwhile")
		}
		for _, h := range k.Holders {
			if !slices.Contains(newHolders, h) && !slices.Contains(k.PastHolders, h) {
				k.PastHolders = append(k.PastHolders, h)
			}
		}
		k.PastHolders = slices.DeleteFunc(k.PastHolders, func(h string) bool { return slices.Contains(newHolders, h) })
		k.Epoch, k.Holders, k.Threshold, k.InFlight = epoch, newHolders, spec.newThreshold, nil
		k.Certificate, k.Attestations, k.CommitAuth = r.cert, attRecords(r.atts), authRecord(spec.auth)
		// The new epoch's party keys derive from each holder's own identity,
		// and restores of the old epoch can never be bound any more.
		k.PartyKeyIdentity, k.PendingRestores = nil, nil
		k.KeyPublic = r.keyPublic
		return nil
	}, &r.entry)
	if err != nil {
		return "", err
	}
	r.k = k
	rep.Committed = true
	s.crashAt(CrashAfterCommit)
	s.pushKeySync(k, r.told[:1])
	if s.opts.CrashAt != nil {
		// Test only: let that first message leave before the crash.
		s.links.Drained(r.told[0].ID, 2*time.Second)
	}
	s.crashAt(CrashDuringErasure)
	s.pushKeySync(k, r.told[1:])
	return fmt.Sprintf("epoch %d committed", epoch), nil
}

// abandon ends the attempt before its commit point (abandonReshare), with
// the failure in the report.
func (r *reshareRun) abandon(ctx context.Context, entry auditlog.Entry, cause error) error {
	r.rep.Error = errorText(cause)
	return r.s.abandonReshare(ctx, r.session, r.k.ID, r.epoch, r.told, entry, cause)
}
