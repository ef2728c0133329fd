package resharing

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Curves, as Attestation.Curve spells them.
const (
	CurveSecp256k1 = "secp256k1"
	CurveEd25519   = "ed25519"
)

// Limits.
const (
	// AttestationVersion is the only Attestation.Version accepted.
	AttestationVersion = 1
	// MaxAttestationSize bounds an encoded attestation body.
	MaxAttestationSize = 16 << 10
	// MaxCommittee bounds the new committee. A certificate repeats the
	// committee in every attestation, so its size grows with the square of
	// the committee; 64 members with 32-character device ids fit
	// MaxCertificateSize (a test checks it).
	MaxCommittee = 64
	// MaxKeyIDLen and MaxDeviceIDLen bound ids; both use the characters
	// [A-Za-z0-9._:-] only.
	MaxKeyIDLen    = 128
	MaxDeviceIDLen = 64
	// ChainCodeLen is the length of a BIP32 chain code.
	ChainCodeLen = 32
)

const attestationLabel = "mpcsign/v1/reshare-attestation\x00"

// Attestation is a new holder's signed statement that it durably stored its
// pending share of epoch Epoch of key KeyID.
type Attestation struct {
	Version         int      `json:"v"`                    // 1
	KeyID           string   `json:"key_id"`               // 1..128 of [A-Za-z0-9._:-]
	Curve           string   `json:"curve"`                // "secp256k1" or "ed25519"
	Epoch           uint64   `json:"epoch"`                // the new epoch (>= 1)
	PublicKey       []byte   `json:"public_key"`           // 33-byte compressed secp256k1 or 32-byte Ed25519
	ChainCode       []byte   `json:"chain_code,omitempty"` // secp256k1 BIP32 chain code (32 bytes) if the key has one
	Threshold       int      `json:"threshold"`            // the new tss-lib threshold t
	Committee       []string `json:"committee"`            // device ids of every new holder, sorted ascending, distinct, len > Threshold
	Holder          string   `json:"holder"`               // the attesting device's id (in Committee)
	ShareCommitment []byte   `json:"share_commitment"`     // the holder's public share point; informational, length-checked only
}

// SignedAttestation is an encoded Attestation and its holder's signature.
type SignedAttestation struct {
	Body      []byte // canonical JSON of Attestation (EncodeAttestation)
	Signature []byte // Ed25519 by the holder's identity key over AttestationMessage(Body)
}

// EncodeAttestation checks a and returns its canonical encoding: json.Marshal
// of the struct. A field that breaks a rule is an error wrapping ErrMalformed.
func EncodeAttestation(a Attestation) ([]byte, error) {
	if err := a.validate(); err != nil {
		return nil, err
	}
	// The field rules bound the encoding well below MaxAttestationSize
	// (MaxCommittee ids of MaxDeviceIDLen bytes: under 6 KiB).
	b, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("%w: attestation: %v", ErrMalformed, err)
	}
	return b, nil
}

// DecodeAttestation decodes a body made by EncodeAttestation and nothing
// else: at most MaxAttestationSize bytes, one JSON object, no unknown
// fields, and bytes equal to the re-encoding of the decoded value (which
// refuses other spellings of the same content: spaces, key order, duplicate
// or differently cased keys, escapes, base64 variants, trailing bytes). Then
// Version must be 1 and every field must keep its rule. Errors wrap
// ErrMalformed.
func DecodeAttestation(raw []byte) (Attestation, error) {
	var a Attestation
	if err := decodeCanonical(raw, MaxAttestationSize, "attestation", &a); err != nil {
		return Attestation{}, err
	}
	if err := a.validate(); err != nil {
		return Attestation{}, err
	}
	return a, nil
}

// AttestationMessage is what a holder signs for an attestation body:
// "mpcsign/v1/reshare-attestation\x00" || SHA-256(body).
func AttestationMessage(body []byte) []byte {
	h := sha256.Sum256(body)
	msg := make([]byte, 0, len(attestationLabel)+len(h))
	msg = append(msg, attestationLabel...)
	return append(msg, h[:]...)
}

// Attest encodes a and signs it with sign, the holder's identity key (an
// Ed25519 signer: 64-byte signatures). The caller writes its pending share
// durably before it calls Attest.
func Attest(a Attestation, sign func(msg []byte) []byte) (SignedAttestation, error) {
	if sign == nil {
		return SignedAttestation{}, fmt.Errorf("%w: no signer", ErrMalformed)
	}
	body, err := EncodeAttestation(a)
	if err != nil {
		return SignedAttestation{}, err
	}
	sig := sign(AttestationMessage(body))
	if len(sig) != signatureLen {
		return SignedAttestation{}, fmt.Errorf("%w: signer returned %d bytes, want a %d-byte Ed25519 signature", ErrMalformed, len(sig), signatureLen)
	}
	return SignedAttestation{Body: body, Signature: bytes.Clone(sig)}, nil
}

// signatureLen is the length of an Ed25519 signature and of a secp256k1 r||s.
const signatureLen = 64

// decodeCanonical decodes raw (at most limit bytes) into v strictly and
// requires raw to equal json.Marshal(v).
func decodeCanonical(raw []byte, limit int, what string, v any) error {
	if len(raw) > limit {
		return fmt.Errorf("%w: %s is %d bytes, more than %d", ErrMalformed, what, len(raw), limit)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %s: data after the JSON value", ErrMalformed, what)
	}
	again, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	if !bytes.Equal(again, raw) {
		return fmt.Errorf("%w: %s is not in canonical form", ErrMalformed, what)
	}
	return nil
}

// validate checks every field rule of a.
func (a *Attestation) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: attestation: "+format, append([]any{ErrMalformed}, args...)...)
	}
	if a.Version != AttestationVersion {
		return bad("version %d, want %d", a.Version, AttestationVersion)
	}
	if err := checkKeyID(a.KeyID); err != nil {
		return err
	}
	pointLen, err := curvePointLen(a.Curve)
	if err != nil {
		return err
	}
	if len(a.PublicKey) != pointLen {
		return bad("%s public key is %d bytes, want %d", a.Curve, len(a.PublicKey), pointLen)
	}
	switch {
	case len(a.ChainCode) == 0:
	case a.Curve != CurveSecp256k1:
		return bad("%s key with a chain code (BIP32 is secp256k1 only)", a.Curve)
	case len(a.ChainCode) != ChainCodeLen:
		return bad("chain code is %d bytes, want 0 or %d", len(a.ChainCode), ChainCodeLen)
	}
	if a.Threshold < 0 {
		return bad("threshold %d is negative", a.Threshold)
	}
	if n := len(a.Committee); n <= a.Threshold || n > MaxCommittee {
		return bad("committee of %d for threshold %d (want more than the threshold, at most %d)", n, a.Threshold, MaxCommittee)
	}
	for i, id := range a.Committee {
		if err := checkDeviceID(id); err != nil {
			return fmt.Errorf("%w (committee member %d)", err, i)
		}
		if i > 0 && a.Committee[i-1] >= id {
			return bad("committee is not sorted ascending and distinct at member %d", i)
		}
	}
	if _, ok := slices.BinarySearch(a.Committee, a.Holder); !ok {
		return bad("holder %q is not in the committee", clip(a.Holder))
	}
	if len(a.ShareCommitment) != pointLen {
		return bad("share commitment is %d bytes, want %d for %s", len(a.ShareCommitment), pointLen, a.Curve)
	}
	return nil
}

// curvePointLen is the length of a public key (and of a share commitment)
// on curve.
func curvePointLen(curve string) (int, error) {
	switch curve {
	case CurveSecp256k1:
		return 33, nil
	case CurveEd25519:
		return 32, nil
	}
	return 0, fmt.Errorf("%w: unknown curve %q (want %q or %q)", ErrMalformed, clip(curve), CurveSecp256k1, CurveEd25519)
}

func checkKeyID(id string) error {
	if !validID(id, MaxKeyIDLen) {
		return fmt.Errorf("%w: key id %q: want 1..%d of [A-Za-z0-9._:-]", ErrMalformed, clip(id), MaxKeyIDLen)
	}
	return nil
}

func checkDeviceID(id string) error {
	if !validID(id, MaxDeviceIDLen) {
		return fmt.Errorf("%w: device id %q: want 1..%d of [A-Za-z0-9._:-]", ErrMalformed, clip(id), MaxDeviceIDLen)
	}
	return nil
}

func validID(s string, limit int) bool {
	if len(s) == 0 || len(s) > limit {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == ':' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// clip shortens untrusted text repeated in an error message.
func clip(s string) string {
	const limit = 70
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}
