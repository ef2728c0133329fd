package keystore

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/crypto/chacha20poly1305"
)

// Options configures Open.
type Options struct {
	// Logger receives badger's warnings and the store's own rare messages.
	// Nil discards them.
	Logger *slog.Logger
	// KDF are the Argon2id parameters for a new store; zero means
	// DefaultKDF(). They are ignored when the store already exists: its
	// header records the parameters it was created with.
	KDF KDFParams
}

// Store is an open keystore. Its methods are safe for concurrent use.
type Store struct {
	dir string
	log *slog.Logger

	db   *badger.DB
	key  *dataKey
	aead cipher.AEAD
	kdf  KDFParams // as stored in the header

	mu       sync.Mutex     // guards closed
	closed   bool           // set once by Close
	inflight sync.WaitGroup // operations Close waits for before closing db

	updateMu sync.Mutex // serialises Update so that read-modify-write rarely conflicts
}

// Open opens the store in dir, creating dir and a new store (with a fresh
// data key wrapped under pass) if there is none. The badger files live in dir
// itself. It returns an error wrapping ErrLocked if another process (or
// another Store in this process) has dir open, ErrWrongPassphrase if pass does
// not unwrap the data key, and ErrTampered if the header is malformed, or
// missing while other records exist. Open does not retain or wipe pass.
func Open(dir string, pass Passphrase, opts Options) (*Store, error) {
	if pass.IsZero() {
		return nil, ErrNoPassphrase
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kdf := opts.KDF
	if kdf.IsZero() {
		kdf = DefaultKDF()
	}
	if err := kdf.Validate(); err != nil {
		return nil, err
	}

	db, err := openBadger(dir, log)
	if err != nil {
		return nil, err
	}
	h, dk, created, err := loadOrCreateHeader(db, pass, kdf)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(dk.bytes())
	if err != nil {
		dk.wipe()
		_ = db.Close()
		return nil, fmt.Errorf("keystore: data key: %w", err)
	}
	if created {
		log.Info("keystore created", "dir", dir,
			"kdf_time", h.kdf.Time, "kdf_memory_kib", h.kdf.MemoryKiB, "kdf_threads", h.kdf.Threads)
	}
	return &Store{dir: dir, log: log, db: db, key: dk, aead: aead, kdf: h.kdf}, nil
}

// loadOrCreateHeader unwraps the data key from the header record, or writes a
// new header if the database holds no record at all.
func loadOrCreateHeader(db *badger.DB, pass Passphrase, kdf KDFParams) (*header, *dataKey, bool, error) {
	var raw []byte
	empty := false
	err := db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(headerKey))
		if errors.Is(err, badger.ErrKeyNotFound) {
			empty, err = isEmpty(txn)
			return err
		}
		if err != nil {
			return err
		}
		raw, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return nil, nil, false, fmt.Errorf("keystore: read header: %w", err)
	}
	if raw == nil {
		if !empty {
			return nil, nil, false, fmt.Errorf("%w: header record is missing but the store holds records", ErrTampered)
		}
		h, dk, err := newHeader(pass, kdf)
		if err != nil {
			return nil, nil, false, err
		}
		if err := db.Update(func(txn *badger.Txn) error {
			return txn.Set([]byte(headerKey), h.marshal())
		}); err != nil {
			dk.wipe()
			return nil, nil, false, fmt.Errorf("keystore: write header: %w", err)
		}
		return h, dk, true, nil
	}
	h, err := parseHeader(raw)
	if err != nil {
		return nil, nil, false, err
	}
	dk, err := h.unwrap(pass)
	if err != nil {
		return nil, nil, false, err
	}
	return h, dk, false, nil
}

// isEmpty reports whether the database holds no user-visible key.
func isEmpty(txn *badger.Txn) (bool, error) {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
	defer it.Close()
	it.Rewind()
	return !it.Valid(), nil
}

// Close closes the store and wipes the data key. Closing twice is not an
// error.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.inflight.Wait()
	s.key.wipe()
	s.key, s.aead = nil, nil
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("keystore: close %s: %w", s.dir, err)
	}
	return nil
}

// Get returns the value stored under key. It returns an error wrapping
// ErrNotFound if there is none and ErrTampered if the stored record does not
// authenticate. The caller owns the returned bytes and should wipe them when
// they hold a secret.
func (s *Store) Get(key string) ([]byte, error) {
	var out []byte
	err := s.view(func(txn *badger.Txn) error {
		var err error
		out, err = s.get(txn, key)
		return err
	})
	return out, err
}

// Put stores value under key, replacing any previous value. The write is
// durable (synced) when Put returns.
func (s *Store) Put(key string, value []byte) error {
	return s.write(func(tx *Txn) error { return tx.Put(key, value) })
}

// Delete removes key. Deleting a missing key is not an error.
func (s *Store) Delete(key string) error {
	return s.write(func(tx *Txn) error { return tx.Delete(key) })
}

// List returns the keys of the records whose key starts with prefix, in
// ascending byte order. Internal records are never listed.
func (s *Store) List(prefix string) ([]string, error) {
	keys := []string{}
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte(prefix)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) == 0 || k[0] == 0x00 {
				continue
			}
			keys = append(keys, string(k))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// acquire registers an operation that Close must wait for. It fails with
// ErrClosed once Close has begun. (A WaitGroup rather than an RWMutex, so
// that a Put nested in an Update cannot deadlock against a waiting Close.)
func (s *Store) acquire() (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	s.inflight.Add(1)
	return s.inflight.Done, nil
}

// view runs fn in a read-only badger transaction while the store is open.
func (s *Store) view(fn func(txn *badger.Txn) error) error {
	release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	return s.db.View(fn)
}

// get reads and opens one record; the caller has acquired the store.
func (s *Store) get(txn *badger.Txn, key string) ([]byte, error) {
	if err := validateKey(key); err != nil {
		return nil, err
	}
	item, err := txn.Get([]byte(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: get %q: %w", key, err)
	}
	var out []byte
	if err := item.Value(func(v []byte) error {
		var err error
		out, err = openRecord(s.aead, key, v)
		return err
	}); err != nil {
		if errors.Is(err, ErrTampered) {
			return nil, err
		}
		return nil, fmt.Errorf("keystore: get %q: %w", key, err)
	}
	return out, nil
}

// String describes the store without any secret.
func (s *Store) String() string { return "keystore.Store(" + s.dir + ")" }

// Format implements fmt.Formatter so that no verb prints the store's fields.
func (s *Store) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue implements slog.LogValuer.
func (s *Store) LogValue() slog.Value { return slog.StringValue(s.String()) }

// kdfParams returns the KDF parameters recorded in the store's header.
func (s *Store) kdfParams() KDFParams { return s.kdf }
