package seal

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestDefaultKDF(t *testing.T) {
	want := KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 2}
	if got := DefaultKDF(); got != want {
		t.Fatalf("DefaultKDF() = %+v, want %+v", got, want)
	}
	if err := DefaultKDF().Validate(); err != nil {
		t.Fatalf("DefaultKDF() does not validate: %v", err)
	}
	if !(KDFParams{}).IsZero() || DefaultKDF().IsZero() {
		t.Fatal("IsZero gives the wrong answer")
	}
}

func TestKDFParamsValidate(t *testing.T) {
	tests := []struct {
		p    KDFParams
		want string // "" = valid, else a word of the error
	}{
		{KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}, ""},
		{KDFParams{Time: 64, MemoryKiB: 4 * 1024 * 1024, Threads: 64}, ""},
		{KDFParams{}, "time"},
		{KDFParams{Time: 0, MemoryKiB: 8 * 1024, Threads: 1}, "time"},
		{KDFParams{Time: 65, MemoryKiB: 8 * 1024, Threads: 1}, "time"},
		{KDFParams{Time: 1000, MemoryKiB: 8 * 1024, Threads: 1}, "time"},
		{KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}, "memory"},
		{KDFParams{Time: 1, MemoryKiB: 8*1024 - 1, Threads: 1}, "memory"},
		{KDFParams{Time: 1, MemoryKiB: 4*1024*1024 + 1, Threads: 1}, "memory"},
		{KDFParams{Time: 1, MemoryKiB: 0xFFFFFFFF, Threads: 1}, "memory"},
		{KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 0}, "threads"},
		{KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 65}, "threads"},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Validate(%+v) = %v, want nil", tt.p, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Validate(%+v) = %v, want an error about %s", tt.p, err, tt.want)
		case err != nil && (errors.Is(err, ErrWrongPassphrase) || errors.Is(err, ErrTampered)):
			t.Errorf("Validate(%+v) = %v, want a parameter error", tt.p, err)
		}
	}
}

func TestDeriveKEK(t *testing.T) {
	salt := bytes.Repeat([]byte{1}, saltSize)
	kek, err := DeriveKEK(testPass(), salt, testKDF)
	if err != nil {
		t.Fatal(err)
	}
	if len(kek) != KEKSize {
		t.Fatalf("KEK is %d bytes, want %d", len(kek), KEKSize)
	}
	again, err := DeriveKEK(testPass(), salt, testKDF)
	if err != nil || !bytes.Equal(again, kek) {
		t.Fatalf("DeriveKEK is not deterministic: %x, %v", again, err)
	}
	otherSalt := bytes.Repeat([]byte{2}, saltSize)
	otherKDF := KDFParams{Time: 2, MemoryKiB: testKDF.MemoryKiB, Threads: 1}
	for name, got := range map[string]func() ([]byte, error){
		"other passphrase": func() ([]byte, error) { return DeriveKEK(NewPassphrase([]byte("other")), salt, testKDF) },
		"other salt":       func() ([]byte, error) { return DeriveKEK(testPass(), otherSalt, testKDF) },
		"other params":     func() ([]byte, error) { return DeriveKEK(testPass(), salt, otherKDF) },
	} {
		k, err := got()
		if err != nil || len(k) != KEKSize || bytes.Equal(k, kek) {
			t.Errorf("%s: %x, %v; want another %d-byte key", name, k, err, KEKSize)
		}
	}
	if k, err := DeriveKEK(Passphrase{}, salt, testKDF); !errors.Is(err, ErrNoPassphrase) || k != nil {
		t.Errorf("empty passphrase: %x, %v; want ErrNoPassphrase", k, err)
	}
	if k, err := DeriveKEK(testPass(), salt, KDFParams{}); err == nil || k != nil {
		t.Errorf("zero KDF params: %x, %v; want a parameter error", k, err)
	}
	if k, err := DeriveKEK(testPass(), salt, KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 0}); err == nil || k != nil {
		t.Errorf("zero threads: %x, %v; want a parameter error", k, err)
	}
}
