package registry

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/mpcsign/mpcsign/internal/auditlog"
)

// Keys in Badger: the record under key/<id>, and beside it, written in the
// same transaction, an index entry (an empty value) per member device
// (KeyMembers), keymember/<the device id in hex>/<key id>, and one while a
// reshare is in flight, keyinflight/<key id>. The device id is in hex so
// that no device's entries begin with another's ("a" and "a/b"); the key
// id follows as it is, so a device's entries come in key id order, as the
// records do. A write sets the entries of the key's members and deletes
// those of devices no longer members; a read checks each record it finds
// through the index against what it looks for, so an entry left behind
// could never list a key that is not the device's. Stores made before the
// index get it at their first open since (indexKeys).

// keyIndexed marks a store whose keys all have their index entries.
const keyIndexed = "meta/key-index"

// inFlightPrefix is the prefix of the in-flight index entries.
const inFlightPrefix = "keyinflight/"

// memberPrefix is the prefix of deviceID's index entries.
func memberPrefix(deviceID string) string {
	return "keymember/" + hex.EncodeToString([]byte(deviceID)) + "/"
}

// keyIndex is what the index holds of one key.
type keyIndex struct {
	members  []string // sorted
	inFlight bool
}

func indexOf(k Key) keyIndex { return keyIndex{members: keyMembers(k), inFlight: k.InFlight != nil} }

// writeKey stores k under key/<id> and moves its index entries from old's
// (the record it replaces; the zero keyIndex for none) to its own.
func writeKey(txn *badger.Txn, id string, old keyIndex, k Key) error {
	members, err := KeyMembers(k)
	if err != nil {
		return err
	}
	if err := put(txn, "key/"+id, k); err != nil {
		return err
	}
	for _, m := range old.members {
		if _, still := slices.BinarySearch(members, m); !still {
			if err := txn.Delete([]byte(memberPrefix(m) + id)); err != nil {
				return err
			}
		}
	}
	for _, m := range members {
		if err := txn.Set([]byte(memberPrefix(m)+id), nil); err != nil {
			return err
		}
	}
	switch {
	case k.InFlight != nil:
		return txn.Set([]byte(inFlightPrefix+id), nil)
	case old.inFlight:
		return txn.Delete([]byte(inFlightPrefix + id))
	}
	return nil
}

func (s *badgerStore) PutKey(k Key, e *auditlog.Entry) error {
	return s.chained(e, func(txn *badger.Txn) error {
		var old keyIndex // none when there is no record yet
		var prev Key
		if err := get(txn, "key/"+k.ID, &prev); err == nil {
			old = indexOf(prev)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if err := writeKey(txn, k.ID, old, k); err != nil {
			return err
		}
		return sealAudit(txn, e)
	})
}

func (s *badgerStore) UpdateKey(id string, fn func(*Key) error, e *auditlog.Entry) (Key, error) {
	var k Key
	err := s.chained(e, func(txn *badger.Txn) error {
		k = Key{}
		if err := get(txn, "key/"+id, &k); err != nil {
			return err
		}
		old := indexOf(k) // before fn, which may change k's lists in place
		if err := fn(&k); err != nil {
			return err
		}
		if err := writeKey(txn, id, old, k); err != nil {
			return err
		}
		return sealAudit(txn, e)
	})
	return k, err
}

func (s *badgerStore) ListKeysOfDevice(deviceID string) ([]Key, error) {
	return s.keysIndexed(memberPrefix(deviceID), func(k Key) bool {
		_, ok := slices.BinarySearch(keyMembers(k), deviceID)
		return ok
	})
}

func (s *badgerStore) ListKeysInFlight() ([]Key, error) {
	return s.keysIndexed(inFlightPrefix, func(k Key) bool { return k.InFlight != nil })
}

// keysIndexed reads the keys named by the index entries under prefix, in
// their order, that is (the check against the record) true of.
func (s *badgerStore) keysIndexed(prefix string, is func(Key) bool) ([]Key, error) {
	var out []Key
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id := string(it.Item().Key()[len(prefix):])
			var k Key
			switch err := get(txn, "key/"+id, &k); {
			case errors.Is(err, ErrNotFound):
				continue // no record: nothing to list
			case err != nil:
				return fmt.Errorf("key %q: %w", id, err)
			}
			if is(k) {
				out = append(out, k)
			}
		}
		return nil
	})
	return out, err
}

// indexKeys writes the index entries of every key when the store has not
// had it done (keys written before the index existed), once.
func (s *badgerStore) indexKeys() error {
	return s.buildOnce(keyIndexed, func(txn *badger.Txn, wb *badger.WriteBatch) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("key/"), PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id := strings.TrimPrefix(string(it.Item().Key()), "key/")
			var k Key
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &k) }); err != nil {
				return fmt.Errorf("key %q: %w", id, err)
			}
			for _, m := range keyMembers(k) {
				if err := wb.Set([]byte(memberPrefix(m)+id), nil); err != nil {
					return err
				}
			}
			if k.InFlight != nil {
				if err := wb.Set([]byte(inFlightPrefix+id), nil); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
