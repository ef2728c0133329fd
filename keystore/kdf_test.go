package keystore

import (
	"errors"
	"testing"
)

func TestDefaultKDF(t *testing.T) {
	want := KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 2}
	if got := DefaultKDF(); got != want {
		t.Fatalf("DefaultKDF() = %+v, want %+v", got, want)
	}
	// Zero Options.KDF on creation stores the defaults.
	s, err := Open(t.TempDir(), testPass(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.kdfParams(); got != want {
		t.Fatalf("new store with zero KDF has %+v, want %+v", got, want)
	}
}

func TestKDFParamsReadFromHeader(t *testing.T) {
	custom := KDFParams{Time: 2, MemoryKiB: 9 * 1024, Threads: 3}
	dir := t.TempDir()
	s, err := Open(dir, testPass(), Options{KDF: custom})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.kdfParams(); got != custom {
		t.Fatalf("created with %+v, store reports %+v", custom, got)
	}
	mustPut(t, s, map[string]string{"k": "v"})
	closeStore(t, s)

	reopen := []struct {
		name string
		opts Options
	}{
		{"zero options", Options{}},
		{"different options", Options{KDF: testKDF}},
	}
	for _, tt := range reopen {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(dir, testPass(), tt.opts)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer s.Close()
			if got := s.kdfParams(); got != custom {
				t.Fatalf("reopened store has %+v, want the stored %+v", got, custom)
			}
			wantValue(t, s, "k", "v")
		})
	}
}

func TestKDFParamsValidated(t *testing.T) {
	tests := []KDFParams{
		{Time: 0, MemoryKiB: 8 * 1024, Threads: 1},
		{Time: 1, MemoryKiB: 1024, Threads: 1},
		{Time: 1, MemoryKiB: 8 * 1024, Threads: 0},
		{Time: 1000, MemoryKiB: 8 * 1024, Threads: 1},
		{Time: 1, MemoryKiB: 0xFFFFFFFF, Threads: 1},
	}
	for _, p := range tests {
		t.Run("", func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, testPass(), Options{KDF: p})
			if err == nil {
				s.Close()
				t.Fatalf("Open with KDF %+v succeeded", p)
			}
			if errors.Is(err, ErrWrongPassphrase) || errors.Is(err, ErrTampered) {
				t.Fatalf("Open with KDF %+v: %v, want a parameter error", p, err)
			}
		})
	}
}
