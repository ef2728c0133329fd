// Package identity holds a device's long-term keys (Ed25519 for signing,
// X25519 for end-to-end encryption) and the transcripts they sign.
package identity

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"math/big"
)

// ErrInvalid reports malformed key material.
var ErrInvalid = errors.New("identity: invalid key material")

// Identity is a device's private identity. It prints as REDACTED.
type Identity struct {
	sign ed25519.PrivateKey
	enc  *ecdh.PrivateKey
}

// New makes a fresh identity.
func New() (*Identity, error) {
	_, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	ek, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &Identity{sign: sk, enc: ek}, nil
}

// Marshal encodes the identity for the encrypted keystore: Ed25519 seed || X25519 key.
func (id *Identity) Marshal() []byte {
	out := make([]byte, 0, 64)
	out = append(out, id.sign.Seed()...)
	return append(out, id.enc.Bytes()...)
}

// Unmarshal decodes Marshal's output.
func Unmarshal(b []byte) (*Identity, error) {
	if len(b) != 64 {
		return nil, ErrInvalid
	}
	ek, err := ecdh.X25519().NewPrivateKey(b[32:])
	if err != nil {
		return nil, ErrInvalid
	}
	return &Identity{sign: ed25519.NewKeyFromSeed(b[:32]), enc: ek}, nil
}

// PublicKey is the Ed25519 identity public key.
func (id *Identity) PublicKey() ed25519.PublicKey {
	return id.sign.Public().(ed25519.PublicKey)
}

// EncryptionPublicKey is the X25519 public key.
func (id *Identity) EncryptionPublicKey() []byte { return id.enc.PublicKey().Bytes() }

// Sign signs msg with the identity key.
func (id *Identity) Sign(msg []byte) []byte { return ed25519.Sign(id.sign, msg) }

func (id *Identity) String() string       { return "identity.Identity(REDACTED)" }
func (id *Identity) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// Verify checks an identity signature; it never panics on bad input.
func Verify(pub, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, msg, sig)
}

// DeviceID is the stable device id derived from the identity public key.
func DeviceID(pub []byte) string {
	h := sha256.Sum256(append([]byte("mpcsign/v1/device-id\x00"), pub...))
	return hex.EncodeToString(h[:16])
}

// PartyKey derives a device's tss-lib party key for one share epoch of a
// key from its identity public key: a non-zero scalar mod the curve order q,
// so that no party chooses its key freely and ids cannot collide with 0.
// Each epoch gets its own key: a device in both the old and the new committee
// of a reshare runs two tss-lib parties, and v2.0.2's resharing needs their
// ids to differ.
//
// Epoch 0 (keygen) keeps the derivation of the first release, which had no
// epochs, so that shares made by it still match their key data.
func PartyKey(pub []byte, epoch uint64, q *big.Int) *big.Int {
	var e []byte
	if epoch > 0 {
		e = binary.BigEndian.AppendUint64(nil, epoch)
	}
	for ctr := uint32(0); ; ctr++ {
		var c [4]byte
		binary.BigEndian.PutUint32(c[:], ctr)
		h := sha256.New()
		h.Write([]byte("mpcsign/v1/party-key\x00"))
		h.Write(pub)
		h.Write(e)
		h.Write(c[:])
		k := new(big.Int).SetBytes(h.Sum(nil))
		k.Mod(k, q)
		if k.Sign() != 0 {
			return k
		}
	}
}

// EnrollTranscript is what a device signs to prove possession of its keys at enrolment.
func EnrollTranscript(secretHash, identityPub, encryptionPub []byte) []byte {
	return transcript("enroll", secretHash, identityPub, encryptionPub)
}

// ConnectTranscript is what a device signs to answer a connect challenge. It
// binds the fresh nonce, the device and the certificate the device pinned, so
// an answer is useless on another stream or towards another server.
func ConnectTranscript(nonce []byte, deviceID, fingerprint string) []byte {
	return transcript("connect", nonce, []byte(deviceID), []byte(fingerprint))
}

func transcript(label string, parts ...[]byte) []byte {
	out := []byte("mpcsign/v1/" + label)
	for _, p := range parts {
		var l [4]byte
		binary.BigEndian.PutUint32(l[:], uint32(len(p)))
		out = append(out, l[:]...)
		out = append(out, p...)
	}
	return out
}

// KeyID is the id of a threshold key, derived from its compressed public key.
func KeyID(publicKey []byte) string {
	h := sha256.Sum256(append([]byte("mpcsign/v1/key-id\x00"), publicKey...))
	return "k" + hex.EncodeToString(h[:10])
}
