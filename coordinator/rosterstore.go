package coordinator

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/mpcsign/mpcsign/internal/auditlog"
)

// RosterRecord is a stored roster entry: its body exactly as signed, and
// the signatures. The coordinator cannot make or change one without the
// devices noticing; it stores and serves them.
type RosterRecord struct {
	Height     uint64      `json:"height"`
	Body       []byte      `json:"body"`
	Signatures []RosterSig `json:"signatures"`
	// Pending records only: what the coordinator does once the entry is
	// appended (a revocation's replacement device). Not signed.
	ReplaceWith string `json:"replace_with,omitempty"`
	// Pending revoke entries only: the operators' signed reshare plan of
	// each key the device holds, by key id.
	Plans map[string]*AuthRecord `json:"plans,omitempty"`
}

// RosterSig is one Ed25519 signature of a roster entry.
type RosterSig struct {
	Key []byte `json:"key"`
	Sig []byte `json:"sig"`
}

// DeviceChange is what appending a roster entry does to a device record.
type DeviceChange struct {
	ID     string
	Status DeviceStatus
}

// errRosterConflict reports an append at a height that is no longer the next.
var errRosterConflict = errors.New("coordinator: the roster grew meanwhile")

func rosterKey(h uint64) string { return fmt.Sprintf("roster/%020d", h) }

func (s *badgerStore) AppendRoster(r RosterRecord, pendingID string, dev *DeviceChange, e *auditlog.Entry) error {
	return s.retry(func(txn *badger.Txn) error {
		var last RosterRecord
		next := uint64(0)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("roster/"), Reverse: true})
		it.Seek([]byte("roster/\xff"))
		if it.Valid() {
			err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &last) })
			it.Close()
			if err != nil {
				return err
			}
			next = last.Height + 1
		} else {
			it.Close()
		}
		if r.Height != next {
			return errRosterConflict
		}
		r.ReplaceWith, r.Plans = "", nil
		if err := put(txn, rosterKey(r.Height), r); err != nil {
			return err
		}
		if pendingID != "" {
			if err := txn.Delete([]byte("roster-pending/" + pendingID)); err != nil {
				return err
			}
		}
		if dev != nil {
			var d Device
			switch err := get(txn, "device/"+dev.ID, &d); {
			case errors.Is(err, errStoreNotFound):
				// A device added to the roster before it enrolled here.
			case err != nil:
				return err
			default:
				d.Status = dev.Status
				if err := put(txn, "device/"+d.ID, d); err != nil {
					return err
				}
			}
		}
		if e == nil {
			return nil
		}
		sealed, err := appendAudit(txn, *e)
		if err != nil {
			return err
		}
		*e = sealed
		return nil
	})
}

func (s *badgerStore) ListRoster(from uint64) ([]RosterRecord, error) {
	var out []RosterRecord
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("roster/"), PrefetchValues: true})
		defer it.Close()
		for it.Seek([]byte(rosterKey(from))); it.Valid(); it.Next() {
			var r RosterRecord
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &r) }); err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

func (s *badgerStore) PutPendingRoster(id string, r RosterRecord) error {
	return s.retry(func(txn *badger.Txn) error { return put(txn, "roster-pending/"+id, r) })
}

func (s *badgerStore) ListPendingRoster() (map[string]RosterRecord, error) {
	out := map[string]RosterRecord{}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("roster-pending/"), PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var r RosterRecord
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &r) }); err != nil {
				return err
			}
			out[string(it.Item().Key()[len("roster-pending/"):])] = r
		}
		return nil
	})
	return out, err
}

func (s *badgerStore) DeletePendingRoster(id string) error {
	return s.retry(func(txn *badger.Txn) error { return txn.Delete([]byte("roster-pending/" + id)) })
}
