package keystore

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mpcsign/mpcsign/keystore/seal"
)

// TestSealAliases checks that the names keystore keeps for package seal's
// values are the same values: errors.Is matches across both names, and a
// blob sealed under one name opens under the other.
func TestSealAliases(t *testing.T) {
	for _, tt := range []struct{ ks, s error }{
		{ErrWrongPassphrase, seal.ErrWrongPassphrase},
		{ErrTampered, seal.ErrTampered},
		{ErrNoPassphrase, seal.ErrNoPassphrase},
	} {
		if !errors.Is(fmt.Errorf("ctx: %w", tt.s), tt.ks) || !errors.Is(fmt.Errorf("ctx: %w", tt.ks), tt.s) {
			t.Errorf("errors.Is does not match %q across keystore and seal", tt.ks)
		}
	}
	if DefaultKDF() != seal.DefaultKDF() || PassphraseEnv != seal.PassphraseEnv {
		t.Error("DefaultKDF or PassphraseEnv differs from package seal's")
	}
	var p seal.Passphrase = NewPassphrase([]byte("pw")) // the same type
	blob, err := SealBlob(p, testKDF, []byte("ad"), []byte("msg"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := seal.OpenBlob(p, []byte("ad"), blob); err != nil || string(got) != "msg" {
		t.Fatalf("seal.OpenBlob of a keystore.SealBlob blob: %q, %v", got, err)
	}
	if _, err := OpenBlob(NewPassphrase([]byte("other")), []byte("ad"), blob); !errors.Is(err, seal.ErrWrongPassphrase) {
		t.Fatalf("keystore.OpenBlob with another passphrase: %v, want seal.ErrWrongPassphrase", err)
	}
}
