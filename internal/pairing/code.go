// Package pairing encodes the one-time code an operator gives to a device. The
// code carries a random secret (the coordinator stores only its hash), the
// coordinator's address (or, with several coordinator replicas, every
// replica's, comma-separated) and its certificate fingerprint, so that the device
// reaches and pins the right server, and - once the institution has a roster
// - the roster's genesis hash, which the device pins: from then on it
// believes only roster entries that chain back to it.
//
// Encoding: "mpc1-" then unpadded base64url of
//
//	version 1: 0x01 || id (8) || secret (16) || fingerprint (32) || address
//	version 2: 0x02 || id (8) || secret (16) || fingerprint (32) || genesis (32) || address
//	version 3: 0x03 || as version 2
//
// Version 1 codes (no roster) are still accepted. A version 3 code was made
// by the operator's own mpcctl, which gave the coordinator only AuthKey of
// the secret: the device proves it holds the code with EnrollMAC and never
// sends the secret, so the coordinator - which may be hostile - cannot
// compute the short authentication string (SAS) of keys it would swap in.
// The operator's mpcctl computes the SAS itself from the secret and the keys
// it is about to sign onto the roster.
package pairing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

const (
	prefix     = "mpc1-"
	version    = 1
	version2   = 2
	version3   = 3
	IDSize     = 8
	SecretSize = 16
	maxAddr    = 255
)

// ErrMalformed reports a code that cannot be decoded.
var ErrMalformed = errors.New("pairing: malformed pairing code (copy it again from 'mpcctl devices pair')")

// Code is a decoded pairing code.
type Code struct {
	// ID names the code in the coordinator's store (public); Secret proves
	// its holder got it from the operator.
	ID          [IDSize]byte
	Secret      [SecretSize]byte
	Fingerprint [sha256.Size]byte
	// Genesis is the roster's genesis hash; zero when the coordinator has
	// no roster yet (a version 1 code).
	Genesis [sha256.Size]byte
	Address string
	// OperatorMade: the coordinator holds only AuthKey(Secret) (version 3).
	OperatorMade bool
}

// HasGenesis reports whether the code pins a roster.
func (c Code) HasGenesis() bool { return c.Genesis != [sha256.Size]byte{} }

// String encodes the code.
func (c Code) String() string {
	b := make([]byte, 0, 1+IDSize+SecretSize+2*sha256.Size+len(c.Address))
	v := byte(version)
	switch {
	case c.OperatorMade:
		v = version3
	case c.HasGenesis():
		v = version2
	}
	b = append(b, v)
	b = append(b, c.ID[:]...)
	b = append(b, c.Secret[:]...)
	b = append(b, c.Fingerprint[:]...)
	if v != version {
		b = append(b, c.Genesis[:]...)
	}
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
	if err != nil || len(b) < 1+IDSize+SecretSize+sha256.Size+1 || b[0] < version || b[0] > version3 {
		return c, ErrMalformed
	}
	v := b[0]
	if v != version && len(b) < 1+IDSize+SecretSize+2*sha256.Size+1 {
		return c, ErrMalformed
	}
	c.OperatorMade = v == version3
	b = b[1:]
	copy(c.ID[:], b[:IDSize])
	b = b[IDSize:]
	copy(c.Secret[:], b[:SecretSize])
	b = b[SecretSize:]
	copy(c.Fingerprint[:], b[:sha256.Size])
	b = b[sha256.Size:]
	if v != version {
		copy(c.Genesis[:], b[:sha256.Size])
		b = b[sha256.Size:]
		if !c.HasGenesis() {
			return c, ErrMalformed // a version 2 or 3 code always pins a roster
		}
	}
	addr := string(b)
	if len(addr) > maxAddr || strings.ContainsAny(addr, " \t\r\n/") {
		return c, ErrMalformed
	}
	c.Address = addr
	return c, nil
}

// SAS is the short authentication string of an enrolment: both the device
// and the operator's terminal show it, and the operator approves the device
// only when they match. It binds the pairing secret to the keys the device
// registered, so a device that enrolled with a stolen code shows another one.
func SAS(secret, identityPub, encryptionPub []byte) string {
	h := sha256.New()
	h.Write([]byte("mpcsign/v1/pairing-sas\x00"))
	h.Write(secret)
	h.Write(identityPub)
	h.Write(encryptionPub)
	sum := h.Sum(nil)
	n := (uint32(sum[0])<<24 | uint32(sum[1])<<16 | uint32(sum[2])<<8 | uint32(sum[3])) % 1000000
	return fmt.Sprintf("%03d-%03d", n/1000, n%1000)
}

// AuthKey is what the coordinator keeps of an operator-made code: enough
// to check a device's EnrollMAC, not enough to compute a SAS.
func AuthKey(secret []byte) []byte {
	h := sha256.Sum256(append([]byte("mpcsign/v1/pairing-auth-key\x00"), secret...))
	return h[:]
}

// EnrollMAC is a device's proof that it holds an operator-made code, bound
// to the keys it enrols.
func EnrollMAC(authKey, identityPub, encryptionPub []byte) []byte {
	m := hmac.New(sha256.New, authKey)
	m.Write([]byte("mpcsign/v1/pairing-enroll\x00"))
	m.Write(identityPub)
	m.Write(encryptionPub)
	return m.Sum(nil)
}
