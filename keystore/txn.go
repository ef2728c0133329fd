package keystore

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// maxUpdateAttempts bounds how often Update re-runs fn after a conflict.
const maxUpdateAttempts = 16

// Txn is a read-write transaction over several records, valid only inside
// the function passed to Store.Update. It is not safe for concurrent use.
type Txn struct {
	s    *Store
	btx  *badger.Txn
	done bool
}

// Update runs fn in a read-write transaction and commits its writes
// atomically and durably if fn returns nil. If fn returns an error (or
// panics), nothing it wrote is kept and Update returns fn's error unchanged.
//
// Reads inside fn see the state at the start of the transaction plus fn's
// own writes. Update calls are serialised within a Store; if a concurrent Put
// or Delete changes a record that fn read, the transaction is discarded and
// fn runs again, so fn must not have effects outside tx. fn may call Put,
// Delete, Get and List on the Store, but must not call Update or Close on it.
func (s *Store) Update(fn func(tx *Txn) error) error {
	if fn == nil {
		return errors.New("keystore: Update: nil function")
	}
	s.updateMu.Lock()
	defer s.updateMu.Unlock()
	for attempt := 1; ; attempt++ {
		err := s.write(fn)
		if errors.Is(err, badger.ErrConflict) && attempt < maxUpdateAttempts {
			continue
		}
		return err
	}
}

// write runs fn in one badger read-write transaction and commits it. fn's own
// error is returned unchanged; commit errors are wrapped.
func (s *Store) write(fn func(tx *Txn) error) error {
	release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	btx := s.db.NewTransaction(true)
	defer btx.Discard()
	tx := &Txn{s: s, btx: btx}
	defer func() { tx.done = true }()
	if err := fn(tx); err != nil {
		return err
	}
	tx.done = true
	if err := btx.Commit(); err != nil {
		return fmt.Errorf("keystore: commit: %w", err)
	}
	return nil
}

// Get returns the value of key as seen by the transaction (see Store.Get).
func (tx *Txn) Get(key string) ([]byte, error) {
	if tx.done {
		return nil, ErrClosed
	}
	return tx.s.get(tx.btx, key)
}

// Put sets key to value in the transaction (see Store.Put).
func (tx *Txn) Put(key string, value []byte) error {
	if tx.done {
		return ErrClosed
	}
	if err := validateKey(key); err != nil {
		return err
	}
	if len(value) > MaxValueSize {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrValueTooLarge, len(value), MaxValueSize)
	}
	rec := sealRecord(tx.s.aead, key, value)
	if err := tx.btx.Set([]byte(key), rec); err != nil {
		return fmt.Errorf("keystore: put %q: %w", key, err)
	}
	return nil
}

// Delete removes key in the transaction; a missing key is not an error.
func (tx *Txn) Delete(key string) error {
	if tx.done {
		return ErrClosed
	}
	if err := validateKey(key); err != nil {
		return err
	}
	if err := tx.btx.Delete([]byte(key)); err != nil {
		return fmt.Errorf("keystore: delete %q: %w", key, err)
	}
	return nil
}
