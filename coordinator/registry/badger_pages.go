package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Paged listings and pruning in Badger. A page seeks to its cursor and
// reads only its own records. Sessions are keyed by start time
// (session/<unix nanos>/<id>); sign results have a time index beside them
// (signreq-at/<unix nanos>/<request id>, an empty value), written with the
// record, so that a prune reads only what it deletes.

// sessionKey is a session record's key: listings in Badger's key order are
// in (Started, ID) order.
func sessionKey(started time.Time, id string) string {
	return fmt.Sprintf("session/%020d/%s", started.UnixNano(), id)
}

// nanos is t in Unix nanoseconds, clamped to the range a time index key
// holds (0 for the zero time and anything before 1970).
func nanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, 0)):
		return 0
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// signAtKey is the time index entry of the sign result of requestID.
func signAtKey(at time.Time, requestID string) string {
	return fmt.Sprintf("signreq-at/%020d/%s", nanos(at), requestID)
}

// signIndexed marks a store whose sign results all have their time index
// entry (those written before the index existed got theirs at an open).
const signIndexed = "meta/signreq-at-indexed"

// listAfter reads up to limit records under prefix whose key sorts after
// prefix+after ("": from the first).
func listAfter[T any](db *badger.DB, prefix, after string, limit int) ([]T, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []T
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix), PrefetchValues: true, PrefetchSize: min(limit, 100)})
		defer it.Close()
		if after == "" {
			it.Rewind()
		} else {
			// The smallest key after prefix+after is prefix+after+"\x00".
			it.Seek([]byte(prefix + after + "\x00"))
		}
		for ; it.Valid() && len(out) < limit; it.Next() {
			var v T
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &v) }); err != nil {
				return fmt.Errorf("record %q: %w", it.Item().Key(), err)
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

func (s *badgerStore) ListKeysAfter(after string, limit int) ([]Key, error) {
	return listAfter[Key](s.db, "key/", after, limit)
}

func (s *badgerStore) ListDevicesAfter(after string, limit int) ([]Device, error) {
	return listAfter[Device](s.db, "device/", after, limit)
}

// ListSessionsBefore iterates the session keys backwards from the cursor's
// key, leaving out the cursor's own record.
func (s *badgerStore) ListSessionsBefore(before *SessionCursor, limit int) ([]SessionRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	seek := []byte("session/\xff")
	if before != nil {
		seek = []byte(sessionKey(before.Started, before.ID))
	}
	var out []SessionRecord
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("session/"), Reverse: true, PrefetchValues: true, PrefetchSize: min(limit, 100)})
		defer it.Close()
		for it.Seek(seek); it.Valid() && len(out) < limit; it.Next() {
			if bytes.Equal(it.Item().Key(), seek) {
				continue // the cursor's own record: the last page had it
			}
			var r SessionRecord
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &r) }); err != nil {
				return fmt.Errorf("session record %s: %w", strings.TrimPrefix(string(it.Item().Key()), "session/"), err)
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// keysBelow returns up to PruneBatch keys under prefix that sort below
// bound, from the first.
func keysBelow(txn *badger.Txn, prefix, bound string) [][]byte {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix)})
	defer it.Close()
	var out [][]byte
	for it.Rewind(); it.Valid() && len(out) < PruneBatch; it.Next() {
		k := it.Item().KeyCopy(nil)
		if string(k) >= bound {
			break
		}
		out = append(out, k)
	}
	return out
}

// prune deletes, a batch per transaction, the keys under prefix below
// bound, and with each the keys also(key) names; it returns how many keys
// under prefix it deleted.
func (s *badgerStore) prune(prefix, bound string, also func(key []byte) []byte) (int, error) {
	total := 0
	for {
		n := 0
		err := s.retry(func(txn *badger.Txn) error {
			keys := keysBelow(txn, prefix, bound)
			for _, k := range keys {
				if err := txn.Delete(k); err != nil {
					return err
				}
				if also != nil {
					if err := txn.Delete(also(k)); err != nil {
						return err
					}
				}
			}
			n = len(keys)
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < PruneBatch {
			return total, nil
		}
	}
}

func (s *badgerStore) PruneSessions(before time.Time) (int, error) {
	return s.prune("session/", fmt.Sprintf("session/%020d", before.UnixNano()), nil)
}

func (s *badgerStore) PruneSignResults(before time.Time) (int, error) {
	return s.prune("signreq-at/", fmt.Sprintf("signreq-at/%020d", nanos(before)), func(k []byte) []byte {
		// signreq-at/<20 digits>/<request id>
		return append([]byte("signreq/"), k[len("signreq-at/")+20+1:]...)
	})
}

// indexSignResults writes the time index entry of every sign result when
// the store has not had it done (results written before the index
// existed), once.
func (s *badgerStore) indexSignResults() error {
	return s.buildOnce(signIndexed, func(txn *badger.Txn, wb *badger.WriteBatch) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("signreq/"), PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var r SignRecord
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &r) }); err != nil {
				return fmt.Errorf("sign result %q: %w", it.Item().Key(), err)
			}
			id := strings.TrimPrefix(string(it.Item().Key()), "signreq/")
			if err := wb.Set([]byte(signAtKey(r.At, id)), nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// buildOnce builds an index a store made before it existed lacks, once:
// unless marker is stored, build reads the records in txn and writes their
// entries into wb, and marker is written after them. A store that has
// always had the index gets marker at its first open (build finds no
// records).
func (s *badgerStore) buildOnce(marker string, build func(txn *badger.Txn, wb *badger.WriteBatch) error) error {
	err := s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get([]byte(marker))
		return err
	})
	if !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	if err := s.db.View(func(txn *badger.Txn) error { return build(txn, wb) }); err != nil {
		return err
	}
	if err := wb.Set([]byte(marker), nil); err != nil {
		return err
	}
	return wb.Flush()
}
