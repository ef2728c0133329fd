package keystore

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/mpcsign/mpcsign/keystore/seal"
)

const redacted = "REDACTED"

// PassphraseEnv is the environment variable LoadPassphrase reads when no file
// is given. It is seal.PassphraseEnv.
const PassphraseEnv = seal.PassphraseEnv

// Passphrase is the operator's passphrase: an alias of seal.Passphrase, which
// prints as REDACTED under fmt (every verb) and log/slog.
type Passphrase = seal.Passphrase

// NewPassphrase returns a Passphrase holding a copy of b: see
// seal.NewPassphrase.
func NewPassphrase(b []byte) Passphrase { return seal.NewPassphrase(b) }

// LoadPassphrase reads the passphrase from file, or from MPC_PASSPHRASE when
// file is empty: see seal.LoadPassphrase.
func LoadPassphrase(file string) (Passphrase, error) { return seal.LoadPassphrase(file) }

// dataKeySize is the size of the data key (XChaCha20-Poly1305 key).
const dataKeySize = 32

// dataKey is the store's data key. Like Passphrase it prints REDACTED and
// keeps its bytes two pointers deep (the Store holds a *dataKey).
type dataKey struct{ k *[dataKeySize]byte }

func newDataKey() *dataKey { return &dataKey{k: new([dataKeySize]byte)} }

// bytes returns the key without copying.
func (k *dataKey) bytes() []byte { return k.k[:] }

func (k *dataKey) wipe() {
	if k != nil && k.k != nil {
		clear(k.k[:])
	}
}

func (dataKey) String() string               { return redacted }
func (dataKey) GoString() string             { return "keystore.dataKey(" + redacted + ")" }
func (dataKey) Format(f fmt.State, _ rune)   { _, _ = io.WriteString(f, redacted) }
func (dataKey) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (dataKey) MarshalText() ([]byte, error) { return nil, errSecretMarshal }

var errSecretMarshal = errors.New("keystore: refusing to marshal a secret")

// wipe zeroes b.
func wipe(b []byte) { clear(b) }
