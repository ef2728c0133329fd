// Package pairing encodes the one-time code an operator gives to a device. The
// code carries a random secret (the coordinator stores only its hash), the
// coordinator's address and its certificate fingerprint, so that the device
// reaches and pins the right server.
package pairing

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

const (
	prefix     = "mpc1-"
	version    = 1
	SecretSize = 16
	maxAddr    = 255
)

// ErrMalformed reports a code that cannot be decoded.
var ErrMalformed = errors.New("pairing: malformed pairing code (copy it again from 'mpcctl devices pair')")

// Code is a decoded pairing code.
type Code struct {
	Secret      [SecretSize]byte
	Fingerprint [sha256.Size]byte
	Address     string
}

// String encodes the code.
func (c Code) String() string {
	b := make([]byte, 0, 1+SecretSize+sha256.Size+len(c.Address))
	b = append(b, version)
	b = append(b, c.Secret[:]...)
	b = append(b, c.Fingerprint[:]...)
	b = append(b, c.Address...)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// FingerprintHex is the pinned certificate fingerprint as hex.
func (c Code) FingerprintHex() string { return hex.EncodeToString(c.Fingerprint[:]) }

// SecretHash is what the coordinator stores.
func SecretHash(secret []byte) []byte {
	h := sha256.Sum256(append([]byte("mpcsign/v1/pairing-secret\x00"), secret...))
	return h[:]
}

// Parse decodes a code. It never panics on any input.
func Parse(s string) (Code, error) {
	var c Code
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, prefix) || len(s) > 1024 {
		return c, ErrMalformed
	}
	b, err := base64.RawURLEncoding.DecodeString(s[len(prefix):])
	if err != nil || len(b) < 1+SecretSize+sha256.Size+1 || b[0] != version {
		return c, ErrMalformed
	}
	b = b[1:]
	copy(c.Secret[:], b[:SecretSize])
	b = b[SecretSize:]
	copy(c.Fingerprint[:], b[:sha256.Size])
	addr := string(b[sha256.Size:])
	if len(addr) > maxAddr || strings.ContainsAny(addr, " \t\r\n/") {
		return c, ErrMalformed
	}
	c.Address = addr
	return c, nil
}
