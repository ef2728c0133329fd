package keystore

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

func TestWrongPassphrase(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustPut(t, s, map[string]string{"k": "v"})
	closeStore(t, s)

	tests := []struct {
		name    string
		pass    Passphrase
		wantErr error
	}{
		{"different passphrase", NewPassphrase([]byte("correct horse battery stapler")), ErrWrongPassphrase},
		{"empty passphrase", Passphrase{}, ErrNoPassphrase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(dir, tt.pass, testOptions())
			if !errors.Is(err, tt.wantErr) {
				if s != nil {
					s.Close()
				}
				t.Fatalf("Open = %v, want %v", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "staple") {
				t.Fatalf("error %q contains passphrase material", err)
			}
		})
	}
	// The failed opens released the directory and changed nothing.
	s = openStore(t, dir)
	wantValue(t, s, "k", "v")
}

// TestTamperedRecords edits the database behind the store's back and checks
// that the affected record fails with ErrTampered while the others still open.
func TestTamperedRecords(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(t *testing.T, txn *badger.Txn) error
		target string // the record that must now fail
	}{
		{"flipped ciphertext byte", flipByte("victim", -1), "victim"},
		{"flipped nonce byte", flipByte("victim", 5), "victim"},
		{"flipped version byte", flipByte("victim", 0), "victim"},
		{"value moved to another key", func(t *testing.T, txn *badger.Txn) error {
			v, err := rawGet(txn, "victim")
			if err != nil {
				return err
			}
			return txn.Set([]byte("other"), v)
		}, "other"},
		{"truncated value", editValue("victim", func(v []byte) []byte { return v[:len(v)-1] }), "victim"},
		{"truncated to header", editValue("victim", func(v []byte) []byte { return v[:recordOverhead-1] }), "victim"},
		{"empty value", editValue("victim", func([]byte) []byte { return []byte{} }), "victim"},
		{"extended value", editValue("victim", func(v []byte) []byte { return append(v, 0) }), "victim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := openStore(t, dir)
			mustPut(t, s, map[string]string{"victim": "secret share", "other": "other value", "bystander": "fine"})
			closeStore(t, s)

			withRaw(t, dir, func(txn *badger.Txn) error { return tt.edit(t, txn) })

			s = openStore(t, dir)
			got, err := s.Get(tt.target)
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("Get(%q) = %q, %v; want ErrTampered", tt.target, got, err)
			}
			if got != nil || strings.Contains(err.Error(), "secret share") {
				t.Fatalf("tampered Get leaked plaintext: %q, %v", got, err)
			}
			wantValue(t, s, "bystander", "fine")
			// Update surfaces the same error.
			err = s.Update(func(tx *Txn) error { _, err := tx.Get(tt.target); return err })
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("tx.Get(%q): %v, want ErrTampered", tt.target, err)
			}
		})
	}
}

func editValue(key string, f func([]byte) []byte) func(*testing.T, *badger.Txn) error {
	return func(t *testing.T, txn *badger.Txn) error {
		v, err := rawGet(txn, key)
		if err != nil {
			return err
		}
		return txn.Set([]byte(key), f(v))
	}
}

// flipByte flips a bit of the stored value at index i (negative: from the end).
func flipByte(key string, i int) func(*testing.T, *badger.Txn) error {
	return editValue(key, func(v []byte) []byte {
		if i < 0 {
			i += len(v)
		}
		v[i] ^= 0x01
		return v
	})
}

// TestTamperedHeader checks the errors Open gives for a damaged header.
func TestTamperedHeader(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(txn *badger.Txn) error
		wantErr error
	}{
		{"header deleted, records remain", func(txn *badger.Txn) error {
			return txn.Delete([]byte(headerKey))
		}, ErrTampered},
		{"header truncated", editHeader(func(h []byte) []byte { return h[:headerSize-1] }), ErrTampered},
		{"header empty", editHeader(func([]byte) []byte { return nil }), ErrTampered},
		{"unknown header version", editHeader(func(h []byte) []byte { h[0] = 9; return h }), ErrTampered},
		{"unknown KDF", editHeader(func(h []byte) []byte { h[1] = 2; return h }), ErrTampered},
		{"absurd KDF memory", editHeader(func(h []byte) []byte {
			binary.BigEndian.PutUint32(h[6:], 0xFFFFFFFF)
			return h
		}), ErrTampered},
		// Authenticated fields: a change cannot be told from a wrong passphrase.
		{"KDF time altered", editHeader(func(h []byte) []byte { h[5]++; return h }), ErrWrongPassphrase},
		{"salt altered", editHeader(func(h []byte) []byte { h[11] ^= 1; return h }), ErrWrongPassphrase},
		{"wrapped key altered", editHeader(func(h []byte) []byte { h[headerSize-1] ^= 1; return h }), ErrWrongPassphrase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := openStore(t, dir)
			mustPut(t, s, map[string]string{"k": "v"})
			closeStore(t, s)

			withRaw(t, dir, tt.edit)

			s, err := Open(dir, testPass(), testOptions())
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded on a damaged header")
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func editHeader(f func([]byte) []byte) func(*badger.Txn) error {
	return func(txn *badger.Txn) error {
		h, err := rawGet(txn, headerKey)
		if err != nil {
			return err
		}
		return txn.Set([]byte(headerKey), f(h))
	}
}

func TestHeaderNeverExposed(t *testing.T) {
	s := openStore(t, t.TempDir())
	keys, err := s.List("")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Fatalf("List on a new store = %q, want nothing (header hidden)", keys)
	}
	if _, err := s.Get(headerKey); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("Get(header) = %v, want ErrInvalidKey", err)
	}
}
