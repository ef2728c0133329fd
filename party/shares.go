package party

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	edkeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/mpcsign/mpcsign/keystore"
)

// ErrNoShare reports that this device holds no usable share for a key and epoch.
var ErrNoShare = errors.New("party: no share for this key and epoch")

// ShareState is where a share stands in the two-phase commit of a reshare.
type ShareState string

const (
	// SharePending is written by a new holder before the coordinator's commit point.
	SharePending ShareState = "pending"
	// ShareCommitted is a share that signs.
	ShareCommitted ShareState = "committed"
	// ShareRestored came from another device's backup; it signs once the
	// coordinator binds it to this device (after an operator approved).
	ShareRestored ShareState = "restored"
)

// ShareMeta is the public part of a share record.
type ShareMeta struct {
	KeyID string `json:"key_id"`
	// Curve is CurveEd25519 for an EdDSA key; empty for secp256k1 ECDSA.
	Curve     string     `json:"curve,omitempty"`
	Epoch     uint64     `json:"epoch"`
	State     ShareState `json:"state"`
	Threshold int        `json:"threshold"`
	// PublicKey: 33-byte compressed secp256k1, or 32-byte Ed25519.
	PublicKey []byte `json:"public_key"`
	// ChainCode is a secp256k1 key's BIP32 chain code, fixed at keygen from
	// the keygen session id; empty for keys made before it existed.
	ChainCode []byte `json:"chain_code,omitempty"`
	// Device ids of every holder of this epoch (at the time it was made).
	Holders []string `json:"holders"`
	// A restored share: the device the backup was made on and its identity
	// public key, from which the share's tss-lib party key derives.
	RestoredFrom     string `json:"restored_from,omitempty"`
	PartyKeyIdentity []byte `json:"party_key_identity,omitempty"`
}

// CurveEd25519 is ShareMeta.Curve of an EdDSA key.
const CurveEd25519 = "ed25519"

// Share is one epoch of this device's share of a key. It prints as REDACTED.
type Share struct {
	Meta ShareMeta
	data keygen.LocalPartySaveData
	ed   *edkeygen.LocalPartySaveData // an Ed25519 key's data (then data is empty)
}

type shareRecord struct {
	Meta   ShareMeta                    `json:"meta"`
	Data   keygen.LocalPartySaveData    `json:"data"`
	EdData *edkeygen.LocalPartySaveData `json:"eddsa,omitempty"`
}

// isEd25519 reports whether the share is of an EdDSA key.
func (s *Share) isEd25519() bool { return s.Meta.Curve == CurveEd25519 }

func (s *Share) String() string {
	return fmt.Sprintf("share(key=%s epoch=%d REDACTED)", s.Meta.KeyID, s.Meta.Epoch)
}
func (s *Share) LogValue() slog.Value { return slog.StringValue(s.String()) }

// SaveData returns a deep copy of the tss-lib key data: the library changes
// the data it is handed (resharing zeroes it), so the stored value is never
// passed directly.
func (s *Share) SaveData() (keygen.LocalPartySaveData, error) {
	b, err := json.Marshal(s.data)
	if err != nil {
		return keygen.LocalPartySaveData{}, err
	}
	var out keygen.LocalPartySaveData
	err = json.Unmarshal(b, &out)
	return out, err
}

// EdSaveData is SaveData for an Ed25519 key's data.
func (s *Share) EdSaveData() (edkeygen.LocalPartySaveData, error) {
	if s.ed == nil {
		return edkeygen.LocalPartySaveData{}, errors.New("party: not an Ed25519 share")
	}
	b, err := json.Marshal(s.ed)
	if err != nil {
		return edkeygen.LocalPartySaveData{}, err
	}
	defer clear(b)
	var out edkeygen.LocalPartySaveData
	err = json.Unmarshal(b, &out)
	return out, err
}

func shareKey(keyID string, epoch uint64) string {
	return fmt.Sprintf("share/%s/%020d", keyID, epoch)
}

// saveShare writes a share durably (the keystore syncs every write).
func saveShare(ks *keystore.Store, rec shareRecord) error {
	if (rec.Meta.Curve == CurveEd25519) != (rec.EdData != nil) {
		return errors.New("party: share data does not match the key's curve")
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("party: encode share: %w", err)
	}
	defer clear(b)
	return ks.Put(shareKey(rec.Meta.KeyID, rec.Meta.Epoch), b)
}

// LoadShare reads the committed share of a key at an epoch.
func LoadShare(ks *keystore.Store, keyID string, epoch uint64) (*Share, error) {
	b, err := ks.Get(shareKey(keyID, epoch))
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, ErrNoShare
	}
	if err != nil {
		return nil, err
	}
	defer clear(b)
	var rec shareRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("party: decode share %s: %w", keyID, keystore.ErrTampered)
	}
	if rec.Meta.State != ShareCommitted || rec.Meta.KeyID != keyID || rec.Meta.Epoch != epoch {
		return nil, ErrNoShare
	}
	if (rec.Meta.Curve == CurveEd25519) != (rec.EdData != nil) {
		return nil, fmt.Errorf("party: decode share %s: %w", keyID, keystore.ErrTampered)
	}
	return &Share{Meta: rec.Meta, data: rec.Data, ed: rec.EdData}, nil
}

// loadPendingShare reads a new holder's pending share of a reshare that is
// not committed yet: only a reshare's test signature uses it.
func loadPendingShare(ks *keystore.Store, keyID string, epoch uint64) (*Share, error) {
	b, err := ks.Get(shareKey(keyID, epoch))
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, ErrNoShare
	}
	if err != nil {
		return nil, err
	}
	defer clear(b)
	var rec shareRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("party: decode share %s: %w", keyID, keystore.ErrTampered)
	}
	if rec.Meta.State != SharePending || rec.Meta.KeyID != keyID || rec.Meta.Epoch != epoch {
		return nil, ErrNoShare
	}
	if (rec.Meta.Curve == CurveEd25519) != (rec.EdData != nil) {
		return nil, fmt.Errorf("party: decode share %s: %w", keyID, keystore.ErrTampered)
	}
	return &Share{Meta: rec.Meta, data: rec.Data, ed: rec.EdData}, nil
}

// dropPendingShare deletes the pending record of keyID at epoch; a committed
// record, or none, is left as it is.
func dropPendingShare(ks *keystore.Store, keyID string, epoch uint64) error {
	return ks.Update(func(tx *keystore.Txn) error {
		k := shareKey(keyID, epoch)
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
		if rec.Meta.State != SharePending {
			return nil
		}
		return tx.Delete(k)
	})
}

// ListShares returns the metadata of every share record.
func ListShares(ks *keystore.Store) ([]ShareMeta, error) { return listShares(ks, "share/") }

func listShares(ks *keystore.Store, prefix string) ([]ShareMeta, error) {
	keys, err := ks.List(prefix)
	if err != nil {
		return nil, err
	}
	var out []ShareMeta
	for _, k := range keys {
		parts := strings.Split(k, "/")
		if len(parts) != 3 {
			continue
		}
		b, err := ks.Get(k)
		if errors.Is(err, keystore.ErrNotFound) {
			continue // erased since the listing (an abandoned or retired epoch)
		}
		if err != nil {
			return nil, err
		}
		var rec shareRecord
		err = json.Unmarshal(b, &rec)
		clear(b)
		if err != nil {
			return nil, fmt.Errorf("party: decode %s: %w", k, keystore.ErrTampered)
		}
		out = append(out, rec.Meta)
	}
	return out, nil
}

// ErrRetiredEpoch reports a request for an epoch older than one this device
// knows is committed: once a newer epoch is committed, the old one never signs.
var ErrRetiredEpoch = errors.New("party: this epoch of the key was retired by a reshare")

// keyShares returns the metadata of every share record of one key, by epoch.
func keyShares(ks *keystore.Store, keyID string) ([]ShareMeta, error) {
	return listShares(ks, "share/"+keyID+"/")
}

// loadCurrent loads the committed share of keyID at epoch, refusing an epoch
// that a newer committed one replaced.
func loadCurrent(ks *keystore.Store, keyID string, epoch uint64) (*Share, error) {
	// Only records of later epochs need reading (usually none): the epoch
	// is in the record's name.
	keys, err := ks.List("share/" + keyID + "/")
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		e, err := strconv.ParseUint(k[strings.LastIndexByte(k, '/')+1:], 10, 64)
		if err != nil || e <= epoch {
			continue
		}
		later, err := LoadShare(ks, keyID, e)
		if err == nil {
			return nil, fmt.Errorf("%w: epoch %d is replaced by epoch %d", ErrRetiredEpoch, epoch, later.Meta.Epoch)
		}
		if !errors.Is(err, ErrNoShare) {
			return nil, err
		}
	}
	return LoadShare(ks, keyID, epoch)
}

// hasEpoch reports whether any record (pending or committed) exists for the
// key at epoch.
func hasEpoch(ks *keystore.Store, keyID string, epoch uint64) (bool, error) {
	_, err := ks.Get(shareKey(keyID, epoch))
	if errors.Is(err, keystore.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// KeyState is what the coordinator says about a key (see mpcv1.KeyEpoch).
type KeyState struct {
	KeyID     string
	Committed uint64
	Next      uint64
	InFlight  uint64 // 0: no reshare running (epoch 0 is always keygen's)
}

// SyncResult says what applying a KeyState changed.
type SyncResult struct {
	Promoted []uint64 // pending epochs that became committed
	Erased   []uint64 // older epochs removed
	Dropped  []uint64 // pending epochs of abandoned reshares removed
}

// applyKeyState finishes the reshare steps this device missed, in one
// atomic keystore transaction: the pending share of the committed epoch is
// promoted, shares of older epochs are erased, and pending shares of
// abandoned epochs (above the committed one, below next, not in flight) are
// dropped. Applying the same state twice changes nothing.
func applyKeyState(ks *keystore.Store, st KeyState) (SyncResult, error) {
	return applyKeyStateWith(ks, st, nil)
}

// applyKeyStateWith is applyKeyState; beforeCommit, when set, is called when
// the state changes something, just before the change is committed (a crash
// point for tests).
func applyKeyStateWith(ks *keystore.Store, st KeyState, beforeCommit func()) (SyncResult, error) {
	var res SyncResult
	err := ks.Update(func(tx *keystore.Txn) error {
		res = SyncResult{}
		keys, err := ks.List("share/" + st.KeyID + "/")
		if err != nil {
			return err
		}
		for _, k := range keys {
			b, err := tx.Get(k)
			if err != nil {
				return err
			}
			var rec shareRecord
			err = json.Unmarshal(b, &rec)
			clear(b)
			if err != nil || rec.Meta.KeyID != st.KeyID || shareKey(rec.Meta.KeyID, rec.Meta.Epoch) != k {
				return fmt.Errorf("party: decode %s: %w", k, keystore.ErrTampered)
			}
			e := rec.Meta.Epoch
			switch {
			case e == st.Committed && rec.Meta.State == SharePending:
				rec.Meta.State = ShareCommitted
				nb, err := json.Marshal(rec)
				if err != nil {
					return err
				}
				err = tx.Put(k, nb)
				clear(nb)
				if err != nil {
					return err
				}
				res.Promoted = append(res.Promoted, e)
			case e < st.Committed:
				if err := tx.Delete(k); err != nil {
					return err
				}
				res.Erased = append(res.Erased, e)
			case e > st.Committed && e < st.Next && rec.Meta.State == SharePending && e != st.InFlight:
				if err := tx.Delete(k); err != nil {
					return err
				}
				res.Dropped = append(res.Dropped, e)
			}
		}
		if beforeCommit != nil && len(res.Promoted)+len(res.Erased)+len(res.Dropped) > 0 {
			beforeCommit()
		}
		return nil
	})
	return res, err
}

// holds checks that every party in ps is a holder of this share's epoch:
// its party key is one of the key data's (a device that restored another's
// backup plays that device's party key).
func (s *Share) holds(ps []*tss.PartyID) error {
	ks := s.data.Ks
	if s.ed != nil {
		ks = s.ed.Ks
	}
	for _, p := range ps {
		found := false
		for _, k := range ks {
			if k != nil && k.Cmp(p.KeyInt()) == 0 {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("device %s does not hold this key", p.Id)
		}
	}
	return nil
}
