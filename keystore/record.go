package keystore

import (
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// Limits on user records.
const (
	// MaxKeySize is the longest record key, in bytes.
	MaxKeySize = 512
	// MaxValueSize is the largest value Put accepts, in bytes.
	MaxValueSize = 16 << 20
)

// Record format, version 1:
//
//	version (1 byte) || nonce (24 bytes) || XChaCha20-Poly1305 ciphertext+tag
//
// with associated data recordDomain || version || key.
const (
	recordVersion1 = 1
	recordOverhead = 1 + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead

	recordDomain = "mpcsign/keystore/v1/record\x00"
)

// validateKey checks a user record key. The error names the key only by its
// length and first byte: keys are identifiers, but an invalid one may be
// anything the caller passed.
func validateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeySize:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidKey, len(key), MaxKeySize)
	case key[0] == 0x00:
		return fmt.Errorf("%w: a leading 0x00 byte is reserved for internal records", ErrInvalidKey)
	case strings.HasPrefix(key, "!badger!"):
		return fmt.Errorf("%w: the \"!badger!\" prefix is reserved", ErrInvalidKey)
	}
	return nil
}

func recordAD(version byte, key string) []byte {
	ad := make([]byte, 0, len(recordDomain)+1+len(key))
	ad = append(ad, recordDomain...)
	ad = append(ad, version)
	return append(ad, key...)
}

// sealRecord encrypts value for the record key under aead.
func sealRecord(aead cipher.AEAD, key string, value []byte) []byte {
	out := make([]byte, 1+chacha20poly1305.NonceSizeX, recordOverhead+len(value))
	out[0] = recordVersion1
	nonce := out[1:]
	rand.Read(nonce)
	return aead.Seal(out, nonce, value, recordAD(recordVersion1, key))
}

// openRecord decrypts a stored record for key. Any malformed, truncated,
// altered or moved record gives an error wrapping ErrTampered; the error never
// contains the record's bytes. The returned plaintext is never nil.
func openRecord(aead cipher.AEAD, key string, rec []byte) ([]byte, error) {
	if len(rec) < 1 {
		return nil, fmt.Errorf("%w: %q: empty record", ErrTampered, key)
	}
	if rec[0] != recordVersion1 {
		return nil, fmt.Errorf("%w: %q: unknown record version %d", ErrTampered, key, rec[0])
	}
	if len(rec) < recordOverhead {
		return nil, fmt.Errorf("%w: %q: record truncated (%d bytes)", ErrTampered, key, len(rec))
	}
	nonce := rec[1 : 1+chacha20poly1305.NonceSizeX]
	ct := rec[1+chacha20poly1305.NonceSizeX:]
	pt, err := aead.Open(make([]byte, 0, len(ct)-chacha20poly1305.Overhead), nonce, ct, recordAD(rec[0], key))
	if err != nil {
		return nil, fmt.Errorf("%w: %q", ErrTampered, key)
	}
	return pt, nil
}
