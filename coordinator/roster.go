package coordinator

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// rosterBook is the coordinator's copy of the operator-signed roster. The
// coordinator verifies what it is given (so that it serves nothing a device
// would refuse), stores it and pushes it to devices; it holds no key that
// could make an entry. Devices verify every entry themselves from the
// genesis they pinned at enrolment.
type rosterBook struct {
	// mu serialises roster changes, and a device's first roster update with
	// its registration as a link (so no connecting device misses an entry).
	mu      sync.Mutex
	state   *roster.State // nil before a genesis was submitted
	entries []*mpcv1.RosterEntry
}

// loadRoster verifies the stored roster at start. A stored roster that does
// not verify stops the coordinator: serving it would only make every device
// refuse it.
func (s *Server) loadRoster() error {
	recs, err := s.store.ListRoster(0)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	entries := make([]roster.Entry, len(recs))
	for i, r := range recs {
		entries[i] = recordEntry(r)
	}
	st, err := roster.Verify(entries[0].Hash(), entries)
	if err != nil {
		return fmt.Errorf("the stored roster does not verify (restore the store from a backup): %w", err)
	}
	s.roster.state = st
	for _, r := range recs {
		s.roster.entries = append(s.roster.entries, recordProto(r))
	}
	return nil
}

// hasRoster reports whether a genesis was submitted.
func (s *Server) hasRoster() bool {
	s.roster.mu.Lock()
	defer s.roster.mu.Unlock()
	return s.roster.state != nil
}

// onRoster reports whether a device was ever added to the roster.
func (s *Server) onRoster(deviceID string) bool {
	s.roster.mu.Lock()
	defer s.roster.mu.Unlock()
	if s.roster.state == nil {
		return false
	}
	_, ok := s.roster.state.Device(deviceID)
	return ok
}

// rosterGenesis is the roster's genesis hash (zero without a roster).
func (s *Server) rosterGenesis() roster.Hash {
	s.roster.mu.Lock()
	defer s.roster.mu.Unlock()
	if s.roster.state == nil {
		return roster.Hash{}
	}
	return s.roster.state.GenesisHash()
}

func recordEntry(r RosterRecord) roster.Entry {
	e := roster.Entry{Body: r.Body}
	for _, sg := range r.Signatures {
		e.Signatures = append(e.Signatures, roster.Signature{Key: sg.Key, Sig: sg.Sig})
	}
	return e
}

func recordProto(r RosterRecord) *mpcv1.RosterEntry {
	p := &mpcv1.RosterEntry{Body: r.Body}
	for _, sg := range r.Signatures {
		p.Signatures = append(p.Signatures, &mpcv1.RosterSignature{Key: sg.Key, Signature: sg.Sig})
	}
	return p
}

func entryRecord(height uint64, e roster.Entry) RosterRecord {
	r := RosterRecord{Height: height, Body: e.Body}
	for _, sg := range e.Signatures {
		r.Signatures = append(r.Signatures, RosterSig{Key: sg.Key, Sig: sg.Sig})
	}
	return r
}

// mergeSignatures adds the signatures of b that a lacks (same body).
func mergeSignatures(a, b roster.Entry) roster.Entry {
	out := roster.Entry{Body: a.Body, Signatures: slices.Clone(a.Signatures)}
	for _, sg := range b.Signatures {
		if !slices.ContainsFunc(out.Signatures, func(x roster.Signature) bool { return string(x.Key) == string(sg.Key) }) {
			out.Signatures = append(out.Signatures, sg)
		}
	}
	return out
}

// GetRoster returns the roster from a height on, and the pending entries.
func (s *Server) GetRoster(ctx context.Context, req *mpcv1.GetRosterRequest) (*mpcv1.GetRosterResponse, error) {
	s.roster.mu.Lock()
	defer s.roster.mu.Unlock()
	resp := &mpcv1.GetRosterResponse{Exists: s.roster.state != nil}
	if s.roster.state != nil {
		resp.Height = s.roster.state.Height()
		if from := req.GetFromHeight(); from <= resp.Height {
			resp.Entries = slices.Clone(s.roster.entries[from:])
		}
	}
	// Before the roster exists, a genesis may wait for more signatures.
	pending, err := s.pendingRosterLocked()
	if err != nil {
		return nil, err
	}
	for _, p := range pending {
		resp.Pending = append(resp.Pending, recordProto(p))
	}
	return resp, nil
}

// pendingRosterLocked lists pending entries that still extend the roster,
// dropping the stale ones (made at a height the roster has passed).
func (s *Server) pendingRosterLocked() (map[string]RosterRecord, error) {
	all, err := s.store.ListPendingRoster()
	if err != nil {
		return nil, err
	}
	for id, r := range all {
		if s.roster.state != nil && r.Height != s.roster.state.Height()+1 {
			if err := s.store.DeletePendingRoster(id); err != nil {
				return nil, err
			}
			delete(all, id)
		}
	}
	return all, nil
}

// SubmitRosterEntry adds an operator's signatures to a roster entry.
func (s *Server) SubmitRosterEntry(ctx context.Context, req *mpcv1.SubmitRosterEntryRequest) (*mpcv1.SubmitRosterEntryResponse, error) {
	if req.GetEntry() == nil {
		return nil, invalidArg("entry is required")
	}
	return s.submitRoster(ctx, roster.EntryFromProto(req.GetEntry()), "", nil)
}

// submitRoster merges e with a pending entry of the same body and appends
// it once its signatures reach the quorum; replaceWith is a revocation's
// replacement device (kept with a pending revoke entry).
func (s *Server) submitRoster(ctx context.Context, e roster.Entry, replaceWith string, plans map[string]*AuthRecord) (*mpcv1.SubmitRosterEntryResponse, error) {
	body, err := roster.DecodeBody(e.Body)
	if err != nil {
		return nil, invalidArg("roster entry: %v", err)
	}
	id := e.Hash().String()
	s.roster.mu.Lock()
	defer s.roster.mu.Unlock()
	pending, err := s.pendingRosterLocked()
	if err != nil {
		return nil, err
	}
	if p, ok := pending[id]; ok {
		e = mergeSignatures(recordEntry(p), e)
		if replaceWith == "" {
			replaceWith = p.ReplaceWith
		}
		if plans == nil {
			plans = p.Plans
		}
	}
	st := s.roster.state
	if st == nil {
		return s.submitGenesisLocked(ctx, e, body, id)
	}
	if h, ok := st.HashAt(body.Height); ok && h == e.Hash() { // already on the roster
		resp := &mpcv1.SubmitRosterEntryResponse{Appended: true, Height: st.Height(), SignedBy: s.signersOfLocked(e, body.Height)}
		if body.Kind == roster.KindRevokeDevice {
			// The last submission may have stopped (a crash, a lost lease)
			// between the append and its reshare jobs: queue any missing.
			if err := s.revokedAgainLocked(ctx, body, replaceWith, plans); err != nil {
				return nil, err
			}
		}
		return resp, nil
	}
	if body.Kind == roster.KindGenesis {
		return nil, failedPrecondition("this coordinator already has a roster (genesis %s); a second genesis is refused", st.GenesisHash())
	}
	_, err = st.Check(e)
	if errors.Is(err, roster.ErrQuorum) {
		names, need, err := st.Signers(e)
		if err != nil {
			return nil, rosterError(err)
		}
		r := entryRecord(body.Height, e)
		r.ReplaceWith, r.Plans = replaceWith, plans
		if err := s.store.PutPendingRoster(id, r); err != nil {
			return nil, err
		}
		s.log.Info("roster entry waits for more signatures", "kind", body.Kind, "height", body.Height, "signed_by", names, "quorum", need)
		return &mpcv1.SubmitRosterEntryResponse{Height: st.Height(), SignedBy: names, Quorum: uint32(need)}, nil
	}
	if err != nil {
		return nil, rosterError(err)
	}
	return s.appendRosterLocked(ctx, e, body, id, replaceWith, plans)
}

func (s *Server) submitGenesisLocked(ctx context.Context, e roster.Entry, body roster.Body, id string) (*mpcv1.SubmitRosterEntryResponse, error) {
	if body.Kind != roster.KindGenesis {
		return nil, failedPrecondition("this coordinator has no roster yet: start one with 'mpcctl roster init'")
	}
	st, err := roster.Open(e)
	if errors.Is(err, roster.ErrQuorum) {
		names := genesisSigners(e, body)
		if err := s.store.PutPendingRoster(id, entryRecord(0, e)); err != nil {
			return nil, err
		}
		return &mpcv1.SubmitRosterEntryResponse{SignedBy: names, Quorum: uint32(body.Quorum)}, nil
	}
	if err != nil {
		return nil, rosterError(err)
	}
	a := s.auditEntry(ctx, auditlog.Entry{Action: "roster.genesis", Detail: fmt.Sprintf("genesis %s, %d operators, quorum %d", e.Hash(), len(body.Operators), body.Quorum)})
	if err := s.store.AppendRoster(entryRecord(0, e), id, nil, &a); err != nil {
		return nil, s.rosterStoreError(err)
	}
	s.metrics.audited(a.Seq)
	s.roster.state = st
	s.roster.entries = []*mpcv1.RosterEntry{roster.EntryProto(e)}
	s.log.Info("roster started", "genesis", e.Hash().String(), "operators", len(body.Operators), "quorum", body.Quorum)
	return &mpcv1.SubmitRosterEntryResponse{Appended: true, Height: 0, SignedBy: genesisSigners(e, body)}, nil
}

// appendRosterLocked appends a checked entry with its effect on the device
// record and its audit entry in one transaction, then pushes it to every
// connected device.
func (s *Server) appendRosterLocked(ctx context.Context, e roster.Entry, body roster.Body, id, replaceWith string, plans map[string]*AuthRecord) (*mpcv1.SubmitRosterEntryResponse, error) {
	st := s.roster.state
	signers, _, _ := st.Signers(e)
	a := auditlog.Entry{Action: "roster." + string(body.Kind), Detail: fmt.Sprintf("height %d, signed by %s", body.Height, strings.Join(signers, ", "))}
	var change *DeviceChange
	var revoked *Device
	switch body.Kind {
	case roster.KindAddDevice:
		d, err := s.store.GetDevice(body.Device.ID)
		switch {
		case errors.Is(err, registry.ErrNotFound):
		case err != nil:
			return nil, err
		case string(d.IdentityPublicKey) != string(body.Device.IdentityKey) || string(d.EncryptionPublicKey) != string(body.Device.EncryptionKey):
			return nil, failedPrecondition("the entry's keys are not those device %q enrolled with", d.Name)
		case d.Status == DeviceRevoked:
			return nil, failedPrecondition("device %q is revoked here", d.Name)
		default:
			change = &DeviceChange{ID: d.ID, Status: DeviceActive}
		}
		a.Devices = []string{body.Device.Name}
	case roster.KindRevokeDevice:
		d, err := s.store.GetDevice(body.DeviceID)
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			return nil, err
		}
		if err == nil {
			change = &DeviceChange{ID: d.ID, Status: DeviceRevoked}
			revoked = &d
		}
		if ds, ok := st.Device(body.DeviceID); ok {
			a.Devices = []string{ds.Name}
		}
		if replaceWith != "" {
			a.Detail += "; replace with " + replaceWith
		}
	case roster.KindAddRequester:
		r := body.Requester
		a.Detail += fmt.Sprintf("; requester %s (%s, %s), keys %s", r.Name, r.ID, r.Algorithm, strings.Join(r.Keys, ","))
		if len(r.Paths) > 0 {
			a.Detail += ", paths " + strings.Join(r.Paths, ",")
		}
		if r.MaxPerHour > 0 {
			a.Detail += fmt.Sprintf(", at most %d per hour", r.MaxPerHour)
		}
	case roster.KindRevokeRequester:
		if r, ok := st.Requester(body.RequesterID); ok {
			a.Detail += fmt.Sprintf("; requester %s (%s)", r.Name, r.ID)
		}
	}
	if body.Reason != "" {
		a.Detail += "; " + body.Reason
	}
	a = s.auditEntry(ctx, a)
	rec := entryRecord(body.Height, e)
	if body.Kind == roster.KindRevokeDevice {
		// Kept with the entry: the revocation's jobs are queued after this
		// transaction, and again from here after a crash (resumeRevocations).
		rec.ReplaceWith, rec.Plans = replaceWith, plans
	}
	if err := s.store.AppendRoster(rec, id, change, &a); err != nil {
		return nil, s.rosterStoreError(err)
	}
	s.metrics.audited(a.Seq)
	if err := st.Apply(e); err != nil {
		// Checked above under the same lock: cannot happen.
		return nil, fmt.Errorf("roster: apply a checked entry: %w", err)
	}
	s.roster.entries = append(s.roster.entries, roster.EntryProto(e))
	s.log.Info("roster entry appended", "kind", body.Kind, "height", body.Height)
	s.pushRosterLocked(body.Height)
	resp := &mpcv1.SubmitRosterEntryResponse{Appended: true, Height: st.Height(), SignedBy: signers}
	if revoked != nil {
		revoked.Status = DeviceRevoked
		if _, err := s.revoked(ctx, *revoked, replaceWith, plans); err != nil {
			return nil, s.jobsNotQueued(*revoked, err)
		}
	}
	return resp, nil
}

// pushRosterLocked sends the entries from height on to every connected device.
func (s *Server) pushRosterLocked(from uint64) {
	upd := s.rosterUpdateLocked(from)
	for _, l := range s.links.All() {
		l.Send(upd)
	}
}

// rosterUpdateLocked is the update for a device that has verified the
// entries below height from.
func (s *Server) rosterUpdateLocked(from uint64) *mpcv1.ConnectResponse {
	u := &mpcv1.RosterUpdate{FirstHeight: from, Height: s.roster.state.Height()}
	if from <= s.roster.state.Height() {
		u.Entries = s.roster.entries[from:]
	}
	return &mpcv1.ConnectResponse{Msg: &mpcv1.ConnectResponse_RosterUpdate{RosterUpdate: compromisedRosterUpdate(u)}}
}

// rosterError maps a roster verification error to a client error.
func rosterError(err error) error {
	switch {
	case errors.Is(err, roster.ErrChain):
		return failedPrecondition("%v: the roster changed since the entry was made; make and sign it again", err)
	case errors.Is(err, roster.ErrBadSignature), errors.Is(err, roster.ErrUnknownSigner), errors.Is(err, roster.ErrQuorum):
		return &clientError{codes.PermissionDenied, err.Error()}
	case errors.Is(err, roster.ErrRule):
		return failedPrecondition("%v", err)
	default:
		return invalidArg("%v", err)
	}
}

func (s *Server) rosterStoreError(err error) error {
	if errors.Is(err, registry.ErrRosterConflict) {
		return failedPrecondition("the roster changed meanwhile; make and sign the entry again")
	}
	return err
}

// deviceRefused records that a device refused something this coordinator
// sent it (a roster that forks or rolls back, a key change without proof).
// An honest coordinator never causes one: each is worth an operator's look.
func (s *Server) deviceRefused(ctx context.Context, dev Device, r *mpcv1.Refusal) {
	what, reason := clip(r.GetWhat()), clip(r.GetReason())
	s.log.Warn("a device refused what the coordinator sent", "device", dev.Name, "what", what, "key", clip(r.GetKeyId()), "reason", reason)
	e := auditlog.Entry{Action: "device.refused", Actor: "device:" + dev.ID, Devices: []string{dev.Name}, Result: "refused", Detail: what + ": " + reason}
	if k := clip(r.GetKeyId()); k != "" {
		e.KeyID = k
	}
	if err := s.audit(ctx, e); err != nil {
		s.log.Error("could not audit a device's refusal", "device", dev.Name, "err", err)
	}
}

// checkCeremony checks an operator authorization against the session the
// coordinator is about to run, so that a mismatch fails here with a clear
// error rather than at every device (which check it again). Without a
// roster none is needed and none is passed on.
func (s *Server) checkCeremony(p *mpcv1.Authorization, sess roster.Session) (*mpcv1.Authorization, error) {
	s.roster.mu.Lock()
	defer s.roster.mu.Unlock()
	st := s.roster.state
	if st == nil {
		return nil, nil
	}
	if compromisedSkipCeremonyChecks() {
		return p, nil
	}
	if p == nil {
		return nil, failedPrecondition("this coordinator has a roster: the operators must sign this ceremony (mpcctl signs it with the operator key)")
	}
	c, err := st.VerifyCeremony(roster.AuthorizationFromProto(p), s.opts.Now())
	if err != nil {
		return nil, &clientError{codes.PermissionDenied, "operator authorization: " + err.Error()}
	}
	if err := c.Allows(sess); err != nil {
		return nil, failedPrecondition("operator authorization: %v", err)
	}
	return p, nil
}

// rosterCurve is a key's curve as ceremonies name it.
func rosterCurve(k Key) string {
	if k.IsEd25519() {
		return roster.CurveEd25519
	}
	return roster.CurveSecp256k1
}

// genesisSigners names the genesis operators whose valid signatures e carries.
func genesisSigners(e roster.Entry, body roster.Body) []string {
	var names []string
	for _, sg := range e.Signatures {
		for _, op := range body.Operators {
			if string(op.Key) == string(sg.Key) && ed25519.Verify(op.Key, roster.SigningMessage(e.Hash()), sg.Sig) {
				names = append(names, op.Name)
			}
		}
	}
	return names
}

// signersOfLocked names who signed the appended entry e at height h: the
// signers are checked against the roster as it stood before it.
func (s *Server) signersOfLocked(e roster.Entry, h uint64) []string {
	if h == 0 {
		body, _ := roster.DecodeBody(e.Body)
		return genesisSigners(e, body)
	}
	var entries []roster.Entry
	for _, p := range s.roster.entries[:h] {
		entries = append(entries, roster.EntryFromProto(p))
	}
	before, err := roster.Verify(entries[0].Hash(), entries)
	if err != nil {
		return nil
	}
	names, _, _ := before.Signers(e)
	return names
}
