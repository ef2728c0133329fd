package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/badgerlog"
)

type badgerStore struct {
	db *badger.DB
	// chain is held by every write that appends to the audit chain, so that
	// concurrent appends queue instead of failing Badger's conflict check
	// (the chain cannot fork either way: a conflicting append aborts).
	chain sync.Mutex
}

// OpenBadger opens the metadata store in dir with synchronous writes.
func OpenBadger(dir string, log *slog.Logger) (Store, error) {
	opts := badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithLogger(badgerlog.New(log, "store")).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithBlockCacheSize(16 << 20).
		WithIndexCacheSize(8 << 20).
		WithValueLogFileSize(64 << 20).
		WithNumCompactors(2)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("coordinator: open store in %s: %w", dir, err)
	}
	s := &badgerStore{db: db}
	if err := s.indexSignResults(); err != nil {
		db.Close()
		return nil, fmt.Errorf("coordinator: store in %s: index the sign results by time: %w", dir, err)
	}
	if err := s.indexKeys(); err != nil {
		db.Close()
		return nil, fmt.Errorf("coordinator: store in %s: index the keys by member device and reshare in flight: %w", dir, err)
	}
	return s, nil
}

func (s *badgerStore) Close() error { return s.db.Close() }

func (s *badgerStore) Ping() error {
	if s.db.IsClosed() {
		return errors.New("coordinator: store is closed")
	}
	return s.db.View(func(txn *badger.Txn) error {
		if _, err := txn.Get([]byte("ping")); err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		return nil
	})
}

func get(txn *badger.Txn, key string, v any) error {
	it, err := txn.Get([]byte(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return it.Value(func(b []byte) error { return json.Unmarshal(b, v) })
}

func put(txn *badger.Txn, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return txn.Set([]byte(key), b)
}

func list[T any](db *badger.DB, prefix string) ([]T, error) {
	var out []T
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix), PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var v T
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &v) }); err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

func (s *badgerStore) CreatePairing(id []byte, p Pairing, e *auditlog.Entry) error {
	return s.chained(e, func(txn *badger.Txn) error {
		if err := put(txn, fmt.Sprintf("pairing/%x", id), p); err != nil {
			return err
		}
		return sealAudit(txn, e)
	})
}

func (s *badgerStore) ListPairings() ([]Pairing, error) { return list[Pairing](s.db, "pairing/") }

func (s *badgerStore) EnrollDevice(id []byte, decide Enrolment, e *auditlog.Entry) (Device, error) {
	var dev Device
	var refused error // decide's error: returned after the code is written
	var sealed *auditlog.Entry
	err := s.chained(e, func(txn *badger.Txn) error {
		dev, refused, sealed = Device{}, nil, nil
		key := fmt.Sprintf("pairing/%x", id)
		var p Pairing
		found := true
		if err := get(txn, key, &p); errors.Is(err, ErrNotFound) {
			found = false
		} else if err != nil {
			return err
		}
		lookup := func(id string) (Device, bool, error) {
			var d Device
			switch err := get(txn, "device/"+id, &d); {
			case errors.Is(err, ErrNotFound):
				return Device{}, false, nil
			case err != nil:
				return Device{}, false, err
			}
			return d, true, nil
		}
		d, err := decide(&p, found, lookup)
		refused = err
		if !found {
			return nil
		}
		if err := put(txn, key, p); err != nil {
			return err
		}
		if d == nil {
			return nil
		}
		dev = *d
		if err := put(txn, "device/"+d.ID, d); err != nil {
			return err
		}
		if e == nil {
			return nil
		}
		out, err := appendAudit(txn, *e)
		sealed = &out
		return err
	})
	if err != nil {
		return Device{}, err
	}
	if sealed != nil {
		*e = *sealed
	}
	return dev, refused
}

func (s *badgerStore) GetDevice(id string) (Device, error) {
	var d Device
	err := s.db.View(func(txn *badger.Txn) error { return get(txn, "device/"+id, &d) })
	return d, err
}

func (s *badgerStore) UpdateDevice(id string, fn func(*Device) error, e *auditlog.Entry) (Device, error) {
	var d Device
	err := s.chained(e, func(txn *badger.Txn) error {
		d = Device{}
		if err := get(txn, "device/"+id, &d); err != nil {
			return err
		}
		if err := fn(&d); err != nil {
			return err
		}
		if err := put(txn, "device/"+id, d); err != nil {
			return err
		}
		return sealAudit(txn, e)
	})
	return d, err
}

func (s *badgerStore) ListDevices() ([]Device, error) { return list[Device](s.db, "device/") }

func (s *badgerStore) GetKey(id string) (Key, error) {
	var k Key
	err := s.db.View(func(txn *badger.Txn) error { return get(txn, "key/"+id, &k) })
	return k, err
}

func (s *badgerStore) ListKeys() ([]Key, error) { return list[Key](s.db, "key/") }

func (s *badgerStore) UpdateReshareJob(keyID string, fn func(*ReshareJob) error) (ReshareJob, error) {
	var j ReshareJob
	err := s.retry(func(txn *badger.Txn) error {
		j = ReshareJob{}
		if err := get(txn, "reshare-job/"+keyID, &j); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		j.KeyID = keyID
		if err := fn(&j); err != nil {
			return err
		}
		return put(txn, "reshare-job/"+keyID, j)
	})
	return j, err
}

func (s *badgerStore) ListReshareJobs() ([]ReshareJob, error) {
	return list[ReshareJob](s.db, "reshare-job/")
}

func (s *badgerStore) PutSignResult(requestID string, r SignRecord, e *auditlog.Entry) (SignRecord, error) {
	var out SignRecord
	var sealed *auditlog.Entry
	err := s.chained(e, func(txn *badger.Txn) error {
		out, sealed = r, nil
		key := "signreq/" + requestID
		var existing SignRecord
		if err := get(txn, key, &existing); err == nil {
			out = existing
			return nil
		}
		if err := put(txn, key, r); err != nil {
			return err
		}
		if err := txn.Set([]byte(signAtKey(r.At, requestID)), nil); err != nil {
			return err
		}
		if e == nil {
			return nil
		}
		c := *e
		sealed = &c
		return sealAudit(txn, sealed)
	})
	if err == nil && sealed != nil {
		*e = *sealed
	}
	return out, err
}

// retry runs fn in an update transaction, again when a concurrent
// transaction conflicted with it.
// chained is retry for a write that appends e to the audit chain (none when
// e is nil).
func (s *badgerStore) chained(e *auditlog.Entry, fn func(txn *badger.Txn) error) error {
	if e != nil {
		s.chain.Lock()
		defer s.chain.Unlock()
	}
	return s.retry(fn)
}

func (s *badgerStore) retry(fn func(txn *badger.Txn) error) error {
	for attempt := 0; ; attempt++ {
		err := s.db.Update(fn)
		if errors.Is(err, badger.ErrConflict) && attempt < 8 {
			continue
		}
		return err
	}
}

func (s *badgerStore) GetSignResult(requestID string) (SignRecord, error) {
	var r SignRecord
	err := s.db.View(func(txn *badger.Txn) error { return get(txn, "signreq/"+requestID, &r) })
	return r, err
}

func (s *badgerStore) PutSession(r SessionRecord) error {
	// Keyed by start time so that a listing is in order.
	key := sessionKey(r.Started, r.ID)
	return s.db.Update(func(txn *badger.Txn) error { return put(txn, key, r) })
}

func (s *badgerStore) PutToken(hash []byte, t Token, e *auditlog.Entry) error {
	return s.chained(e, func(txn *badger.Txn) error {
		if err := put(txn, fmt.Sprintf("token/%x", hash), t); err != nil {
			return err
		}
		return sealAudit(txn, e)
	})
}

const auditHead = "audit-head"

func (s *badgerStore) AppendAudit(e auditlog.Entry) (auditlog.Entry, error) {
	var out auditlog.Entry
	err := s.chained(&e, func(txn *badger.Txn) error {
		var err error
		out, err = appendAudit(txn, e)
		return err
	})
	return out, err
}

// sealAudit appends *e in txn when e is set (and records the sealed entry
// in *e): an action and its audit entry are written together or not at all.
func sealAudit(txn *badger.Txn, e *auditlog.Entry) error {
	if e == nil {
		return nil
	}
	sealed, err := appendAudit(txn, *e)
	if err != nil {
		return err
	}
	*e = sealed
	return nil
}

func appendAudit(txn *badger.Txn, e auditlog.Entry) (auditlog.Entry, error) {
	var head auditlog.Entry
	var prev *auditlog.Entry
	if err := get(txn, auditHead, &head); err == nil {
		prev = &head
	} else if !errors.Is(err, ErrNotFound) {
		return auditlog.Entry{}, err
	}
	out := auditlog.Seal(e, prev)
	if err := put(txn, fmt.Sprintf("audit/%020d", out.Seq), out); err != nil {
		return auditlog.Entry{}, err
	}
	return out, put(txn, auditHead, out)
}

func (s *badgerStore) ListAudit(since uint64, limit int) ([]auditlog.Entry, error) {
	var out []auditlog.Entry
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("audit/"), PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Seek([]byte(fmt.Sprintf("audit/%020d", since))); it.Valid() && len(out) < limit; it.Next() {
			var e auditlog.Entry
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &e) }); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

func (s *badgerStore) AuditHeight() (uint64, error) {
	var head auditlog.Entry
	err := s.db.View(func(txn *badger.Txn) error { return get(txn, auditHead, &head) })
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	return head.Seq, err
}

func (s *badgerStore) ListTokens() ([]Token, error) { return list[Token](s.db, "token/") }

func (s *badgerStore) UpdateToken(id string, fn func(*Token, []Token) error, e *auditlog.Entry) (Token, error) {
	var out Token
	err := s.chained(e, func(txn *badger.Txn) error {
		var all []Token
		var key string
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("token/"), PrefetchValues: true})
		for it.Rewind(); it.Valid(); it.Next() {
			var t Token
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &t) }); err != nil {
				it.Close()
				return err
			}
			all = append(all, t)
			if t.ID == id {
				key, out = string(it.Item().KeyCopy(nil)), t
			}
		}
		it.Close()
		if key == "" {
			return ErrNotFound
		}
		if err := fn(&out, all); err != nil {
			return err
		}
		if err := put(txn, key, out); err != nil {
			return err
		}
		return sealAudit(txn, e)
	})
	return out, err
}

func (s *badgerStore) GetToken(hash []byte) (Token, error) {
	var t Token
	err := s.db.View(func(txn *badger.Txn) error { return get(txn, fmt.Sprintf("token/%x", hash), &t) })
	return t, err
}
