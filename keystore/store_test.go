package keystore

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestRoundTripAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustPut(t, s, map[string]string{
		"share/k1/epoch/1": "share one",
		"share/k1/epoch/2": "share two",
		"share/k2/epoch/1": "other key",
		"preparams/0001":   "paillier",
		"identity/ed25519": "id",
	})
	if err := s.Put("empty", nil); err != nil {
		t.Fatalf("Put(empty): %v", err)
	}
	if err := s.Put("share/k1/epoch/2", []byte("share two, rewritten")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("preparams/0001"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("never/existed"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	if err := s.Update(func(tx *Txn) error {
		v, err := tx.Get("share/k1/epoch/1")
		if err != nil {
			return err
		}
		if err := tx.Put("share/k1/epoch/3", append(v, " promoted"...)); err != nil {
			return err
		}
		return tx.Delete("share/k1/epoch/1")
	}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	closeStore(t, s)

	s = openStore(t, dir)
	wantValue(t, s, "share/k1/epoch/2", "share two, rewritten")
	wantValue(t, s, "share/k1/epoch/3", "share one promoted")
	wantValue(t, s, "share/k2/epoch/1", "other key")
	wantValue(t, s, "identity/ed25519", "id")
	wantNotFound(t, s, "share/k1/epoch/1")
	wantNotFound(t, s, "preparams/0001")
	if v, err := s.Get("empty"); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("Get(empty) = %v, %v; want a non-nil empty value", v, err)
	}

	tests := []struct {
		prefix string
		want   []string
	}{
		{"share/k1/", []string{"share/k1/epoch/2", "share/k1/epoch/3"}},
		{"share/", []string{"share/k1/epoch/2", "share/k1/epoch/3", "share/k2/epoch/1"}},
		{"", []string{"empty", "identity/ed25519", "share/k1/epoch/2", "share/k1/epoch/3", "share/k2/epoch/1"}},
		{"nothing/", []string{}},
		{"\x00", []string{}}, // internal records never listed
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("List(%q)", tt.prefix), func(t *testing.T) {
			got, err := s.List(tt.prefix)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("List(%q) = %q, want %q", tt.prefix, got, tt.want)
			}
		})
	}
}

func TestUpdateIsAtomic(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustPut(t, s, map[string]string{"a": "old a", "gone": "still here"})
	errBoom := errors.New("boom")
	err := s.Update(func(tx *Txn) error {
		if err := tx.Put("a", []byte("new a")); err != nil {
			return err
		}
		if err := tx.Put("b", []byte("new b")); err != nil {
			return err
		}
		if err := tx.Delete("gone"); err != nil {
			return err
		}
		// fn sees its own writes.
		if v, err := tx.Get("a"); err != nil || string(v) != "new a" {
			return fmt.Errorf("read own write: %q, %v", v, err)
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update error = %v, want fn's error", err)
	}
	wantValue(t, s, "a", "old a")
	wantNotFound(t, s, "b")
	wantValue(t, s, "gone", "still here")

	// A panic in fn writes nothing either.
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic in fn did not propagate")
			}
		}()
		_ = s.Update(func(tx *Txn) error {
			if err := tx.Put("a", []byte("panicked")); err != nil {
				return err
			}
			panic("fn panics")
		})
	}()
	wantValue(t, s, "a", "old a")

	// A Txn kept past its Update is dead.
	var leaked *Txn
	if err := s.Update(func(tx *Txn) error { leaked = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := leaked.Put("a", []byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put on a finished Txn: %v, want ErrClosed", err)
	}
	wantValue(t, s, "a", "old a")
}

func TestConcurrentUpdates(t *testing.T) {
	s := openStore(t, t.TempDir())
	const workers, rounds = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*2)
	for w := range workers {
		wg.Go(func() {
			for range rounds {
				err := s.Update(func(tx *Txn) error {
					n := 0
					v, err := tx.Get("counter")
					if err == nil {
						n = int(v[0])
					} else if !errors.Is(err, ErrNotFound) {
						return err
					}
					return tx.Put("counter", []byte{byte(n + 1)})
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
		// Blind writes to a key the updates read force conflicts and retries.
		wg.Go(func() {
			for i := range rounds {
				if err := s.Put(fmt.Sprintf("noise/%d/%d", w, i), []byte("x")); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	v, err := s.Get("counter")
	if err != nil {
		t.Fatal(err)
	}
	if int(v[0]) != workers*rounds {
		t.Fatalf("counter = %d, want %d (lost update)", v[0], workers*rounds)
	}
}

func TestInvalidInput(t *testing.T) {
	s := openStore(t, t.TempDir())
	tests := []struct {
		name    string
		key     string
		value   []byte
		wantErr error
	}{
		{"empty key", "", []byte("v"), ErrInvalidKey},
		{"leading NUL", "\x00x", []byte("v"), ErrInvalidKey},
		{"header key", headerKey, []byte("v"), ErrInvalidKey},
		{"badger prefix", "!badger!head", []byte("v"), ErrInvalidKey},
		{"key too long", strings.Repeat("k", MaxKeySize+1), []byte("v"), ErrInvalidKey},
		{"value too large", "big", make([]byte, MaxValueSize+1), ErrValueTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Put(tt.key, tt.value); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Put: %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == ErrInvalidKey {
				if _, err := s.Get(tt.key); !errors.Is(err, ErrInvalidKey) {
					t.Fatalf("Get: %v, want ErrInvalidKey", err)
				}
				if err := s.Delete(tt.key); !errors.Is(err, ErrInvalidKey) {
					t.Fatalf("Delete: %v, want ErrInvalidKey", err)
				}
			}
		})
	}
	// The limits themselves are accepted.
	longKey := strings.Repeat("k", MaxKeySize)
	big := bytes.Repeat([]byte{0xA5}, MaxValueSize)
	if err := s.Put(longKey, big); err != nil {
		t.Fatalf("Put at the limits: %v", err)
	}
	got, err := s.Get(longKey)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("Get at the limits: %d bytes, %v", len(got), err)
	}
}

func TestClosedStore(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustPut(t, s, map[string]string{"k": "v"})
	closeStore(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if s.key != nil || s.aead != nil {
		t.Fatal("Close kept the data key")
	}
	checks := map[string]error{
		"Get":    func() error { _, err := s.Get("k"); return err }(),
		"Put":    s.Put("k", []byte("v")),
		"Delete": s.Delete("k"),
		"List":   func() error { _, err := s.List(""); return err }(),
		"Update": s.Update(func(*Txn) error { return nil }),
	}
	for name, err := range checks {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

func TestStoreDoesNotPrintSecrets(t *testing.T) {
	s := openStore(t, t.TempDir())
	key := s.key.bytes()
	for how, got := range formats(s) {
		if strings.Contains(got, fmt.Sprintf("%x", key)) || strings.Contains(got, fmt.Sprint(key)[1:30]) {
			t.Errorf("%s prints the data key: %s", how, got)
		}
		if !strings.Contains(got, "keystore.Store(") {
			t.Errorf("%s = %q, want the store description", how, got)
		}
	}
}

func TestUpdateRetriesOnConflict(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustPut(t, s, map[string]string{"x": "original"})
	calls := 0
	err := s.Update(func(tx *Txn) error {
		calls++
		v, err := tx.Get("x")
		if err != nil {
			return err
		}
		if calls == 1 {
			// A write that commits after this transaction read x: the
			// commit must conflict and fn must run again.
			if err := s.Put("x", []byte("changed")); err != nil {
				return err
			}
		}
		return tx.Put("y", v)
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if calls != 2 {
		t.Fatalf("fn ran %d times, want 2 (one conflict, one retry)", calls)
	}
	wantValue(t, s, "y", "changed")
}
