package keyfile

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kinds of key holders.
const (
	KindOperator  = "operator"
	KindRequester = "requester"
)

// AlgorithmEd25519 is the only algorithm this version writes and reads.
const AlgorithmEd25519 = "ed25519"

// MaxNameLen is the longest name, in bytes.
const MaxNameLen = 64

const redacted = "REDACTED"

var errSecretMarshal = errors.New("keyfile: refusing to marshal a private key")

// secretKey holds the Ed25519 private key (seed || public key) behind a
// second pointer, so that fmt printing a struct that holds a Key by
// reflection reaches only an address (see seal.Passphrase).
type secretKey struct{ b *[ed25519.PrivateKeySize]byte }

// Key is a named signing key. Its private half is unexported and prints as
// REDACTED. Make one with Generate or Read.
type Key struct {
	kind string
	name string
	pub  ed25519.PublicKey
	sk   *secretKey
}

// Generate makes a fresh Ed25519 key for a holder of the given kind
// (KindOperator or KindRequester) and name.
func Generate(kind, name string) (*Key, error) {
	if err := checkKind(kind); err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	var seed [ed25519.SeedSize]byte
	defer clear(seed[:])
	if _, err := io.ReadFull(rand.Reader, seed[:]); err != nil {
		return nil, fmt.Errorf("keyfile: generate: %w", err)
	}
	return newKey(kind, name, seed[:]), nil
}

// newKey builds a Key from a 32-byte seed; the caller wipes seed.
func newKey(kind, name string, seed []byte) *Key {
	priv := ed25519.NewKeyFromSeed(seed)
	sk := &secretKey{b: new([ed25519.PrivateKeySize]byte)}
	copy(sk.b[:], priv)
	clear(priv)
	pub := bytes.Clone(sk.b[ed25519.SeedSize:])
	return &Key{kind: kind, name: name, pub: pub, sk: sk}
}

// seed returns a copy of the 32-byte seed; the caller wipes it.
func (k *Key) seed() []byte { return bytes.Clone(k.sk.b[:ed25519.SeedSize]) }

func (k *Key) valid() bool {
	return k != nil && k.sk != nil && k.sk.b != nil && len(k.pub) == ed25519.PublicKeySize
}

// Kind is KindOperator or KindRequester.
func (k *Key) Kind() string { return k.kind }

// Name is the holder's name.
func (k *Key) Name() string { return k.name }

// PublicKey returns a copy of the Ed25519 public key.
func (k *Key) PublicKey() ed25519.PublicKey { return bytes.Clone(k.pub) }

// Sign signs msg with Ed25519 (pure, no prehash).
func (k *Key) Sign(msg []byte) []byte {
	return ed25519.Sign(ed25519.PrivateKey(k.sk.b[:]), msg)
}

// CryptoSigner is the key as a crypto.Signer (Ed25519: pass crypto.Hash(0)
// as the options), for code that takes any signer, such as a KMS's.
func (k *Key) CryptoSigner() crypto.Signer { return cryptoSigner{k} }

type cryptoSigner struct{ k *Key }

func (c cryptoSigner) Public() crypto.PublicKey { return c.k.PublicKey() }

func (c cryptoSigner) Sign(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts != nil && opts.HashFunc() != crypto.Hash(0) {
		return nil, errors.New("keyfile: an Ed25519 key signs the message itself (crypto.Hash(0)), not a prehash")
	}
	return c.k.Sign(msg), nil
}

// String implements fmt.Stringer. It shows the kind and name, never the
// private key.
func (k Key) String() string {
	return "keyfile.Key(" + k.kind + " " + strconv.Quote(k.name) + " " + redacted + ")"
}

// GoString implements fmt.GoStringer.
func (k Key) GoString() string { return k.String() }

// Format implements fmt.Formatter so that no verb (%x, %d, %#v, ...) can
// reach the private key.
func (k Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue implements slog.LogValuer.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kind", k.kind), slog.String("name", k.name), slog.String("private_key", redacted))
}

// MarshalJSON refuses: a private key is written only by Write, sealed.
func (Key) MarshalJSON() ([]byte, error) { return nil, errSecretMarshal }

// MarshalText refuses, like MarshalJSON.
func (Key) MarshalText() ([]byte, error) { return nil, errSecretMarshal }

// Fingerprint is a short form of a public key for people to compare, e.g.
// read out over the phone before the key goes into the roster: the first 8
// bytes of SHA-256("mpcsign/v1/key-fingerprint\x00" || pub) as four groups
// of four hex digits, "1a2b-3c4d-5e6f-7a8b".
func Fingerprint(pub []byte) string {
	h := sha256.New()
	h.Write([]byte("mpcsign/v1/key-fingerprint\x00"))
	h.Write(pub)
	s := hex.EncodeToString(h.Sum(nil)[:8])
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

func checkKind(kind string) error {
	if kind != KindOperator && kind != KindRequester {
		return fmt.Errorf("kind %q, want %q or %q", kind, KindOperator, KindRequester)
	}
	return nil
}

// checkName checks a holder's name: 1 to MaxNameLen bytes of printable
// UTF-8, no leading or trailing space.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case len(name) > MaxNameLen:
		return fmt.Errorf("name is %d bytes, at most %d", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return errors.New("name is not valid UTF-8")
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("name %q has leading or trailing space", name)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("name %q has a character that is not printable", name)
		}
	}
	return nil
}
