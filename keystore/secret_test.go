package keystore

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mpcsign/mpcsign/internal/redacttest"
)

const secretText = "s3cr3t-passphrase-xyzzy"

var formats = redacttest.Formats

func TestSecretsPrintRedacted(t *testing.T) {
	pass := NewPassphrase([]byte(secretText))
	dk := newDataKey()
	copy(dk.bytes(), secretText)
	type holder struct { // an unexported field is printed by reflection, not via methods
		pass Passphrase
		key  *dataKey
	}
	tests := []struct {
		name string
		v    any
		// wantRedacted: the output must say REDACTED (false for structs that
		// hold a secret behind a pointer and so print an address).
		wantRedacted bool
	}{
		{"Passphrase", pass, true},
		{"*Passphrase", &pass, true},
		{"*dataKey", dk, true},
		{"dataKey", *dk, true},
		{"struct holding secrets", holder{pass: pass, key: dk}, false},
	}
	hexSecret := fmt.Sprintf("%x", secretText)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for how, got := range formats(tt.v) {
				if strings.Contains(got, secretText) || strings.Contains(strings.ToLower(got), hexSecret) ||
					strings.Contains(got, fmt.Sprint([]byte(secretText))[1:20]) {
					t.Errorf("%s leaks the secret: %s", how, got)
				}
				if tt.wantRedacted && !strings.Contains(got, "REDACTED") {
					t.Errorf("%s = %q, want REDACTED", how, got)
				}
			}
		})
	}
	if _, err := json.Marshal(struct{ P Passphrase }{pass}); err == nil {
		t.Error("json.Marshal of a Passphrase field succeeded, want an error")
	}
	if _, err := json.Marshal(struct{ K dataKey }{*dk}); err == nil {
		t.Error("json.Marshal of a dataKey field succeeded, want an error")
	}
}
