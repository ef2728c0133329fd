package registry

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/mpcsign/mpcsign/internal/auditlog"
)

// The roster in Badger: entries under roster/<height>, pending ones under
// roster-pending/<id>.

func rosterKey(h uint64) string { return fmt.Sprintf("roster/%020d", h) }

func (s *badgerStore) AppendRoster(r RosterRecord, pendingID string, dev *DeviceChange, e *auditlog.Entry) error {
	return s.chained(e, func(txn *badger.Txn) error {
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
			return ErrRosterConflict
		}
		// Read the height being written: Badger detects conflicts on keys a
		// transaction read, so two appends racing for one height conflict
		// (the retry then sees the other's entry) instead of both writing.
		if _, err := txn.Get([]byte(rosterKey(r.Height))); err == nil {
			return ErrRosterConflict
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
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
			case errors.Is(err, ErrNotFound):
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
