package party

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mpcsign/mpcsign/internal/backup"
	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/keystore"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// backupPayload is what a paper-key backup file encrypts: the share record
// and the identity public key its tss-lib party key derives from.
type backupPayload struct {
	Share            shareRecord `json:"share"`
	PartyKeyIdentity []byte      `json:"party_key_identity"`
}

// ErrRestoreConflict reports a restore onto a device that already has a
// record of that key and epoch.
var ErrRestoreConflict = errors.New("party: this device already has a share of that key and epoch")

// BackupPayload returns the header and the plaintext of a backup of this
// device's current share of keyID (its newest committed epoch). The caller
// seals it (backup.Seal) and must wipe the plaintext.
func BackupPayload(ks *keystore.Store, keyID string) (backup.Header, []byte, error) {
	cfg, err := LoadConfig(ks)
	if err != nil {
		return backup.Header{}, nil, err
	}
	metas, err := keyShares(ks, keyID)
	if err != nil {
		return backup.Header{}, nil, err
	}
	var newest *ShareMeta
	for i, m := range metas {
		if m.State == ShareCommitted && (newest == nil || m.Epoch > newest.Epoch) {
			newest = &metas[i]
		}
	}
	if newest == nil {
		return backup.Header{}, nil, fmt.Errorf("%w: key %s", ErrNoShare, keyID)
	}
	share, err := LoadShare(ks, keyID, newest.Epoch)
	if err != nil {
		return backup.Header{}, nil, err
	}
	rec := shareRecord{Meta: share.Meta}
	if share.isEd25519() {
		ed, err := share.EdSaveData()
		if err != nil {
			return backup.Header{}, nil, err
		}
		rec.EdData = &ed
	} else if rec.Data, err = share.SaveData(); err != nil {
		return backup.Header{}, nil, err
	}
	pki := share.Meta.PartyKeyIdentity
	if len(pki) == 0 {
		id, err := loadIdentity(ks)
		if err != nil {
			return backup.Header{}, nil, err
		}
		pki = id.PublicKey()
	}
	holder := cfg.DeviceID
	if share.Meta.RestoredFrom != "" {
		holder = share.Meta.RestoredFrom
	}
	b, err := json.Marshal(backupPayload{Share: rec, PartyKeyIdentity: pki})
	if err != nil {
		return backup.Header{}, nil, err
	}
	h := backup.Header{KeyID: keyID, Epoch: share.Meta.Epoch, DeviceID: holder, PublicKey: share.Meta.PublicKey,
		Threshold: share.Meta.Threshold, Holders: share.Meta.Holders, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	return h, b, nil
}

// RestoreShare stores a share opened from a backup file (header and
// plaintext from backup.Open) in this device's keystore, in the restored
// state: it signs only once the coordinator binds it to this device, after
// an operator approved (the agent asks on its next connection).
func RestoreShare(ks *keystore.Store, h backup.Header, plaintext []byte) (ShareMeta, error) {
	var p backupPayload
	if err := json.Unmarshal(plaintext, &p); err != nil {
		return ShareMeta{}, fmt.Errorf("%w: the backup's content does not decode", backup.ErrTampered)
	}
	m := p.Share.Meta
	switch {
	case m.KeyID != h.KeyID || m.Epoch != h.Epoch || identity.KeyID(m.PublicKey) != h.KeyID:
		return ShareMeta{}, fmt.Errorf("%w: the share inside does not match the file's header", backup.ErrTampered)
	case len(p.PartyKeyIdentity) != 32 || !complete(p.Share):
		return ShareMeta{}, fmt.Errorf("%w: the share inside is incomplete", backup.ErrTampered)
	}
	cfg, err := LoadConfig(ks)
	if err != nil {
		return ShareMeta{}, err
	}
	if h.DeviceID == cfg.DeviceID {
		return ShareMeta{}, errors.New("party: this backup was made on this very device; it still holds the share")
	}
	if has, err := hasEpoch(ks, m.KeyID, m.Epoch); err != nil {
		return ShareMeta{}, err
	} else if has {
		return ShareMeta{}, ErrRestoreConflict
	}
	m.State, m.RestoredFrom, m.PartyKeyIdentity = ShareRestored, h.DeviceID, p.PartyKeyIdentity
	if err := saveShare(ks, shareRecord{Meta: m, Data: p.Share.Data, EdData: p.Share.EdData}); err != nil {
		return ShareMeta{}, err
	}
	return m, nil
}

// complete reports whether a backed-up share has the data of its curve.
func complete(rec shareRecord) bool {
	if rec.Meta.Curve == CurveEd25519 {
		return rec.EdData != nil && rec.EdData.Xi != nil && rec.EdData.EDDSAPub != nil
	}
	return rec.EdData == nil && rec.Data.Xi != nil && rec.Data.ECDSAPub != nil
}

// restoreClaims lists the restored shares waiting for the coordinator.
func restoreClaims(ks *keystore.Store) ([]*mpcv1.RestoreClaim, error) {
	metas, err := ListShares(ks)
	if err != nil {
		return nil, err
	}
	var out []*mpcv1.RestoreClaim
	for _, m := range metas {
		if m.State == ShareRestored {
			out = append(out, &mpcv1.RestoreClaim{KeyId: m.KeyID, Epoch: m.Epoch, OriginalDeviceId: m.RestoredFrom, OriginalIdentityPublicKey: m.PartyKeyIdentity})
		}
	}
	return out, nil
}

// applyRestoreAnswer acts on the coordinator's answer to a claim: a bound
// share becomes committed; a refused one is deleted.
func applyRestoreAnswer(ks *keystore.Store, a *mpcv1.RestoreAnswer) (changed bool, err error) {
	err = ks.Update(func(tx *keystore.Txn) error {
		changed = false
		k := shareKey(a.GetKeyId(), a.GetEpoch())
		b, err := tx.Get(k)
		if errors.Is(err, keystore.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var rec shareRecord
		err = json.Unmarshal(b, &rec)
		clear(b)
		if err != nil {
			return fmt.Errorf("party: decode %s: %w", k, keystore.ErrTampered)
		}
		if rec.Meta.State != ShareRestored {
			return nil
		}
		switch a.GetState() {
		case mpcv1.RestoreState_RESTORE_STATE_BOUND:
			rec.Meta.State = ShareCommitted
			nb, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			defer clear(nb)
			changed = true
			return tx.Put(k, nb)
		case mpcv1.RestoreState_RESTORE_STATE_REFUSED:
			changed = true
			return tx.Delete(k)
		}
		return nil
	})
	return changed, err
}

func loadIdentity(ks *keystore.Store) (*identity.Identity, error) {
	b, err := ks.Get(identityKey)
	if err != nil {
		return nil, fmt.Errorf("party: load identity: %w", err)
	}
	defer clear(b)
	return identity.Unmarshal(b)
}
