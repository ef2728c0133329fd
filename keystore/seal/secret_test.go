package seal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mpcsign/mpcsign/internal/redacttest"
)

const secretText = "s3cr3t-passphrase-xyzzy"

var formats = redacttest.Formats

func TestSecretsPrintRedacted(t *testing.T) {
	pass := NewPassphrase([]byte(secretText))
	type holder struct { // an unexported field is printed by reflection, not via methods
		pass Passphrase
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
		{"struct holding a passphrase", holder{pass: pass}, false},
		{"*struct holding a passphrase", &holder{pass: pass}, false},
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
}

func TestPassphraseMethods(t *testing.T) {
	src := []byte(secretText)
	p := NewPassphrase(src)
	clear(src) // NewPassphrase must have copied
	if got := p.Bytes(); string(got) != secretText {
		t.Fatalf("Bytes() = %q after wiping the source", got)
	}
	if !p.Equal(NewPassphrase([]byte(secretText))) || p.Equal(NewPassphrase([]byte("other"))) {
		t.Fatal("Equal gives the wrong answer")
	}
	cp := p // copies share the buffer
	buf := *p.s.b
	p.Wipe()
	if !p.IsZero() || !cp.IsZero() {
		t.Fatal("Wipe did not empty the passphrase and its copy")
	}
	if !bytes.Equal(buf, make([]byte, len(secretText))) {
		t.Fatalf("the buffer still holds %q after Wipe", buf)
	}
	if !NewPassphrase(nil).IsZero() {
		t.Fatal("empty passphrase is not zero")
	}
}

func TestLoadPassphrase(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		env     string // MPC_PASSPHRASE ("" = unset)
		file    string
		want    string
		wantErr error
	}{
		{name: "env", env: "from env", want: "from env"},
		{name: "env keeps spaces and newline", env: " pw \n", want: " pw \n"},
		{name: "env unset", wantErr: ErrNoPassphrase},
		{name: "file", file: write("plain", "from file"), want: "from file"},
		{name: "file trailing newline", file: write("nl", "pw\n"), want: "pw"},
		{name: "file trailing CRLFs", file: write("crlf", "pw\r\n\r\n"), want: "pw"},
		{name: "file inner newline kept", file: write("inner", "a\nb\n"), want: "a\nb"},
		{name: "file wins over env", env: "from env", file: write("wins", "from file\n"), want: "from file"},
		{name: "empty file", file: write("empty", "\n"), wantErr: ErrNoPassphrase},
		{name: "missing file", env: "from env", file: filepath.Join(dir, "missing"), wantErr: fs.ErrNotExist},
		{name: "missing file is no passphrase", file: filepath.Join(dir, "missing"), wantErr: ErrNoPassphrase},
		{name: "file too large", file: write("big", strings.Repeat("x", maxPassphraseFile+1)), wantErr: errAny},
		{name: "directory", file: dir, wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv(PassphraseEnv, tt.env)
			} else {
				t.Setenv(PassphraseEnv, "")
				os.Unsetenv(PassphraseEnv)
			}
			p, err := LoadPassphrase(tt.file)
			if tt.wantErr != nil {
				if err == nil || (tt.wantErr != errAny && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("LoadPassphrase(%q) error = %v, want %v", tt.file, err, tt.wantErr)
				}
				if tt.file != "" && !strings.Contains(err.Error(), tt.file) {
					t.Errorf("error %q does not name the file", err)
				}
				if strings.Contains(err.Error(), "xxxx") || strings.Contains(err.Error(), "from env") {
					t.Errorf("error %q contains passphrase material", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadPassphrase(%q): %v", tt.file, err)
			}
			if got := string(p.Bytes()); got != tt.want {
				t.Fatalf("LoadPassphrase(%q) = %q, want %q", tt.file, got, tt.want)
			}
		})
	}
}

// errAny marks a table case that must fail without a specific sentinel.
var errAny = errors.New("any error")
