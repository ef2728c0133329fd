package party

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/keystore"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	keycommit "github.com/mpcsign/mpcsign/resharing"
)

// A device that pins a roster applies the coordinator's word about a key
// (KeySync) only on proof: it promotes a pending share, or erases an older
// one, when the commit certificate of the committed epoch verifies against
// its own roster and the public key of its own share (resharing.Decide). A
// KeySync without one changes nothing, is logged and is reported to the
// coordinator (which audits it). Without a roster the device believes the
// coordinator, as before (applyKeyState).

// rosterDirectory answers a device's identity key from the verified roster:
// any device the operators ever added (one revoked since still attested
// truthfully when it was active).
type rosterDirectory struct{ a *Agent }

func (d rosterDirectory) IdentityKey(id string) ([]byte, bool) {
	d.a.roster.mu.Lock()
	defer d.a.roster.mu.Unlock()
	if d.a.roster.state == nil {
		return nil, false
	}
	dev, ok := d.a.roster.state.Device(id)
	return dev.IdentityKey, ok
}

// applyCertified is the apply step of a device that pins a roster. It
// returns what changed, or the refusal.
func (a *Agent) applyCertified(k *mpcv1.KeyEpoch, beforeCommit func()) (SyncResult, string, error) {
	metas, err := keyShares(a.ks, k.GetKeyId())
	if err != nil || len(metas) == 0 {
		return SyncResult{}, "", err
	}
	var recs []keycommit.Record
	for _, m := range metas {
		recs = append(recs, keycommit.Record{Epoch: m.Epoch, Pending: m.State == SharePending})
	}
	st := keycommit.KeyState{KeyID: k.GetKeyId(), Committed: k.GetCommittedEpoch()}
	certErr := keycommit.ErrNoCertificate
	if raw := k.GetCertificate(); len(raw) > 0 {
		cert, err := keycommit.DecodeCertificate(raw)
		if err == nil {
			st.Certificate = cert
			curve := keycommit.CurveSecp256k1
			if metas[0].Curve == CurveEd25519 {
				curve = keycommit.CurveEd25519
			}
			var agreed keycommit.Attestation
			if agreed, err = cert.Verify(k.GetKeyId(), curve, metas[0].PublicKey, rosterDirectory{a}); err == nil {
				err = a.authorizedCommit(k, metas, agreed)
			}
		}
		certErr = err
	}
	act := keycommit.Decide(recs, st, certErr)
	if act.Refused != "" {
		return SyncResult{}, act.Refused, nil
	}
	if act.None() {
		return SyncResult{}, "", nil
	}
	res := SyncResult{Promoted: act.Promote, Erased: act.Erase}
	err = a.ks.Update(func(tx *keystore.Txn) error {
		for _, e := range act.Promote {
			key := shareKey(k.GetKeyId(), e)
			b, err := tx.Get(key)
			if err != nil {
				return err
			}
			var rec shareRecord
			err = json.Unmarshal(b, &rec)
			clear(b)
			if err != nil || rec.Meta.KeyID != k.GetKeyId() || rec.Meta.Epoch != e || rec.Meta.State != SharePending {
				return fmt.Errorf("party: decode %s: %w", key, keystore.ErrTampered)
			}
			rec.Meta.State = ShareCommitted
			nb, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			err = tx.Put(key, nb)
			clear(nb)
			if err != nil {
				return err
			}
		}
		for _, e := range act.Erase {
			if slices.Contains(act.Promote, e) {
				return errors.New("party: an epoch to promote and erase at once")
			}
			if err := tx.Delete(shareKey(k.GetKeyId(), e)); err != nil {
				return err
			}
		}
		if beforeCommit != nil {
			beforeCommit()
		}
		return nil
	})
	return res, "", err
}

// authorizedCommit checks that a certified epoch is the outcome of a
// reshare the operators authorized: its committee and threshold are the
// ones the operators named, and it reshared the epoch this device holds
// (a standing drill, which names no epoch: the committee that holds this
// device's share).
// Without this, a single rogue roster device and a signature the old
// holders made in an ordinary signing session could pass as a certificate.
func (a *Agent) authorizedCommit(k *mpcv1.KeyEpoch, metas []ShareMeta, agreed keycommit.Attestation) error {
	p := k.GetAuthorization()
	if p == nil {
		return errors.New("no operator authorization of the reshare comes with the certificate")
	}
	auth := roster.AuthorizationFromProto(p)
	a.roster.mu.Lock()
	rs := a.roster.state
	a.roster.mu.Unlock()
	if rs == nil {
		return errors.New("this device has no verified roster")
	}
	c, err := rs.VerifySigned(auth)
	if err != nil {
		return fmt.Errorf("the reshare's operator authorization: %w", err)
	}
	if (c.Kind != roster.CeremonyReshare && c.Kind != roster.CeremonyDrill) || c.KeyID != k.GetKeyId() {
		return errors.New("the operator authorization is not a reshare of this key")
	}
	if !slices.Equal(agreed.Committee, slices.Sorted(slices.Values(c.NewCommittee))) || agreed.Threshold != c.NewThreshold {
		return errors.New("the certified committee or threshold is not the one the operators authorized")
	}
	// An old holder: the reshare must be of the epoch it holds committed.
	var top ShareMeta
	committed := false
	for _, m := range metas {
		if m.State != SharePending && (!committed || m.Epoch > top.Epoch) {
			top, committed = m, true
		}
	}
	if committed && !c.Standing && c.Epoch != top.Epoch && k.GetCommittedEpoch() > top.Epoch {
		return fmt.Errorf("the operators authorized a reshare of epoch %d, this device holds epoch %d", c.Epoch, top.Epoch)
	}
	// A standing drill names no epoch: it proves nothing about a share held
	// by another committee (one signed before a reshare of the key), nor
	// gives a share to a device that held none. (An ordinary drill is bound
	// to its epoch above, as a reshare is.)
	if c.Kind == roster.CeremonyDrill && c.Standing {
		if !committed {
			return errors.New("a standing drill adds no holder, and this device held no share of the key before it")
		}
		if !sameMembers(top.Holders, c.NewCommittee) {
			return fmt.Errorf("the certified standing drill's committee (%d devices) is not the committee that holds this device's epoch %d (%d devices): a standing drill keeps its committee, so this device keeps its share; the operators sign an ordinary drill or a reshare if the key's committee must change", len(c.NewCommittee), top.Epoch, len(top.Holders))
		}
	}
	return nil
}
