package keystore

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// testKDF keeps Argon2id cheap so the suite stays fast.
var testKDF = KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}

func testPass() Passphrase { return NewPassphrase([]byte("correct horse battery staple")) }

func testOptions() Options { return Options{KDF: testKDF} }

// openStore opens (creating) a store in dir and closes it at the end of the test.
func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, testPass(), testOptions())
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// closeStore closes s and fails the test on error.
func closeStore(t *testing.T, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// mustPut writes records and fails the test on error.
func mustPut(t *testing.T, s *Store, kv map[string]string) {
	t.Helper()
	for k, v := range kv {
		if err := s.Put(k, []byte(v)); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
	}
}

// wantValue asserts that key holds want.
func wantValue(t *testing.T, s *Store, key, want string) {
	t.Helper()
	got, err := s.Get(key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(got, []byte(want)) {
		t.Fatalf("Get(%q) = %q, want %q", key, got, want)
	}
}

// wantNotFound asserts that key is absent.
func wantNotFound(t *testing.T, s *Store, key string) {
	t.Helper()
	if got, err := s.Get(key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, got, err)
	}
}

// withRaw opens the closed store's badger database directly, bypassing the
// keystore, and runs fn in a read-write transaction.
func withRaw(t *testing.T, dir string, fn func(txn *badger.Txn) error) {
	t.Helper()
	db, err := badger.Open(badgerOptions(dir, slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatalf("raw badger open: %v", err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Fatalf("raw badger close: %v", err)
		}
	}()
	if err := db.Update(fn); err != nil {
		t.Fatalf("raw badger update: %v", err)
	}
}

// rawGet reads a stored (sealed) value directly from badger.
func rawGet(txn *badger.Txn, key string) ([]byte, error) {
	item, err := txn.Get([]byte(key))
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}
