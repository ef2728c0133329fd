package party

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

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
			_, err = cert.Verify(k.GetKeyId(), curve, metas[0].PublicKey, rosterDirectory{a})
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
