package seal

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"

	"github.com/mpcsign/mpcsign/internal/readlimit"
)

const redacted = "REDACTED"

// PassphraseEnv is the environment variable LoadPassphrase reads when no file
// is given.
const PassphraseEnv = "MPC_PASSPHRASE"

// maxPassphraseFile bounds how much of a passphrase file is read, so that a
// wrong path (a device, a huge file) fails fast instead of filling memory.
const maxPassphraseFile = 64 << 10

// secretBytes holds secret bytes behind two pointers. fmt cannot call the
// methods of an unexported field, so it prints such a field by reflection; it
// dereferences one pointer to a struct (at the top level, and for a bad verb
// such as %s on a pointer) but prints any deeper pointer as an address. Two
// levels keep the bytes out of every fmt output, even of a struct that holds
// a Passphrase in an unexported field.
type secretBytes struct{ b *[]byte }

// Passphrase is the operator's passphrase. Its bytes are unexported and it
// prints as REDACTED under fmt (every verb) and log/slog. Copies of a
// Passphrase share the same buffer: Wipe on one clears them all.
type Passphrase struct{ s *secretBytes }

// NewPassphrase returns a Passphrase holding a copy of b. The caller may wipe
// b afterwards.
func NewPassphrase(b []byte) Passphrase {
	if len(b) == 0 {
		return Passphrase{}
	}
	c := bytes.Clone(b)
	return Passphrase{s: &secretBytes{b: &c}}
}

// LoadPassphrase reads the passphrase from file when file is not empty, and
// from the environment variable MPC_PASSPHRASE otherwise. Trailing newlines
// ("\n" or "\r\n") at the end of a file are trimmed. An empty passphrase, an
// unset variable or a missing file give an error that wraps ErrNoPassphrase.
// Errors name the file, never its content.
func LoadPassphrase(file string) (Passphrase, error) {
	if file == "" {
		v := os.Getenv(PassphraseEnv)
		if v == "" {
			return Passphrase{}, ErrNoPassphrase
		}
		return NewPassphrase([]byte(v)), nil
	}
	buf, err := readlimit.File(file, maxPassphraseFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Passphrase{}, fmt.Errorf("%w: %w", ErrNoPassphrase, err)
		}
		return Passphrase{}, fmt.Errorf("keystore: passphrase file: %w", err)
	}
	defer wipe(buf)
	trimmed := bytes.TrimRight(buf, "\r\n")
	if len(trimmed) == 0 {
		return Passphrase{}, fmt.Errorf("%w: passphrase file %q is empty", ErrNoPassphrase, file)
	}
	return NewPassphrase(trimmed), nil
}

// bytes returns the passphrase bytes without copying; for this package only
// (DeriveKEK, Equal): no other package sees them without a copy.
func (p Passphrase) bytes() []byte {
	if p.s == nil || p.s.b == nil {
		return nil
	}
	return *p.s.b
}

// Bytes returns a copy of the passphrase. The caller should wipe it when done.
func (p Passphrase) Bytes() []byte { return bytes.Clone(p.bytes()) }

// Len returns the length of the passphrase in bytes.
func (p Passphrase) Len() int { return len(p.bytes()) }

// IsZero reports whether the passphrase is empty (or has been wiped).
func (p Passphrase) IsZero() bool { return p.Len() == 0 }

// Equal reports whether p and o hold the same bytes, in constant time for
// passphrases of equal length.
func (p Passphrase) Equal(o Passphrase) bool {
	return subtle.ConstantTimeCompare(p.bytes(), o.bytes()) == 1
}

// Wipe zeroes the passphrase bytes (shared by every copy of p) and empties p.
func (p *Passphrase) Wipe() {
	if p.s != nil && p.s.b != nil {
		wipe(*p.s.b)
		*p.s.b = nil
	}
	p.s = nil
}

// String implements fmt.Stringer.
func (Passphrase) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (Passphrase) GoString() string { return "seal.Passphrase(" + redacted + ")" }

// Format implements fmt.Formatter so that no verb (%x, %d, %#v, ...) can
// reach the bytes.
func (Passphrase) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue implements slog.LogValuer.
func (Passphrase) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText refuses to encode a passphrase, so that an exported Passphrase
// field in a JSON or YAML config cannot be written out by accident.
func (Passphrase) MarshalText() ([]byte, error) { return nil, errSecretMarshal }

var errSecretMarshal = errors.New("keystore: refusing to marshal a secret")

// wipe zeroes b.
func wipe(b []byte) { clear(b) }
