package party

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"

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
)

// ShareMeta is the public part of a share record.
type ShareMeta struct {
	KeyID     string     `json:"key_id"`
	Epoch     uint64     `json:"epoch"`
	State     ShareState `json:"state"`
	Threshold int        `json:"threshold"`
	PublicKey []byte     `json:"public_key"`
	// Device ids of every holder of this epoch, in tss-lib party order.
	Holders []string `json:"holders"`
}

// Share is one epoch of this device's share of a key. It prints as REDACTED.
type Share struct {
	Meta ShareMeta
	data keygen.LocalPartySaveData
}

type shareRecord struct {
	Meta ShareMeta                 `json:"meta"`
	Data keygen.LocalPartySaveData `json:"data"`
}

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

func shareKey(keyID string, epoch uint64) string {
	return fmt.Sprintf("share/%s/%020d", keyID, epoch)
}

// saveShare writes a share durably (the keystore syncs every write).
func saveShare(ks *keystore.Store, meta ShareMeta, data keygen.LocalPartySaveData) error {
	b, err := json.Marshal(shareRecord{Meta: meta, Data: data})
	if err != nil {
		return fmt.Errorf("party: encode share: %w", err)
	}
	defer clear(b)
	return ks.Put(shareKey(meta.KeyID, meta.Epoch), b)
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
	return &Share{Meta: rec.Meta, data: rec.Data}, nil
}

// ListShares returns the metadata of every share record.
func ListShares(ks *keystore.Store) ([]ShareMeta, error) {
	keys, err := ks.List("share/")
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
